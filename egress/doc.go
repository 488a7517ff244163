// Package egress streams the approved rows of a regional Delta table into
// the central table, exactly once.
//
// An Egress tails the regional (source) table's change feed, keeps the rows
// of newly added data files that match the region's egress predicate
// (default `egress_approved = true`, in the language of package table/expr),
// stamps them with a `region` column and appends them to the central table.
// Several source versions are coalesced into one central commit, bounded by
// source rows, source bytes, source versions and time, so that fifty regions
// writing to one central table do not flood its log.
//
// Exactly once rests on the central table alone: every central commit
// carries txn{appId: "egress:<region>", version: V}, where V is the last
// source version the commit covers, in the same commit as the rows. On start
// (and before every batch) an Egress reads that txn from the central
// snapshot and resumes after it. Commits are written at an exact version
// (the head of the central log plus one): when another writer takes that
// version, the Egress checks the new commits; if another instance of the
// same region has committed in the meantime, the batch is discarded and
// re-planned from the new txn, so overlapping batches of two instances can
// never both land. Commits of other regions only make it retry at the next
// version.
//
// Source commits whose added files have dataChange=false (OPTIMIZE and other
// rearrangements) carry no new rows and are passed over. Commits that
// remove data with dataChange=true (DELETE, UPDATE, MERGE, overwrites) are
// skipped whole and counted, like Delta's skipChangeCommits: rows already
// forwarded are never retracted and rewritten rows are not forwarded twice.
//
// See docs/egress.md for the semantics, the predicate language and the
// metrics.
package egress
