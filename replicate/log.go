package replicate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// commitKey is the key of commit v in a Delta log.
func commitKey(v int64) string { return fmt.Sprintf("_delta_log/%020d.json", v) }

// encodeActions renders actions as a Delta commit file: one JSON object per
// line, HTML characters unescaped (as Spark and delta-rs write them).
func encodeActions(actions []table.Action) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range actions {
		if err := enc.Encode(&actions[i]); err != nil {
			return nil, fmt.Errorf("replicate: encode commit: %w", err)
		}
	}
	return buf.Bytes(), nil
}

// readActions reads commit v of the table in b.
func readActions(ctx context.Context, b storage.Bucket, v int64) ([]table.Action, error) {
	data, err := b.Get(ctx, commitKey(v))
	if err != nil {
		return nil, err
	}
	var out []table.Action
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<30)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var a table.Action
		if err := json.Unmarshal(line, &a); err != nil {
			return nil, fmt.Errorf("%w: commit %d: %v", table.ErrCorrupt, v, err)
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: commit %d: %v", table.ErrCorrupt, v, err)
	}
	return out, nil
}
