package ingest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/loglake/loglake/storage"
)

// chunkBytes is the amount of decompressed input per chunk: large enough
// to amortize per-record overhead, small enough to spread one file over
// all workers and keep memory flat.
const chunkBytes = 2 << 20

// chunk is a run of consecutive lines (records, for CSV) of one file.
type chunk struct {
	file *fileCtx
	// data holds the lines, each followed by one separator byte (a
	// newline, as read): the next line starts after it.
	data  []byte
	ends  []int   // end offset in data of each line (exclusive, no '\n')
	nums  []int64 // 1-based line number of each line
	notes []note  // lines that are bad before decoding
	csv   *csvHeader
	// csvBad is set when the file's CSV header could not be parsed.
	csvBad bool
}

// note marks line idx of a chunk as bad: cut at the size limit (size is
// its real length) or ending in a read error.
type note struct {
	idx  int
	err  string
	size int64
}

// freeChunks keeps chunks for reuse. Not a sync.Pool: that one is emptied
// by every garbage collection, and an ingest collects often enough that
// most chunks were allocated (and their 2 MiB cleared) afresh. A few
// pipelines' worth of chunks in flight is what reuse needs.
var freeChunks = make(chan *chunk, 16)

func getChunk(f *fileCtx) *chunk {
	var c *chunk
	select {
	case c = <-freeChunks:
	default:
		c = &chunk{data: make([]byte, 0, chunkBytes+64<<10)}
	}
	c.file = f
	c.data, c.ends, c.nums, c.notes = c.data[:0], c.ends[:0], c.nums[:0], c.notes[:0]
	c.csv, c.csvBad = nil, false
	return c
}

func putChunk(c *chunk) {
	if cap(c.data) > 4*chunkBytes {
		return // an over-long line grew it: let it go
	}
	c.file = nil
	select {
	case freeChunks <- c:
	default:
	}
}

func (c *chunk) line(i int) []byte {
	start := 0
	if i > 0 {
		start = c.ends[i-1] + 1
	}
	return c.data[start:c.ends[i]]
}

// storageErr marks an error that came from the landing storage rather than
// from decompression.
type storageErr struct{ err error }

func (e *storageErr) Error() string { return e.err.Error() }
func (e *storageErr) Unwrap() error { return e.err }

// tagReader tags the errors of the storage reader and counts bytes.
type tagReader struct {
	r     io.Reader
	n     int64
	onAdd func(int64)
}

func (t *tagReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	if n > 0 && t.onAdd != nil {
		t.onAdd(int64(n))
	}
	if err != nil && err != io.EOF {
		err = &storageErr{err}
	}
	return n, err
}

// decompressor wraps r by the key's extension: .gz/.gzip and .zst/.zstd.
func decompressor(key string, r io.Reader) (io.Reader, func(), error) {
	switch {
	case strings.HasSuffix(key, ".gz") || strings.HasSuffix(key, ".gzip"):
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return zr, func() { zr.Close() }, nil
	case strings.HasSuffix(key, ".zst") || strings.HasSuffix(key, ".zstd"):
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	}
	return r, func() {}, nil
}

// fatalRead reports whether a read error must fail the batch (to be retried
// whole) rather than be recorded in the table: the context ended, or the
// storage failed transiently beyond the storage layer's own retries.
func fatalRead(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var se *storageErr
	if !errors.As(err, &se) && !isStorage(err) {
		return false // a decompression or data error: deterministic, recorded
	}
	return !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrPermanent)
}

func isStorage(err error) bool {
	var e *storage.Error
	return errors.As(err, &e)
}

// fileReader splits one landing file into chunks.
type fileReader struct {
	landing  storage.Bucket
	m        *mapping
	format   Format
	maxLine  int
	retries  int
	onBytes  func(int64)
	quarant  func(ctx context.Context, key string, err error) // records an unreadable file
	retryGap time.Duration
	corrupt  *sync.Map // keys whose compressed data failed its checksum: key → error text
	// reingest is set with OnChange reingest: a file replaced since the
	// batch listed it is then skipped (see changedSinceListed).
	reingest bool
	log      *slog.Logger
}

