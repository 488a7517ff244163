package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// readLine is one line as the reader hands it to the decoders.
type readLine struct {
	data string
	num  int64
	note note
}

// splitReference is what the reader must make of the decompressed bytes
// in, which end with the error readErr (nil: at EOF): a leading UTF-8 BOM
// dropped, one line per '\n' and one for non-empty bytes after the last,
// a line over maxLine bytes cut to them (noting its length), the line a
// read error cuts short noted, or, when it falls between lines, a line of
// its own.
func splitReference(in []byte, readErr error, maxLine int) []readLine {
	in = bytes.TrimPrefix(in, []byte("\xef\xbb\xbf"))
	var out []readLine
	segs := bytes.Split(in, []byte{'\n'})
	for i, seg := range segs {
		last := i == len(segs)-1
		if last && len(seg) == 0 {
			if readErr != nil {
				out = append(out, readLine{num: int64(len(out) + 1), note: note{err: "file ends with a read error: " + readErr.Error()}})
			}
			break
		}
		l := readLine{data: string(seg), num: int64(len(out) + 1)}
		switch {
		case len(seg) > maxLine:
			l.data = string(seg[:maxLine])
			l.note = note{err: fmt.Sprintf("line longer than the %d-byte limit", maxLine), size: int64(len(seg))}
		case last && readErr != nil:
			l.note = note{err: "file ends inside this line: " + readErr.Error()}
		}
		out = append(out, l)
	}
	return out
}

// choppyReader returns its bytes a random few at a time, then err.
type choppyReader struct {
	data []byte
	err  error
	r    *rand.Rand
}

func (c *choppyReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, c.err
	}
	n := min(len(p), len(c.data), 1+c.r.IntN(3*maxTestLine))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

const maxTestLine = 100

// TestReadLines checks the reader's lines against splitReference over
// random NDJSON-like files: empty, short, at-the-limit and over-long
// lines (longer than the reader's buffers too), a BOM or not, a last
// line with or without its newline, files ending in a read error, files
// of several chunks, read a random few bytes at a time.
func TestReadLines(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 400 {
		var sb strings.Builder
		if trial%5 == 0 {
			sb.WriteString("\xef\xbb\xbf")
		}
		lines := r.IntN(40)
		if trial%50 == 1 {
			lines = 60000 // chunks full, lines carried into the next
		}
		for range lines {
			n := r.IntN(maxTestLine / 2)
			switch r.IntN(8) {
			case 0:
				n = 0
			case 1:
				n = maxTestLine - 1 + r.IntN(3)
			case 2:
				n = maxTestLine * (2 + r.IntN(5))
			case 3:
				if trial%20 == 0 {
					n = 70 << 10 // beyond a 64 KiB read buffer
				}
			}
			for j := range n {
				sb.WriteByte("abc{}\":\r "[(j+trial)%9])
			}
			sb.WriteByte('\n')
		}
		for range r.IntN(3) * r.IntN(maxTestLine) {
			sb.WriteByte('x') // a last line without its newline
		}
		in := []byte(sb.String())
		var readErr error
		if trial%3 == 0 {
			readErr = errors.New("unexpected end of compressed data")
		}
		fr := &fileReader{format: FormatNDJSON, maxLine: maxTestLine,
			quarant: func(context.Context, string, error) { t.Fatal("quarantined after a data error") }}
		out := make(chan *chunk, 1<<12)
		err := fr.readFrom(t.Context(), newFileCtx("f.json"), &choppyReader{data: in, err: cmpErr(readErr), r: r}, out)
		close(out)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		var got []readLine
		for c := range out {
			ni := 0
			for i := range c.ends {
				l := readLine{data: string(c.line(i)), num: c.nums[i]}
				if ni < len(c.notes) && c.notes[ni].idx == i {
					l.note = c.notes[ni]
					l.note.idx = 0
					ni++
				}
				got = append(got, l)
			}
			if ni != len(c.notes) {
				t.Fatalf("trial %d: notes %+v do not fall on lines", trial, c.notes)
			}
			putChunk(c)
		}
		want := splitReference(in, readErr, maxTestLine)
		if len(got) != len(want) {
			t.Fatalf("trial %d: %d lines, want %d", trial, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("trial %d, line %d: got %+v\nwant %+v", trial, i, trunc(got[i]), trunc(want[i]))
			}
		}
	}
}

// cmpErr is err, or io.EOF for none.
func cmpErr(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

func trunc(l readLine) readLine {
	if len(l.data) > 40 {
		l.data = l.data[:40] + "…"
	}
	return l
}

// stutterReader returns nothing (and no error) before each line it gives.
type stutterReader struct {
	lines []string
	empty bool
}

func (s *stutterReader) Read(p []byte) (int, error) {
	if s.empty = !s.empty; s.empty {
		return 0, nil
	}
	if len(s.lines) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.lines[0])
	s.lines = s.lines[1:]
	return n, nil
}

