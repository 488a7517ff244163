package replicate

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/loglake/loglake/storage"
)

// pipelineStatePrefixes hold what loglake's writers keep beside a table's
// log: ingest's batch manifests and file index (which landing files are in
// the table), egress's route sets (which regional version each took effect
// at). A replica without them cannot take its writers after a failover:
// ingest finds committed batches without their manifests, egress route
// switches in commits before the replica's log starts.
var pipelineStatePrefixes = []string{"_loglake/ingest/", "_loglake/egress/"}

// syncPipelineState mirrors the source's pipeline state into an exact
// replica: objects it lacks or holds at another size are copied, objects
// the source no longer has are deleted. A fork keeps its own (it has
// writers of its own), so it is never called for one. The state may be a
// little ahead of the cloned version (a batch planned since): a writer
// resuming on the replica finishes that batch from its manifest.
func (c *cloner) syncPipelineState(ctx context.Context) error {
	for _, prefix := range pipelineStatePrefixes {
		src, err := listSizes(ctx, c.src, prefix)
		if err != nil {
			return fmt.Errorf("replicate: list source %s: %w", c.src.URL(), err)
		}
		dst, err := listSizes(ctx, c.dst, prefix)
		if err != nil {
			return fmt.Errorf("replicate: list destination %s: %w", c.dst.URL(), err)
		}
		for key, size := range src {
			if have, ok := dst[key]; ok && have == size {
				continue
			}
			err := c.dst.Copy(ctx, key, c.src, key)
			if errors.Is(err, storage.ErrNotFound) {
				continue // removed by its writer since the listing
			}
			if err != nil {
				return fmt.Errorf("replicate: copy %s to %s: %w", key, c.dst.URL(), err)
			}
			c.res.StateFilesCopied++
		}
		for key := range dst {
			if _, ok := src[key]; !ok {
				if err := c.dst.Delete(ctx, key); err != nil {
					return fmt.Errorf("replicate: delete %s from %s: %w", key, c.dst.URL(), err)
				}
			}
		}
	}
	return nil
}

func listSizes(ctx context.Context, b storage.Bucket, prefix string) (map[string]int64, error) {
	out := map[string]int64{}
	it := b.List(ctx, prefix, "")
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out[o.Key] = o.Size
	}
}
