package query

import "strings"

// SplitStatements splits SQL text into statements at semicolons outside
// string literals ('…', E'…'), quoted identifiers ("…"), dollar-quoted
// strings ($tag$…$tag$) and comments (-- and /* */), as DuckDB's parser
// does. Statements are trimmed; empty ones (and ones of comments only)
// are dropped. The cmd prints the result of each statement in order.
func SplitStatements(q string) []string {
	var out []string
	start := 0
	content := false // the current statement has something besides comments and space
	emit := func(end int) {
		if content {
			out = append(out, strings.TrimSpace(q[start:end]))
		}
		start, content = end+1, false
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == ';':
			emit(i)
		case c == '\'' || c == '"':
			backslash := c == '\'' && i > 0 && (q[i-1] == 'E' || q[i-1] == 'e') && (i < 2 || !isIdentByte(q[i-2]))
			content = true
			for i++; i < len(q); i++ {
				if backslash && q[i] == '\\' {
					i++
					continue
				}
				if q[i] == c {
					if i+1 < len(q) && q[i+1] == c {
						i++
						continue
					}
					break
				}
			}
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			depth := 0
			for ; i+1 < len(q); i++ {
				if q[i] == '/' && q[i+1] == '*' {
					depth++
					i++
				} else if q[i] == '*' && q[i+1] == '/' {
					depth--
					i++
					if depth == 0 {
						break
					}
				}
			}
			if depth > 0 {
				i = len(q)
			}
		case c == '$' && (i == 0 || !isIdentByte(q[i-1])):
			content = true
			j := i + 1
			for j < len(q) && isIdentByte(q[j]) && !(q[j] >= '0' && q[j] <= '9' && j == i+1) {
				j++
			}
			if j < len(q) && q[j] == '$' {
				tag := q[i : j+1]
				if k := strings.Index(q[j+1:], tag); k >= 0 {
					i = j + k + len(tag)
				} else {
					i = len(q)
				}
			}
		case c != ' ' && c != '\t' && c != '\n' && c != '\r':
			content = true
		}
	}
	emit(len(q))
	return out
}
