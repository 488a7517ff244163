// Package ingest is loglake's auto loader: it discovers new files under a
// landing location, decodes them (NDJSON, plain text lines or CSV, optionally
// .gz or .zst compressed), maps their fields to the regional Delta table's
// schema, and appends them to the table exactly once.
//
// Exactly once rests on two objects, both in the table's own location:
// the batch manifest _loglake/ingest/<stream>/batches/%020d.json, written
// put-if-absent before any data, lists the files of batch N; the table
// commit that adds the batch's data carries txn{appId: "ingest:<stream>",
// version: N}. On start an Ingester reads the stream's txn version N from
// the table; if manifest N+1 exists it re-runs exactly that batch, otherwise
// it plans a new one. Concurrent instances of a stream race for the manifest
// (the loser adopts the winner's) and for the commit (the loser gets
// table.ErrAlreadyCommitted and discards its files). There is no other
// offset store.
//
// Nothing is dropped silently: unknown fields, values of the wrong type,
// malformed lines, invalid UTF-8, over-long lines and truncated compressed
// files all become rows whose _rescued_data column holds the raw content
// with its file and line; files that cannot be read at all are retried and
// then quarantined with a recorded error. See docs/ingest.md.
package ingest