// badChecksum reports whether err says decompressed data already returned
// was wrong: gzip's CRC-32 and zstd's frame checksum are checked only at
// the end, after the bad bytes were decoded into rows.
func badChecksum(err error) bool {
	return errors.Is(err, gzip.ErrChecksum) || errors.Is(err, zstd.ErrCRCMismatch)
}

// skipCorrupt sends the one bad row of a file whose checksum failed in an
// earlier run of this batch, instead of its rows.
func (fr *fileReader) skipCorrupt(ctx context.Context, f *fileCtx, out chan<- *chunk) (bool, error) {
	if fr.corrupt == nil {
		return false, nil
	}
	msg, ok := fr.corrupt.Load(f.key)
	if !ok {
		return false, nil
	}
	fr.quarant(ctx, f.key, errors.New(msg.(string)))
	c := getChunk(f)
	c.ends, c.nums = append(c.ends, 0), append(c.nums, 0)
	c.notes = append(c.notes, note{idx: 0, err: "compressed data fails its checksum; no row of the file is ingested, the file is quarantined: " + msg.(string)})
	return true, send(ctx, out, c)
}

// read sends the chunks of file f to out. Errors that must fail the batch
// are returned; everything else is recorded as bad lines.
func (fr *fileReader) read(ctx context.Context, f *fileCtx, out chan<- *chunk) error {
	if skip, err := fr.skipCorrupt(ctx, f, out); skip || err != nil {
		return err
	}
	if fr.changedSinceListed(ctx, f) {
		return nil
	}
	var rc io.ReadCloser
	var err error
	for attempt := 0; ; attempt++ {
		rc, err = fr.landing.NewReader(ctx, f.key, 0, -1)
		if err == nil {
			break
		}
		if ctx.Err() != nil || storage.IsTransient(err) || !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrPermanent) {
			return fmt.Errorf("ingest: open %s: %w", f.key, err)
		}
		if attempt+1 >= fr.retries {
			fr.quarant(ctx, f.key, err)
			c := getChunk(f)
			c.ends, c.nums = append(c.ends, 0), append(c.nums, 0)
			c.notes = append(c.notes, note{idx: 0, err: "unreadable file, quarantined after " + fmt.Sprint(fr.retries) + " attempts: " + err.Error()})
			return send(ctx, out, c)
		}
		gap := fr.retryGap << attempt
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(gap):
		}
	}
	defer rc.Close()
	tr := &tagReader{r: rc, onAdd: fr.onBytes}
	dec, closeDec, derr := decompressor(f.key, tr)
	if derr != nil {
		if fatalRead(ctx, derr) {
			return fmt.Errorf("ingest: read %s: %w", f.key, derr)
		}
		// Not even a valid header: one bad row records it.
		c := getChunk(f)
		c.ends, c.nums = append(c.ends, 0), append(c.nums, 1)
		c.notes = append(c.notes, note{idx: 0, err: "cannot decompress: " + derr.Error()})
		return send(ctx, out, c)
	}
	defer closeDec()
	return fr.readFrom(ctx, f, dec, out)
}

// changedSinceListed reports whether file f was replaced since its batch
// listed it, in which case it is not read (with OnChange reingest only).
// The batch records the file as listed: its new content, read now, would
// be recorded under the old size and tag, and the next listing would see
// the file changed and ingest that content a second time. Skipped, the
// new content is ingested once, by a later batch; the listed content is
// gone either way.
func (fr *fileReader) changedSinceListed(ctx context.Context, f *fileCtx) bool {
	if !fr.reingest || f.listed.Key == "" {
		return false
	}
	o, err := fr.landing.Stat(ctx, f.key)
	if err != nil || !refOf(f.listed, 0).changed(fileFromObject(o)) {
		return false // a missing file is the reader's to report
	}
	fr.log.Warn("landing file replaced since its batch was planned; its new content goes to a later batch", "key", f.key)
	return true
}

// readFrom sends the chunks of file f, whose decompressed bytes src reads,
// to out.
func (fr *fileReader) readFrom(ctx context.Context, f *fileCtx, src io.Reader, out chan<- *chunk) error {
	if fr.format != FormatCSV {
		s := lineSplitter{fr: fr, f: f, out: out, c: getChunk(f), bom: true}
		return s.run(ctx, src)
	}
	return fr.readCSV(ctx, f, src, out)
}

