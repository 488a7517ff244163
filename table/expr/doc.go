// Package expr is loglake's small predicate language: the filter of
// `loglake scan --where`, the egress predicate (default
// `egress_approved = true`), the input to file pruning, and the language
// table invariants and CHECK constraints are evaluated in.
//
// It owns parsing ([Parse]), type checking against an Arrow schema ([Bind]),
// row filtering under SQL three-valued logic ([Predicate.Filter]) and
// conservative file skipping from Delta partition values and statistics
// ([Predicate.MayMatch]). It depends only on arrow-go; package table imports
// it, never the reverse.
//
// # Grammar
//
// Keywords (AND OR NOT IN IS NULL LIKE TRUE FALSE) are case-insensitive.
//
//	expr    := or
//	or      := and ( OR and )*
//	and     := not ( AND not )*
//	not     := NOT not | '(' expr ')' | cmp
//	cmp     := column op literal
//	         | literal op column                 -- flipped to column op' literal
//	         | column [NOT] IN '(' literal ( ',' literal )* ')'
//	         | column IS [NOT] NULL
//	         | column [NOT] LIKE string
//	         | column                            -- bare boolean: column = TRUE
//	         | TRUE | FALSE                      -- every row, no row
//	op      := '=' | '!=' | '<>' | '<' | '<=' | '>' | '>='
//	column  := name ( '.' name )*                -- dots select struct fields
//	name    := [A-Za-z_][A-Za-z0-9_]* | '"' ( any char but '"' | '""' )* '"'
//	literal := string | number | TRUE | FALSE | NULL
//	string  := "'" ( any char but "'" | "''" )* "'"
//	number  := [+-]? digits [ '.' digits* ] [ ( 'e' | 'E' ) [+-]? digits ]
//
// LIKE patterns use % (any run of characters) and _ (exactly one character);
// a backslash escapes the next character.
//
// # Semantics
//
// A literal is converted to its column's type at bind time. Timestamps and
// dates are compared with string literals such as '2026-11-24',
// '2026-11-24T10:00:00Z' or '2026-11-24 10:00:00.5+02:00'; a literal without
// a zone is read in the column's time zone (UTC when it has none). Numeric
// columns also accept numeric strings ('42'). A literal that falls between
// two representable values of the column (2.5 against an integer column,
// 10:00:00.5 against a seconds timestamp) is compared exactly, as SQL would;
// against a float32 column a literal is rounded to float32 first, so that
// f32 = 0.1 finds the rows that stored 0.1 (one beyond float32's range lies
// between the largest float32 and infinity). IS [NOT] NULL applies to
// columns of any type.
//
// Comparisons with NULL are unknown, NOT unknown is unknown, and only rows
// whose predicate is TRUE are kept. x IN (1, NULL) is TRUE when x = 1 and
// unknown otherwise; x NOT IN (1, NULL) is never TRUE. Floating-point values
// use a total order in which NaN equals NaN and is greater than every other
// number, as in Spark SQL and PostgreSQL, so NOT (x < 1) is exactly x >= 1.
// Strings compare bytewise (code point order for UTF-8).
package expr