// Reads that return nothing between reads that do are waited out, however
// many there are; a reader that only ever returns nothing ends the file
// with a read error, as bufio's would.
func TestReadLinesEmptyReads(t *testing.T) {
	var lines []string
	for i := range 500 {
		lines = append(lines, fmt.Sprintf("{\"n\":%d}\n", i))
	}
	fr := &fileReader{format: FormatNDJSON, maxLine: maxTestLine}
	out := make(chan *chunk, 16)
	if err := fr.readFrom(t.Context(), newFileCtx("f.json"), &stutterReader{lines: slices.Clone(lines)}, out); err != nil {
		t.Fatal(err)
	}
	close(out)
	var got []string
	for c := range out {
		for i := range c.ends {
			got = append(got, string(c.line(i))+"\n")
		}
	}
	if !slices.Equal(got, lines) {
		t.Fatalf("%d lines read, want %d", len(got), len(lines))
	}

	out = make(chan *chunk, 16)
	if err := fr.readFrom(t.Context(), newFileCtx("f.json"), iotest.ErrReader(nil), out); err != nil {
		t.Fatal(err)
	}
	close(out)
	c := <-out
	if c == nil || len(c.notes) != 1 || !strings.Contains(c.notes[0].err, io.ErrNoProgress.Error()) {
		t.Fatalf("a reader returning nothing: chunk %+v, want one line noting %v", c, io.ErrNoProgress)
	}
}

// decodeCSVFile reads and decodes data as one CSV landing file with lines
// of at most maxLine bytes into columns a and b, and returns each row's a,
// b and _rescued_data ("" for NULL), in order.
func decodeCSVFile(t *testing.T, data string, maxLine int) [][3]string {
	t.Helper()
	ctx := context.Background()
	landing := memTable(t)
	if err := landing.Put(ctx, "f.csv", []byte(data)); err != nil {
		t.Fatal(err)
	}
	sch, err := ParseSchema([]byte("a string, b string"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMapping(completeSchema(sch).Arrow(), "ts", []string{ColDate})
	if err != nil {
		t.Fatal(err)
	}
	rec := readDecode(t, landing, m, "f.csv", FormatCSV, maxLine)
	defer rec.Release()
	str := func(col, i int) string {
		if arr := rec.Column(col); arr.IsValid(i) {
			return arr.ValueStr(i)
		}
		return ""
	}
	var rows [][3]string
	for i := range int(rec.NumRows()) {
		rows = append(rows, [3]string{str(m.lookup([]byte("a")), i), str(m.lookup([]byte("b")), i), str(m.rescued, i)})
	}
	return rows
}

// CSV records as encoding/csv reads them: a stray quote inside an unquoted
// field makes its record bad without joining the lines after it; a header
// cut at the line limit leaves no header (every record a bad row, none
// taken as the header); a '\r' before the record's "\r\n" is data.
func TestCSVRecords(t *testing.T) {
	for _, c := range []struct {
		name, data string
		maxLine    int
		want       []string // per row: a|b, or "bad:" + a fragment of _rescued_data
	}{
		{"stray quote", "a,b\nx\"y,1\n2,3\n4,5\n", 100, []string{`bad:x\"y,1`, "2|3", "4|5"}},
		{"quoted field over lines", "a,b\n\"x\ny\",1\n2,3\n", 100, []string{"x\ny|1", "2|3"}},
		{"doubled quotes", "a,b\n\"x\"\"\ny\",1\n\"\",3\n", 100, []string{"x\"\ny|1", "|3"}},
		{"quote closes mid-line", "a,b\n\"x\",\"y\nz\"\n4,5\n", 100, []string{"x|y\nz", "4|5"}},
		{"unterminated", "a,b\n\"x,1\n2,3\n", 100, []string{"bad:unterminated"}},
		{"header over the limit", "a,b,xxxxxxxxxxxxxxxxxxxxxxxx\n1,2\n6,7\n", 20, []string{"bad:longer than", "bad:1,2", "bad:6,7"}},
		{"carriage return before CRLF", "a,b\r\n1,x\r\r\n1,2\r\n", 100, []string{"1|x\r", "1|2"}},
		{"carriage return kept", "a,b\r\n\"x\r\",2\r\n", 100, []string{"x\r|2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows := decodeCSVFile(t, c.data, c.maxLine)
			var got []string
			for _, r := range rows {
				if r[2] != "" {
					got = append(got, "bad:"+r[2])
				} else {
					got = append(got, r[0]+"|"+r[1])
				}
			}
			ok := len(got) == len(c.want)
			for i := 0; ok && i < len(got); i++ {
				if w := c.want[i]; strings.HasPrefix(w, "bad:") {
					ok = strings.HasPrefix(got[i], "bad:") && strings.Contains(got[i], w[4:])
				} else {
					ok = got[i] == w
				}
			}
			if !ok {
				t.Errorf("rows %q, want %q", got, c.want)
			}
		})
	}
}

// With OnChange reingest, a file replaced between its batch's plan and the
// read is not read in that batch: its new content, recorded under the
// listed size and tag, was seen changed by the next listing and ingested a
// second time. It is ingested once, by a later batch.
func TestReplacedBeforeReadIngestedOnce(t *testing.T) {
	ctx := context.Background()
	landing, tbl := plannedFile(t, time.Now()) // then replaced before it is read:
	if err := landing.Put(ctx, "a.json", []byte(`{"message":"B1"}`+"\n"+`{"message":"B2"}`+"\n")); err != nil {
		t.Fatal(err)
	}
	var rows int64
	for range 2 {
		in, err := New(landing, tbl, &Options{OnChange: ChangeReingest})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := in.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rows += sum.Rows
	}
	if rows != 2 {
		t.Fatalf("%d rows ingested, want B's 2 once", rows)
	}
}
