// Package storage opens a bucket+prefix by URL (file://, mem://, s3://, gs://,
// azblob://) on gocloud.dev/blob and adds what a Delta log needs on top of it:
// atomic put-if-absent on every backend, typed error classes, retry with
// jittered backoff for transient errors, and a fault-injecting wrapper for tests.
//
// Put-if-absent is the only coordination primitive loglake uses: two writers
// racing for one key get exactly one winner; the loser gets ErrExists.
package storage
