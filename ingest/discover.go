package ingest

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// compileGlob turns a glob into an anchored regexp: '**' matches across
// path segments ('**/' also matches no segment), '*' within one, '?' one
// character, '{a,b}' either alternative.
func compileGlob(p string) (*regexp.Regexp, error) {
	var sb strings.Builder
	sb.WriteString("(?s)^") // ** crosses any byte, a newline in a key too
	depth := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case strings.HasPrefix(p[i:], "**/"):
			sb.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			sb.WriteString(".*")
			i++
		case c == '*':
			sb.WriteString("[^/]*")
		case c == '?':
			sb.WriteString("[^/]")
		case c == '{':
			depth++
			sb.WriteString("(?:")
		case c == '}' && depth > 0:
			depth--
			sb.WriteString(")")
		case c == ',' && depth > 0:
			sb.WriteString("|")
		default:
			// A whole character: string(c) of one byte of a multi-byte
			// one is another character (0xC3 is "Ã"), and never matched.
			_, n := utf8.DecodeRuneInString(p[i:])
			sb.WriteString(regexp.QuoteMeta(p[i : i+n]))
			i += n - 1
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("glob %q: unbalanced braces", p)
	}
	sb.WriteString("$")
	return regexp.Compile(sb.String())
}

// matcher applies include/exclude globs and the hidden-file rule.
type matcher struct {
	include, exclude []*regexp.Regexp
}

func newMatcher(include, exclude []string) (*matcher, error) {
	m := &matcher{}
	for _, g := range include {
		re, err := compileGlob(g)
		if err != nil {
			return nil, err
		}
		m.include = append(m.include, re)
	}
	for _, g := range exclude {
		re, err := compileGlob(g)
		if err != nil {
			return nil, err
		}
		m.exclude = append(m.exclude, re)
	}
	return m, nil
}

// hidden reports whether a path segment of key starts with '.' or '_'
// (temporary files, _delta_log, _loglake, _SUCCESS markers).
func hidden(key string) bool {
	for seg := range strings.SplitSeq(key, "/") {
		if strings.HasPrefix(seg, ".") || strings.HasPrefix(seg, "_") {
			return true
		}
	}
	return false
}

func (m *matcher) match(key string) bool { return m.skip(key) == "" }

// skip returns why key is not a landing file to ingest (PlanHidden,
// PlanBadKey, PlanGlob), or "" when it is one. Discovery, the backlog and
// the dry run all decide by it.
func (m *matcher) skip(key string) string {
	switch {
	case hidden(key):
		return PlanHidden
	case !utf8.ValidString(key):
		// Only file:// lists such a key. The batch state is JSON, which
		// cannot hold it: a restart would read another key and ingest the
		// file again.
		return PlanBadKey
	case strings.HasSuffix(key, "/"),
		len(m.include) > 0 && !slices.ContainsFunc(m.include, func(re *regexp.Regexp) bool { return re.MatchString(key) }),
		slices.ContainsFunc(m.exclude, func(re *regexp.Regexp) bool { return re.MatchString(key) }):
		return PlanGlob
	}
	return ""
}

// discover lists the landing location (all of it when full, else after
// the index cursor) and adds the files not yet ingested to pending.
func (in *Ingester) discover(ctx context.Context, full bool) error {
	startAfter := ""
	if !full {
		startAfter = in.idx.cursor
	}
	it := in.landing.List(ctx, "", startAfter)
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ingest: listing %s: %w", in.landing.URL(), err)
		}
		if r := in.match.skip(o.Key); r != "" {
			if r == PlanBadKey && !in.warned[o.Key] {
				in.warned[o.Key] = true
				in.skipped++
				in.log.Error("landing key is not valid UTF-8; the file is not ingested (rename it)", "key", strings.ToValidUTF8(o.Key, "\uFFFD"))
			}
			continue
		}
		f := fileFromObject(o)
		ref, ok := in.idx.get(o.Key)
		if !ok && in.idx.expired(f) {
			// Older than MaxFileAge and not in the index: it was ingested
			// and forgotten, or landed too late to count (docs/ingest.md).
			continue
		}
		if ok {
			if !ref.changed(f) {
				continue
			}
			if in.opts.OnChange == ChangeIgnore {
				if !in.warned[o.Key] {
					in.warned[o.Key] = true
					in.skipped++
					in.metrics.changed.Inc()
					in.log.Warn("landing file changed after ingestion; ignored (OnChange=ignore)",
						"key", o.Key, "size", f.Size, "ingested_size", ref.Size)
				}
				continue
			}
			in.log.Info("landing file changed after ingestion; re-ingesting (OnChange=reingest)", "key", o.Key)
		}
		in.pending[o.Key] = f
	}
}

// plan takes the next batch's files from pending: in key order, at most
// MaxFiles files and MaxBytes bytes, at least one file.
func (in *Ingester) plan() []ManifestFile {
	keys := make([]string, 0, len(in.pending))
	for k := range in.pending {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []ManifestFile
	var bytes int64
	for _, k := range keys {
		f := in.pending[k]
		if len(out) > 0 && (len(out) >= in.opts.MaxFiles || bytes+f.Size > in.opts.MaxBytes) {
			break
		}
		out = append(out, f)
		bytes += f.Size
	}
	return out
}
