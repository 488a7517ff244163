package query

import "strings"

// harmlessSettings are DuckDB settings and pragmas that change how a
// statement runs but not what a filter means, so pruning stays right after
// a statement changes them.
var harmlessSettings = map[string]bool{
	"threads": true, "worker_threads": true, "memory_limit": true, "max_memory": true,
	"temp_directory": true, "max_temp_directory_size": true, "preserve_insertion_order": true,
	"enable_progress_bar": true, "disable_progress_bar": true, "enable_progress_bar_print": true,
	"enable_profiling": true, "disable_profiling": true, "profiling_mode": true, "profiling_output": true,
	"enable_object_cache": true, "parquet_metadata_cache": true, "enable_external_file_cache": true,
	"explain_output": true, "progress_bar_time": true, "max_expression_depth": true,
	"table_info": true, "show_tables": true, "show_tables_expanded": true, "database_size": true,
	"version": true, "platform": true, "storage_info": true, "show": true, "database_list": true,
	"functions": true, "collations": true,
}

// changesMeaning reports whether a statement of q is a SET, RESET or PRAGMA
// that may change what a filter means — the time zone a DATE cast uses, the
// collation strings compare with, how literals are cast — so that files
// pruned by UTC days and byte-wise order could hold matching rows. DuckDB
// keeps such settings per connection or database, beyond this statement.
func changesMeaning(q string) bool {
	for _, stmt := range SplitStatements(q) {
		if statementChangesMeaning(stmt) {
			return true
		}
	}
	return false
}

// statementChangesMeaning is changesMeaning for one statement. Besides
// settings, DDL and USE/ATTACH can make a name the walk takes for an
// attached table resolve to another relation (DuckDB looks in the temp
// schema, then the current one), so they count too.
func statementChangesMeaning(q string) bool {
	words := leadingWords(q, 3)
	if len(words) == 0 {
		return false
	}
	switch words[0] {
	case "use", "attach", "detach", "create", "drop", "alter":
		// Any object created or dropped may take an attached name: a
		// temporary table (CREATE TABLE temp.t, CREATE LOCAL TEMP …), or
		// a view replacing the engine's own (CREATE OR REPLACE VIEW t).
		return true
	case "set", "reset":
		words = words[1:]
		if len(words) > 0 && (words[0] == "global" || words[0] == "session" || words[0] == "local") {
			words = words[1:]
		}
		if len(words) > 0 && words[0] == "variable" {
			return false // SET VARIABLE defines a getvariable() value
		}
	case "pragma":
		words = words[1:]
	default:
		return false
	}
	return len(words) == 0 || !harmlessSettings[words[0]]
}

// leadingWords returns up to n lower-cased words at the start of q, after
// blanks and comments; a word is a run of letters, digits and '_', or a
// quoted identifier without its quotes.
func leadingWords(q string, n int) []string {
	var out []string
	for i := 0; i < len(q) && len(out) < n; {
		switch c := q[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				return out
			}
			i += j + 1
		case strings.HasPrefix(q[i:], "/*"):
			j := blockCommentEnd(q, i)
			if j < 0 {
				return out
			}
			i = j
		case c == '"':
			j := strings.IndexByte(q[i+1:], '"')
			if j < 0 {
				return out
			}
			out = append(out, strings.ToLower(q[i+1:i+1+j]))
			i += j + 2
		case isIdentByte(c):
			j := i
			for j < len(q) && isIdentByte(q[j]) {
				j++
			}
			out = append(out, strings.ToLower(q[i:j]))
			i = j
		default: // '=', '(', ';' and the like end the words that name a setting
			return out
		}
	}
	return out
}

// blockCommentEnd returns the index just past the block comment that opens
// at q[i:], or -1 if it does not end. DuckDB nests block comments: in
// "/* a /* b */ c */" the comment ends at the last "*/".
func blockCommentEnd(q string, i int) int {
	depth := 0
	for i < len(q)-1 {
		switch q[i : i+2] {
		case "/*":
			depth++
			i += 2
		case "*/":
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return -1
}