// readCSV is readFrom for CSV, whose records may span lines.
func (fr *fileReader) readCSV(ctx context.Context, f *fileCtx, src io.Reader, out chan<- *chunk) error {
	bufSize := max(fr.maxLine+1, 64<<10)
	br := bufio.NewReaderSize(src, bufSize)
	// A UTF-8 byte order mark (Windows tools write one) is no part of the
	// first line: left in, it spoils the first JSON object or CSV header.
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}

	c := getChunk(f)
	var lineNo int64
	var csvRec []byte // CSV: physical lines of a record being assembled
	var csvStart int64
	var csvQuoted bool // csvRec ends inside a quoted field
	var header *csvHeader
	headerDone := fr.format != FormatCSV
	headerBad := false

	addLine := func(data []byte, num int64, n note) {
		c.data = append(c.data, data...)
		c.ends = append(c.ends, len(c.data))
		c.data = append(c.data, '\n')
		c.nums = append(c.nums, num)
		if n.err != "" {
			n.idx = len(c.ends) - 1
			c.notes = append(c.notes, n)
		}
	}
	flush := func(force bool) error {
		if len(c.ends) == 0 || !force && len(c.data) < chunkBytes {
			return nil
		}
		c.csv, c.csvBad = header, headerBad
		sent := c
		c = nil // send owns it now (and gives it back when it fails)
		if err := send(ctx, out, sent); err != nil {
			return err
		}
		c = getChunk(f)
		return nil
	}
	defer func() {
		if c != nil && len(c.ends) == 0 {
			putChunk(c)
		}
	}()

	for {
		line, err := br.ReadSlice('\n')
		var size int64
		var cut bool
		if err == bufio.ErrBufferFull {
			// An over-long line: keep its first maxLine bytes, skip the rest.
			keep := append([]byte(nil), line[:min(len(line), fr.maxLine)]...)
			size = int64(len(line))
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				size += int64(len(line))
			}
			if bytes.HasSuffix(line, []byte{'\n'}) {
				size--
			}
			line, cut = keep, true
		}
		if !cut && len(line) > fr.maxLine+1 || !cut && len(line) == fr.maxLine+1 && line[len(line)-1] != '\n' {
			size = int64(len(bytes.TrimSuffix(line, []byte{'\n'})))
			line, cut = append([]byte(nil), line[:fr.maxLine]...), true
		}
		if len(line) > 0 || cut {
			lineNo++
			data := line
			if n := len(data); n > 0 && data[n-1] == '\n' {
				// (bytes.TrimSuffix compares through a call: 2% of
				// ingesting short lines in pprof)
				data = data[:n-1]
			}
			var n note
			switch {
			case cut:
				n = note{err: fmt.Sprintf("line longer than the %d-byte limit", fr.maxLine), size: size}
			case err != nil && err != io.EOF && !bytes.HasSuffix(line, []byte{'\n'}):
				n = note{err: "file ends inside this line: " + err.Error()}
			}
			if fr.format == FormatCSV && n.err == "" {
				// Assemble physical lines into one record until quotes balance.
				if csvRec == nil {
					csvStart = lineNo
				}
				csvRec = append(csvRec, line...)
				csvQuoted = endsQuoted(line, csvQuoted)
				if csvQuoted && err == nil && len(csvRec) <= fr.maxLine {
					goto next
				}
				rec := bytes.TrimSuffix(bytes.TrimSuffix(csvRec, []byte{'\n'}), []byte{'\r'})
				if csvQuoted {
					n = note{err: "unterminated quoted CSV field"}
				}
				csvRec, csvQuoted = nil, false
				// Blank as the decoder means it (isBlank): a line it
				// decodes must not have been skipped as the header.
				if !headerDone && n.err == "" && !isBlank(rec) {
					headerDone = true
					fields, herr := parseCSVRecord(rec)
					if herr != nil || len(fields) == 0 {
						headerBad = true
						addLine(rec, csvStart, note{err: "invalid CSV header"})
					} else {
						header = newCSVHeader(fr.m, fields)
					}
					goto next
				}
				addLine(rec, csvStart, n)
			} else {
				if csvRec != nil {
					addLine(csvRec, csvStart, note{err: "unterminated quoted CSV field"})
					csvRec, csvQuoted = nil, false
				}
				if !headerDone {
					// A header cut at the size limit (or by a read error)
					// names no columns; the next record is no header either.
					headerDone, headerBad = true, true
				}
				addLine(data, lineNo, n)
			}
			if ferr := flush(false); ferr != nil {
				return ferr
			}
		}
	next:
		if err == nil {
			continue
		}
		if err == io.EOF {
			break
		}
		if fatalRead(ctx, err) {
			return fmt.Errorf("ingest: read %s: %w", f.key, err)
		}
		if badChecksum(err) && fr.corrupt != nil {
			fr.corrupt.Store(f.key, err.Error())
			return fmt.Errorf("ingest: %s fails its checksum after %d lines, running the batch again without its rows: %w",
				f.key, lineNo, errRetryBatch)
		}
		if len(line) == 0 {
			// The error fell on a line boundary: record it on its own.
			lineNo++
			addLine(nil, lineNo, note{err: "file ends with a read error: " + err.Error()})
		}
		var se *storageErr
		if errors.As(err, &se) {
			fr.quarant(ctx, f.key, err)
		}
		break
	}
	if csvRec != nil {
		addLine(bytes.TrimSuffix(csvRec, []byte{'\n'}), csvStart, note{err: "unterminated quoted CSV field"})
	}
	return flush(true)
}

