package table

import (
	"bytes"
	"strings"
	"testing"
)

// TestCommitRoundTripKeepsForeignFields: an action type this package does
// not know and commitInfo fields it does not name come back out of
// encodeCommit as they went into decodeCommit (a clone replays foreign
// commits through them; they used to become "{}" and vanish).
func TestCommitRoundTripKeepsForeignFields(t *testing.T) {
	in := strings.Join([]string{
		`{"commitInfo":{"timestamp":1700000000000,"operation":"WRITE","clusterId":"0101-abc","userName":"a@example.com","notebook":{"notebookId":"42"},"isolationLevel":"WriteSerializable"}}`,
		`{"someFutureAction":{"x":[1,2],"y":"<&>"}}`,
		`{"add":{"path":"a.parquet","partitionValues":{},"size":1,"modificationTime":2,"dataChange":true}}`,
	}, "\n") + "\n"
	actions, err := decodeCommit([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	ci := actions[0].CommitInfo
	if ci.Operation != "WRITE" || len(ci.Extra) != 4 || string(ci.Extra["clusterId"]) != `"0101-abc"` {
		t.Fatalf("commitInfo: %+v", ci)
	}
	out, err := encodeCommit(actions)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(out), "\n")
	if lines[1] != `{"someFutureAction":{"x":[1,2],"y":"<&>"}}` {
		t.Fatalf("unknown action written as %s", lines[1])
	}
	want := `{"timestamp":1700000000000,"operation":"WRITE","clusterId":"0101-abc","isolationLevel":"WriteSerializable","notebook":{"notebookId":"42"},"userName":"a@example.com"}`
	if !strings.Contains(lines[0], want) {
		t.Fatalf("commitInfo written as %s\nwant %s", lines[0], want)
	}
	again, err := decodeCommit(out)
	if err != nil {
		t.Fatal(err)
	}
	if out2, _ := encodeCommit(again); !bytes.Equal(out, out2) {
		t.Fatalf("second round trip differs:\n%s\n%s", out, out2)
	}
	// A key that differs from a named field only in case is that field
	// (encoding/json's rule), not an extra one written beside it.
	mixed, err := decodeCommit([]byte(`{"commitInfo":{"timestamp":1,"Operation":"MERGE","clusterId":"c"}}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := encodeCommit(mixed); string(out) != `{"commitInfo":{"timestamp":1,"operation":"MERGE","clusterId":"c"}}`+"\n" {
		t.Fatalf("case-folded key: %s", out)
	}
	// A commitInfo without foreign fields is written as before.
	plain, err := encodeCommit([]Action{{CommitInfo: &CommitInfo{Timestamp: 5, Operation: "OPTIMIZE"}}})
	if err != nil || string(plain) != `{"commitInfo":{"timestamp":5,"operation":"OPTIMIZE"}}`+"\n" {
		t.Fatalf("plain commitInfo: %s, %v", plain, err)
	}
}
