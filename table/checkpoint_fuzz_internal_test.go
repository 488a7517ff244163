package table

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/loglake/loglake/storage"
)

// fuzzBucket is one in-memory bucket per fuzzing process: a bucket per input
// would keep every input alive (mem:// buckets are process-wide by name).
var fuzzBucket = sync.OnceValues(func() (storage.Bucket, error) {
	return storage.Open(context.Background(), fmt.Sprintf("mem://fuzz-%d", os.Getpid()), nil)
})

// FuzzReadCheckpoint feeds arbitrary bytes to readCheckpoint as a
// single-part checkpoint. It must never panic, and anything it refuses must
// be ErrCorrupt or an unsupported feature.
func FuzzReadCheckpoint(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(checkpointCorpus, "*", "_delta_log", "*.checkpoint*.parquet"))
	for _, p := range seeds {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	if data, _, _, err := encodeCheckpoint(stateActions(sampleCheckpointActions(20))); err == nil {
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add(v2Checkpoint(f, true))
	f.Add([]byte("PAR1"))
	f.Add([]byte{})

	ctx := context.Background()
	b, err := fuzzBucket()
	if err != nil {
		f.Fatal(err)
	}
	part := []logFile{{version: 1, key: checkpointKey(1), part: 1, parts: 1}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := b.Put(ctx, part[0].key, data); err != nil {
			t.Fatal(err)
		}
		actions, err := readCheckpoint(ctx, b, part, true)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedFeature) {
				t.Fatalf("error %v is neither ErrCorrupt nor ErrUnsupportedFeature", err)
			}
			return
		}
		for i := range actions {
			if err := actions[i].validate(); err != nil {
				t.Fatalf("action %d returned without error is invalid: %v", i, err)
			}
		}
	})
}

// FuzzDecodeCommit feeds arbitrary bytes to decodeCommit. It must never
// panic, anything it refuses must be ErrCorrupt or an unsupported feature
// (an absolute file path, `{"add":{"path":"/"}}`, is valid Delta that
// loglake refuses by name, not a corrupt log), and what it accepts must
// validate and survive an encode/decode round trip.
func FuzzDecodeCommit(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(checkpointCorpus, "*", "_delta_log", "0000000000000000000[0-3].json"))
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		f.Add(data)
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for n := 0; sc.Scan() && n < 3; n++ {
			f.Add(bytes.Clone(sc.Bytes()))
		}
	}
	f.Add([]byte(`{"add":{"path":"a","partitionValues":{"d":null},"size":1,"modificationTime":2,"dataChange":true}}`))
	f.Add([]byte(`{"txn":{"appId":"ingest:x","version":3}}` + "\n\n" + `{"remove":{"path":"b","dataChange":false}}`))
	f.Add([]byte(`{"add":{}}`))
	f.Add([]byte("\xff\xfe"))

	f.Fuzz(func(t *testing.T, data []byte) {
		actions, err := decodeCommit(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedFeature) {
				t.Fatalf("error %v is neither ErrCorrupt nor ErrUnsupportedFeature", err)
			}
			return
		}
		for i := range actions {
			if err := actions[i].validate(); err != nil {
				t.Fatalf("action %d accepted but invalid: %v", i, err)
			}
		}
		enc, err := encodeCommit(actions)
		if err != nil {
			t.Fatalf("encodeCommit of decoded actions: %v", err)
		}
		again, err := decodeCommit(enc)
		if err != nil {
			t.Fatalf("re-decoding %q: %v", enc, err)
		}
		if len(again) != len(actions) {
			t.Fatalf("round trip: %d actions, want %d", len(again), len(actions))
		}
	})
}
