package table

import (
	"fmt"
	"testing"

	"github.com/loglake/loglake/storage"
)

// A crashed writer's incomplete multi-part checkpoint (parts 1 and 2 of 3)
// beside a complete 2-part one of the same version must not hide it: parts
// are grouped by version and part count.
func TestBuildSegmentMultiPartSets(t *testing.T) {
	var files []logFile
	add := func(key string) {
		f, ok := parseLogKey(storage.Object{Key: logDir + key})
		if !ok {
			t.Fatalf("%s: not a log file", key)
		}
		files = append(files, f)
	}
	// In listing order.
	add(fmt.Sprintf("%020d.json", 7))
	cp := fmt.Sprintf("%020d.checkpoint", 8)
	add(cp + ".0000000001.0000000002.parquet")
	add(cp + ".0000000001.0000000003.parquet")
	add(cp + ".0000000002.0000000002.parquet")
	add(cp + ".0000000002.0000000003.parquet")
	add(fmt.Sprintf("%020d.json", 8))
	add(fmt.Sprintf("%020d.json", 9))
	seg, err := buildSegment(files, 9)
	if err != nil {
		t.Fatal(err)
	}
	if len(seg.checkpoint) != 2 || seg.checkpoint[0].parts != 2 || seg.checkpoint[1].part != 2 || seg.checkpoint[0].version != 8 {
		t.Fatalf("checkpoint %+v, want the complete 2-part set of version 8", seg.checkpoint)
	}
}
