package table

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/loglake/loglake/storage"
)

// VacuumRun is the record of a table's last VACUUM, kept at
// _loglake/maintenance/vacuum.json (VACUUM writes nothing to the log).
type VacuumRun struct {
	Time         time.Time `json:"time"`
	Version      int64     `json:"version"`
	Retain       string    `json:"retain"`
	FilesDeleted int64     `json:"num_deleted_files"`
	BytesDeleted int64     `json:"size_of_deleted_files"`
}

// LastVacuum returns the record of the table's last VACUUM; ok is false
// when none is recorded (VACUUM never ran here, or could not record it).
func (t *Table) LastVacuum(ctx context.Context) (run VacuumRun, ok bool, err error) {
	data, err := t.bucket.Get(ctx, vacuumStateKey)
	if errors.Is(err, storage.ErrNotFound) {
		return VacuumRun{}, false, nil
	}
	if err != nil {
		return VacuumRun{}, false, err
	}
	if err := json.Unmarshal(data, &run); err != nil {
		return VacuumRun{}, false, fmt.Errorf("table: %s: %w", vacuumStateKey, err)
	}
	return run, true, nil
}
