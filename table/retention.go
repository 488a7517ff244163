package table

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Retention defaults, as Delta's.
const (
	// DefaultDeletedFileRetention is delta.deletedFileRetentionDuration's
	// default: how long removed files stay for time travel and slow readers.
	DefaultDeletedFileRetention = 7 * 24 * time.Hour
	// DefaultLogRetention is delta.logRetentionDuration's default: how long
	// commits and checkpoints stay in _delta_log/.
	DefaultLogRetention = 30 * 24 * time.Hour
)

// ParseInterval parses a retention property in Spark's interval syntax, as
// Delta stores them ("interval 7 days", "interval 1 week 2 hours",
// "30 days"), or a Go duration ("168h").
func ParseInterval(s string) (time.Duration, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	if d, err := time.ParseDuration(in); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("table: negative interval %q", s)
		}
		return d, nil
	}
	fields := strings.Fields(in)
	if len(fields) > 0 && fields[0] == "interval" {
		fields = fields[1:]
	}
	if len(fields) == 0 || len(fields)%2 != 0 {
		return 0, fmt.Errorf("table: bad interval %q: want e.g. \"interval 7 days\"", s)
	}
	var total time.Duration
	for i := 0; i < len(fields); i += 2 {
		n, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("table: bad interval %q: %q is not a non-negative whole number", s, fields[i])
		}
		unit, ok := intervalUnits[strings.TrimSuffix(fields[i+1], "s")]
		if !ok {
			return 0, fmt.Errorf("table: bad interval %q: unknown unit %q", s, fields[i+1])
		}
		// The sum, not only each term, stays within 2^62 ns (146 years):
		// wrapped around it would be a negative retention.
		if n > int64(1<<62)/int64(unit) || time.Duration(n)*unit > 1<<62-total {
			return 0, fmt.Errorf("table: interval %q is too long", s)
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}

var intervalUnits = map[string]time.Duration{
	"week": 7 * 24 * time.Hour, "day": 24 * time.Hour, "hour": time.Hour,
	"minute": time.Minute, "second": time.Second, "millisecond": time.Millisecond,
	"microsecond": time.Microsecond,
}

// retentionProperty reads a retention table property, or def when unset.
func retentionProperty(md *Metadata, key string, def time.Duration) (time.Duration, error) {
	if md == nil {
		return def, nil
	}
	v, ok := md.Configuration[key]
	if !ok || v == "" {
		return def, nil
	}
	d, err := ParseInterval(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return d, nil
}

// DeletedFileRetention is the table's delta.deletedFileRetentionDuration.
func (s *Snapshot) DeletedFileRetention() (time.Duration, error) {
	return retentionProperty(s.metadata, "delta.deletedFileRetentionDuration", DefaultDeletedFileRetention)
}

// LogRetention is the table's delta.logRetentionDuration.
func (s *Snapshot) LogRetention() (time.Duration, error) {
	return retentionProperty(s.metadata, "delta.logRetentionDuration", DefaultLogRetention)
}
