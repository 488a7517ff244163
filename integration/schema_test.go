package integration

import (
	"testing"

	"github.com/loglake/loglake/egress/egresstest"
	"github.com/loglake/loglake/storage"
)

// TestEgressDivergingSchemas runs egress's diverging-schemas scenario
// (egresstest.RunDiverging: six regions whose tables gain columns, two with
// the same column as long and as string, all egressing at once; every
// value exactly once, in its column or in _rescued_data) on the S3
// emulator, whose conditional writes decide the ADD COLUMNS races. file://
// and mem:// run in go test ./egress.
func TestEgressDivergingSchemas(t *testing.T) {
	for _, be := range Backends(t) {
		if be.Name != "s3" {
			continue
		}
		t.Run(be.Name, func(t *testing.T) {
			base := UniqueURL(t, be.BaseURL)
			egresstest.RunDiverging(t, func(name string) storage.Bucket { return egOpen(t, egSub(t, base, name)) },
				egOpen(t, egSub(t, base, "central")), egresstest.DivergentRegions(0), 4, 30)
		})
	}
}
