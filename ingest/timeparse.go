// Timestamps and dates in log text parsed to µs since the epoch, UTC: the
// common RFC 3339 form and epoch numbers (in a configured unit) by hand,
// since they are parsed on every row and time.Parse allocates; the other
// layouts through time.Parse; and the calendar arithmetic they need.

package ingest

import (
	"encoding/binary"
	"math"
	"time"
)

const (
	minMicros int64 = -62135596800_000000 // 0001-01-01T00:00:00Z
	maxMicros int64 = 253402300799_999999 // 9999-12-31T23:59:59.999999Z
)

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// daysFromCivil returns days since 1970-01-01 of a proleptic Gregorian date.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func digits(b []byte) (int64, bool) {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, len(b) > 0
}

// parseDate parses YYYY-MM-DD to days since the epoch.
func parseDate(b []byte) (int32, bool) {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	y, ok1 := digits(b[0:4])
	m, ok2 := digits(b[5:7])
	d, ok3 := digits(b[8:10])
	if !ok1 || !ok2 || !ok3 || y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return int32(daysFromCivil(y, m, d)), true
}

// parseTimeText parses an RFC 3339 timestamp (also with a space for 'T',
// and without a zone, which means UTC) or a numeric epoch, to µs UTC. hc
// (may be nil) is the caller's hourCache.
func parseTimeText(b []byte, unit string, hc *hourCache) (int64, bool) {
	if us, ok := fastRFC3339(b, hc); ok {
		return us, true
	}
	if len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
		s := scanner{b: b}
		if raw, isInt, err := s.number(); err == nil && s.pos == len(b) {
			return epochMicros(raw, isInt, unit)
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02 15:04:05.999999999Z07:00", time.RFC1123Z} {
		if t, err := time.Parse(layout, string(b)); err == nil {
			// The instant must be in range in UTC, where its date
			// partition is: 9999-12-31T23:30:00-01:00 is year 10000.
			us := t.UnixMicro()
			if us < minMicros || us > maxMicros {
				return 0, false
			}
			return us, true
		}
	}
	return 0, false
}

// hourCache holds dates and hours of timestamps fastRFC3339 parsed: a log's
// lines come in time order, so most of its timestamps repeat one and need
// only their minutes, seconds, fraction and zone parsed. It keeps one per
// hour of the day modulo 8, for logs whose lines mix a few zones (local
// hours), and ignores the date-time separator, which some logs vary.
type hourCache [8]hourEntry

type hourEntry struct {
	key [2]uint64 // of "YYYY-MM-DDTHH": hourKey
	sec int64     // those, as seconds since the epoch (before any zone offset)
	ok  bool
}

// hourKey is b[:13] ("YYYY-MM-DDTHH", len(b) >= 13) as two words, the
// separator b[10] left out.
func hourKey(b []byte) [2]uint64 {
	return [2]uint64{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[5:]) &^ (0xff << 40)}
}

// fastRFC3339 parses YYYY-MM-DD[T ]HH:MM:SS[.f{1,9}][Z|±HH:MM] without
// allocating; anything else is left to the slow path. hc, when not nil,
// holds the date and hour of the last timestamp and is updated.
func fastRFC3339(b []byte, hc *hourCache) (int64, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	var sec int64
	var hour *hourEntry
	var key [2]uint64
	if hc != nil {
		hour, key = &hc[((b[11]-'0')*10+b[12]-'0')&7], hourKey(b)
	}
	if hour != nil && hour.ok && key == hour.key {
		sec = hour.sec
	} else {
		y, ok1 := digits(b[0:4])
		mo, ok2 := digits(b[5:7])
		d, ok3 := digits(b[8:10])
		h, ok4 := digits(b[11:13])
		if !ok1 || !ok2 || !ok3 || !ok4 || y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 {
			return 0, false
		}
		sec = daysFromCivil(y, mo, d)*86400 + h*3600
		if hour != nil {
			hour.key, hour.sec, hour.ok = key, sec, true
		}
	}
	mi, ok1 := digits(b[14:16])
	s, ok2 := digits(b[17:19])
	if !ok1 || !ok2 || mi > 59 || s > 59 {
		return 0, false
	}
	rest := b[19:]
	var frac int64
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			if i <= 6 { // microseconds: later digits are truncated
				frac = frac*10 + int64(rest[i]-'0')
			}
			i++
		}
		if i == 1 || i > 10 {
			return 0, false
		}
		frac *= pow10[6-min(i-1, 6)] // to µs
		rest = rest[i:]
	}
	var off int64
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		off = (oh*60 + om) * 60
		if rest[0] == '-' {
			off = -off
		}
	default:
		return 0, false
	}
	sec += mi*60 + s - off
	us := sec*1e6 + frac
	if us < minMicros || us > maxMicros {
		return 0, false
	}
	return us, true
}

// epochMicros converts a numeric epoch to µs. unit "s", "ms", "us", "ns"
// fixes the unit; otherwise it is inferred from the magnitude: below 1e11
// seconds, below 1e14 milliseconds, below 1e17 microseconds, else
// nanoseconds.
func epochMicros(raw []byte, isInt bool, unit string) (int64, bool) {
	var f float64
	var v int64
	if isInt {
		var ok bool
		if v, ok = parseIntBytes(raw); !ok {
			return 0, false
		}
		f = float64(v)
	} else {
		var ok bool
		if f, ok = parseFloatBytes(raw); !ok || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, false
		}
	}
	if unit == "" || unit == "auto" {
		switch a := math.Abs(f); {
		case a < 1e11:
			unit = "s"
		case a < 1e14:
			unit = "ms"
		case a < 1e17:
			unit = "us"
		default:
			unit = "ns"
		}
	}
	var us int64
	if isInt {
		switch unit {
		case "s":
			if v > maxMicros/1e6 || v < minMicros/1e6 {
				return 0, false
			}
			us = v * 1e6
		case "ms":
			if v > maxMicros/1e3 || v < minMicros/1e3 {
				return 0, false
			}
			us = v * 1e3
		case "us":
			us = v
		case "ns":
			us = floorDiv(v, 1e3)
		}
	} else {
		var mul float64
		switch unit {
		case "s":
			mul = 1e6
		case "ms":
			mul = 1e3
		case "us":
			mul = 1
		case "ns":
			mul = 1e-3
		}
		x := math.Floor(f*mul + 0.5)
		if x > float64(maxMicros) || x < float64(minMicros) {
			return 0, false
		}
		us = int64(x)
	}
	if us < minMicros || us > maxMicros {
		return 0, false
	}
	return us, true
}

// pow10[n] is 10ⁿ, for scaling up to six fraction digits to µs.
var pow10 = [7]int64{1, 10, 100, 1000, 10000, 100000, 1000000}
