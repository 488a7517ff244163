package regions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Maintenance defaults.
const (
	DefaultMaintenanceInterval = time.Hour
	DefaultMaintenanceMinFiles = 50
)

// MaintenanceConfig configures the daemon's table maintenance: OPTIMIZE of
// partitions with enough small files, VACUUM and log cleanup, on a
// schedule. Off by default.
type MaintenanceConfig struct {
	// Enabled runs maintenance (default false).
	Enabled bool `yaml:"enabled"`
	// Interval between runs (default DefaultMaintenanceInterval). At most
	// one instance of the region maintains a table per interval: a
	// put-if-absent lease per interval slot under _loglake/maintenance/.
	Interval time.Duration `yaml:"interval"`
	// MinFiles: a partition is compacted when it has at least this many
	// files smaller than TargetFileSize (default DefaultMaintenanceMinFiles).
	MinFiles int `yaml:"min_files"`
	// TargetFileSize is OPTIMIZE's target (default 128MiB).
	TargetFileSize Size `yaml:"target_file_size"`
	// SortBy clusters compacted rows (e.g. [region, ts] on the central table).
	SortBy []string `yaml:"sort_by"`
	// Central also maintains the central table (several regions configured
	// alike share it through the lease).
	Central bool `yaml:"central"`
	// NoVacuum turns VACUUM off (log cleanup and OPTIMIZE still run).
	NoVacuum bool `yaml:"no_vacuum"`
}

// MaintenanceReport is what one maintenance pass did to one table.
type MaintenanceReport struct {
	Table    string
	Skipped  bool // another instance holds this interval's lease, or Busy
	Busy     bool // a pass of an earlier interval is still running
	Optimize *table.OptimizeResult
	Vacuum   *table.VacuumResult
	Log      *table.LogCleanupResult
	// KeepFrom is the oldest regional version egress still has to read
	// (0 with no central table: no constraint; 0 with one: egress has read
	// nothing, so the log is not cleaned); cleanup never went past it.
	KeepFrom int64
}

// leaseKey is the put-if-absent lease of one interval slot: whoever
// creates it maintains the table for that slot. Slots are derived from the
// clock, so no lease ever needs expiring or stealing; old ones are deleted.
// doneKey marks a slot's pass finished (or skipped): a slot's winner runs
// only when every recent slot is done, so a pass that outlasts its interval
// never has a second one beside it. A pass that never finished (its
// process died) stops blocking after staleSlots intervals.
func leaseKey(slot int64) string {
	return fmt.Sprintf("_loglake/maintenance/lease/%020d", slot)
}

func doneKey(slot int64) string { return leaseKey(slot) + ".done" }

const staleSlots = 4

// previousRunning reports whether a pass of one of the staleSlots slots
// before slot took its lease and has not finished.
func previousRunning(ctx context.Context, b storage.Bucket, slot int64) (bool, error) {
	for s := slot - staleSlots; s < slot; s++ {
		if _, err := b.Stat(ctx, leaseKey(s)); errors.Is(err, storage.ErrNotFound) {
			continue
		} else if err != nil {
			return false, err
		}
		if _, err := b.Stat(ctx, doneKey(s)); errors.Is(err, storage.ErrNotFound) {
			return true, nil
		} else if err != nil {
			return false, err
		}
	}
	return false, nil
}

