// Package replicate is loglake's incremental deep clone: it brings a copy of
// a Delta table up to date in any other location (another prefix, bucket or
// cloud) for disaster recovery, and keeps live forks fed from their source.
//
// Clone copies data files first, verifies them, and only then writes the
// destination commit that references them, so a reader of the destination
// never sees a file that is not there. Its progress is recorded the same way
// every loglake writer records it: a txn{appId: "clone:<source table id>",
// version: V} in the destination commit, meaning "the destination reflects
// source version V". There is no other state; a crashed or raced clone is
// finished by running it again.
//
// The destination is in one of three states, and Clone works out which from
// the destination's log alone (see Mode):
//
//   - no table: the initial clone writes the source's state at version V as
//     the destination's version V (a checkpoint of V plus a CLONE commit V).
//   - an exact replica (its latest version is the version its clone txn
//     records, so it has no commits of its own): each new source commit N is
//     replayed as destination version N, with the same actions, including the
//     source's own txn actions. Version numbers, history and time travel are
//     the source's, so a pipeline that recorded source versions resumes on the
//     replica after a failover with nothing lost or duplicated.
//     An incremental run into a replica costs the new commits only: it
//     reads neither table's state and lists nothing (the fast path; see
//     Result.Fast), falling back to opening both tables whenever it cannot
//     prove cheaply that the destination is this source's exact replica.
//   - a fork (it has commits of its own): each new source commit is replayed
//     as a new destination version; the fork's own files and commits are kept.
//
// When the source's log no longer holds the commits after the recorded
// version (log cleanup), Clone compares live file sets instead, copies what
// is missing, and writes one CLONE commit (ModeSync); the destination then
// keeps its own version numbering from there on. A fork with commits of its
// own is refused then (ErrDiverged): live files cannot tell its own
// decisions from the source's.
//
// See docs/replicate.md for the runbooks.
package replicate