// lineSplitter cuts the lines of an NDJSON or text file into chunks. The
// file is read straight into the chunk's buffer and its lines are left
// where they lie, newline and all: reading each line into a buffer of its
// own and copying it into the chunk cost a copy of every byte and a call
// per line (3 % of ingesting short lines). The partial line at the end of
// a full chunk moves to the next one.
type lineSplitter struct {
	fr    *fileReader
	f     *fileCtx
	out   chan<- *chunk
	c     *chunk
	start int   // c.data[start:] is the line being read
	scan  int   // c.data[start:scan] holds no newline
	long  int64 // when the line being read is over the limit: its length so far (c.data keeps its first maxLine bytes)
	num   int64 // lines so far
	bom   bool  // the file's first bytes are still to be checked for a byte order mark
}

// minRead is the least room a read gets before the chunk is handed on.
const minRead = 32 << 10

func (s *lineSplitter) run(ctx context.Context, src io.Reader) error {
	defer func() {
		if s.c != nil {
			putChunk(s.c)
		}
	}()
	for empty := 0; ; {
		if err := s.makeRoom(ctx); err != nil {
			return err
		}
		c := s.c
		n, err := src.Read(c.data[len(c.data):cap(c.data)])
		c.data = c.data[:len(c.data)+n]
		switch {
		case n > 0:
			empty = 0
		case err == nil:
			if empty++; empty == 100 { // as bufio: a reader that never moves on
				err = io.ErrNoProgress
			}
		}
		if s.bom {
			if len(c.data) < 3 && err == nil {
				continue
			}
			// A UTF-8 byte order mark (Windows tools write one) is no
			// part of the first line: left in, it spoils the first JSON
			// object.
			if bytes.HasPrefix(c.data, []byte("\xef\xbb\xbf")) {
				c.data = c.data[:copy(c.data, c.data[3:])]
			}
			s.bom = false
		}
		s.cutLines()
		if err != nil {
			return s.end(ctx, err)
		}
	}
}