// Maintain runs one maintenance pass over b's table at the time clock
// tells, unless another instance already took this interval's lease. The
// clock also dates the pass's commits and retention checks (time.Now in the
// daemon; simulations inject a fake one). central, when set, means b is a
// regional table whose egress streams (its txn in central, or with
// egress.routes — where there is no central — each route's txn in its
// table) bound VACUUM and log cleanup: nothing egress has not read yet is
// ever cleaned, however far behind it is.
func Maintain(ctx context.Context, cfg *Config, b storage.Bucket, central storage.Bucket, clock func() time.Time, log *slog.Logger) (*MaintenanceReport, error) {
	mt := cfg.Maintenance
	now := clock()
	rep := &MaintenanceReport{Table: b.URL()}
	slot := now.UnixNano() / int64(mt.Interval)
	err := b.PutIfAbsent(ctx, leaseKey(slot), []byte(strconv.FormatInt(now.UnixMilli(), 10)))
	if errors.Is(err, storage.ErrExists) {
		rep.Skipped = true
		return rep, nil
	}
	if err != nil {
		return nil, fmt.Errorf("regions: maintenance lease: %w", err)
	}
	// Done (or skipped): later slots may run. A failed write only delays
	// them by staleSlots intervals.
	defer func() { _ = b.Put(context.WithoutCancel(ctx), doneKey(slot), nil) }()
	busy, err := previousRunning(ctx, b, slot)
	if err != nil {
		return nil, fmt.Errorf("regions: maintenance lease: %w", err)
	}
	if busy {
		rep.Skipped, rep.Busy = true, true
		return rep, nil
	}
	// Leases of old slots are only history: keep the last few.
	for s := slot - 16; s < slot-staleSlots; s++ {
		_ = b.Delete(ctx, leaseKey(s))
		_ = b.Delete(ctx, doneKey(s))
	}
	t, err := table.Open(ctx, b, &table.Options{Logger: log, NoLogCleanup: true, Now: clock})
	if errors.Is(err, table.ErrNoTable) {
		return rep, nil // nothing ingested yet
	}
	if err != nil {
		return nil, err
	}
	rep.Optimize, err = t.Optimize(ctx, &table.OptimizeOptions{
		MinFiles: mt.MinFiles, TargetSize: int64(mt.TargetFileSize), SortBy: mt.SortBy})
	if err != nil {
		return rep, fmt.Errorf("regions: optimize %s: %w", b.URL(), err)
	}
	guard := newGuard(&Progress{Consumers: []ConsumerProgress{}})
	if central != nil || (cfg.egressed() && cfg.Central == "") {
		// Every unfinished route's progress bounds the cleanup, the most
		// lagging one decides; routes removed by a switch count until they
		// have finished.
		if guard, err = egressGuard(ctx, cfg.Name, b, central, openLocation); err != nil {
			return rep, err
		}
	}
	rep.KeepFrom = guard.KeepFrom
	if !mt.NoVacuum {
		rep.Vacuum, err = t.Vacuum(ctx, guard.Vacuum(&table.VacuumOptions{Now: func() time.Time { return now }}))
		if err != nil {
			return rep, fmt.Errorf("regions: vacuum %s: %w", b.URL(), err)
		}
		if rep.Vacuum.KeptForConsumers > 0 {
			log.Warn("egress lags behind the retention; vacuum keeps the files it has not read",
				"kept_files", rep.Vacuum.KeptForConsumers, "keep_from", rep.KeepFrom)
		}
	}
	var held int
	rep.Log, held, err = guard.CleanupLog(ctx, t, &table.LogCleanupOptions{Now: func() time.Time { return now }})
	if err != nil {
		return rep, fmt.Errorf("regions: log cleanup %s: %w", b.URL(), err)
	}
	if held > 0 {
		log.Warn("egress lags behind the log retention; log cleanup keeps the commits it has not read",
			"kept_commits", held, "keep_from", rep.KeepFrom)
	}
	return rep, nil
}

// runMaintenance maintains the regional table (and the central one when
// configured) every Interval until ctx is done. Failures are logged and
// retried at the next interval: maintenance never stops the region.
func (d *Daemon) runMaintenance(ctx context.Context, bk *buckets) {
	log := d.log.With("loop", "maintenance")
	tick := time.NewTicker(d.cfg.Maintenance.Interval)
	defer tick.Stop()
	for {
		var egressed storage.Bucket
		if d.cfg.egressed() {
			// Whether or not this instance runs the egress loop: another
			// one may, and its progress bounds what may be cleaned.
			egressed = bk.central
		}
		targets := []struct{ b, central storage.Bucket }{{bk.regional, egressed}}
		if d.cfg.Maintenance.Central && bk.central != nil {
			targets = append(targets, struct{ b, central storage.Bucket }{bk.central, nil})
		}
		for _, tg := range targets {
			rep, err := Maintain(ctx, d.cfg, tg.b, tg.central, time.Now, log)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("maintenance failed; retrying next interval", "table", storage.RedactURL(tg.b.URL()), "err", err)
			case err == nil && !rep.Skipped:
				log.Info("maintenance done", "table", storage.RedactURL(tg.b.URL()),
					"optimized_files", rep.Optimize.NumRemovedFiles, "vacuumed_files", vacuumed(rep), "keep_from", rep.KeepFrom)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func vacuumed(rep *MaintenanceReport) int64 {
	if rep.Vacuum == nil {
		return 0
	}
	return rep.Vacuum.FilesDeleted
}