// cutLines records the lines the bytes read so far complete.
func (s *lineSplitter) cutLines() {
	c, limit := s.c, s.fr.maxLine
	for {
		i := bytes.IndexByte(c.data[s.scan:], '\n')
		if i < 0 {
			s.scan = len(c.data)
			if s.long > 0 || len(c.data)-s.start > limit {
				// Over the limit: keep the first maxLine bytes, count the rest.
				if s.long == 0 {
					s.long = int64(len(c.data) - s.start)
				} else {
					s.long += int64(len(c.data) - s.start - limit) // the bytes read since
				}
				c.data = c.data[:s.start+limit]
				s.scan = len(c.data)
			}
			return
		}
		end := s.scan + i
		var n note
		if s.long > 0 || end-s.start > limit {
			keep := s.start + limit
			size := int64(end - s.start)
			if s.long > 0 {
				size = s.long + int64(end-keep)
			}
			n = note{err: fmt.Sprintf("line longer than the %d-byte limit", limit), size: size}
			// Close the gap: the next line follows the kept bytes.
			c.data[keep] = '\n'
			c.data = c.data[:keep+1+copy(c.data[keep+1:], c.data[end+1:])]
			end, s.long = keep, 0
		}
		s.add(end, n)
		s.start, s.scan = end+1, end+1
	}
}

// add records the line ending at end.
func (s *lineSplitter) add(end int, n note) {
	c := s.c
	s.num++
	c.ends = append(c.ends, end)
	c.nums = append(c.nums, s.num)
	if n.err != "" {
		n.idx = len(c.ends) - 1
		c.notes = append(c.notes, n)
	}
}

// makeRoom leaves at least minRead bytes to read into: the complete lines
// go out in their chunk, or a line longer than the buffer gets a larger one.
func (s *lineSplitter) makeRoom(ctx context.Context) error {
	c := s.c
	if cap(c.data)-len(c.data) >= minRead {
		return nil
	}
	if len(c.ends) == 0 {
		c.data = slices.Grow(c.data, cap(c.data))
		return nil
	}
	next := getChunk(s.f)
	next.data = append(next.data, c.data[s.start:]...)
	c.data = c.data[:s.start]
	s.scan -= s.start
	s.start = 0
	s.c = next
	return send(ctx, s.out, c)
}

// end records the last line and the read error err (io.EOF: none), and
// sends the last chunk. Errors that must fail the batch are returned.
func (s *lineSplitter) end(ctx context.Context, err error) error {
	c, fr := s.c, s.fr
	partial := s.long > 0 || len(c.data) > s.start
	if partial {
		var n note
		switch {
		case s.long > 0:
			n = note{err: fmt.Sprintf("line longer than the %d-byte limit", fr.maxLine), size: s.long}
		case err != io.EOF:
			n = note{err: "file ends inside this line: " + err.Error()}
		}
		s.add(len(c.data), n)
	}
	if err != io.EOF {
		if fatalRead(ctx, err) {
			return fmt.Errorf("ingest: read %s: %w", s.f.key, err)
		}
		if badChecksum(err) && fr.corrupt != nil {
			fr.corrupt.Store(s.f.key, err.Error())
			return fmt.Errorf("ingest: %s fails its checksum after %d lines, running the batch again without its rows: %w",
				s.f.key, s.num, errRetryBatch)
		}
		if !partial {
			// The error fell on a line boundary: record it on its own.
			s.add(len(c.data), note{err: "file ends with a read error: " + err.Error()})
		}
		var se *storageErr
		if errors.As(err, &se) {
			fr.quarant(ctx, s.f.key, err)
		}
	}
	if len(c.ends) == 0 {
		return nil
	}
	s.c = nil
	return send(ctx, s.out, c)
}

func send(ctx context.Context, out chan<- *chunk, c *chunk) error {
	select {
	case out <- c:
		return nil
	case <-ctx.Done():
		putChunk(c)
		return ctx.Err()
	}
}

// endsQuoted reports whether a CSV record whose text so far ends with line
// is inside a quoted field after it; quoted says whether it was before.
// As in encoding/csv, a quote opens a quoted field only at the start of a
// field ("" inside one is a quote); elsewhere it is a stray quote, which
// makes its record bad but does not join the lines after it (counting
// quotes did, swallowing every record up to the next stray quote).
func endsQuoted(line []byte, quoted bool) bool {
	fieldStart := true // a physical line outside quotes starts a record
	for i := 0; i < len(line); i++ {
		c := line[i]
		if quoted {
			if c == '"' {
				if i+1 < len(line) && line[i+1] == '"' {
					i++
				} else {
					quoted = false
				}
			}
			continue
		}
		if c == '"' && fieldStart {
			quoted = true
		}
		fieldStart = c == ','
	}
	return quoted
}
