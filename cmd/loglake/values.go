package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/loglake/loglake/regions"
	"github.com/loglake/loglake/table/expr"
)

// sizeValue is a byte-size flag with the YAML's syntax (regions.ParseSize):
// 10GiB, 128MiB, 500KB or a plain number of bytes.
type sizeValue int64

// sizeVar registers a size flag.
func sizeVar(f *pflag.FlagSet, p *int64, name string, def int64, usage string) {
	*p = def
	f.Var((*sizeValue)(p), name, usage)
}

func (v *sizeValue) Set(s string) error {
	n, err := regions.ParseSize(s)
	if err != nil {
		return err
	}
	*v = sizeValue(n)
	return nil
}

func (v *sizeValue) Type() string { return "size" }

func (v *sizeValue) String() string { return formatSize(int64(*v)) }

// formatSize prints n in the largest binary unit that divides it exactly,
// so that defaults in --help read as a user would type them.
func formatSize(n int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.m == 0 {
			return fmt.Sprintf("%d%s", n/u.m, u.s)
		}
	}
	return fmt.Sprint(n)
}

// durationValue is a duration flag with the YAML's syntax (500ms, 30s,
// 1m); negative durations are refused as they are in YAML.
type durationValue time.Duration

// durationVar registers a duration flag.
func durationVar(f *pflag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	f.Var((*durationValue)(p), name, usage)
}

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("want a non-negative duration like 500ms, 30s or 1m, got %q", s)
	}
	*v = durationValue(d)
	return nil
}

func (v *durationValue) Type() string { return "duration" }

func (v *durationValue) String() string { return time.Duration(*v).String() }

// predicateValue is a --where flag: the predicate is parsed when the flag is
// set, so a syntax error is bad usage (exit 2) that names the flag.
type predicateValue string

// predicateVar registers a predicate flag.
func predicateVar(f *pflag.FlagSet, p *string, name, usage string) {
	f.Var((*predicateValue)(p), name, usage)
}

func (v *predicateValue) Set(s string) error {
	if strings.TrimSpace(s) != "" {
		if _, err := expr.Parse(s); err != nil {
			return err
		}
	}
	*v = predicateValue(s)
	return nil
}

func (v *predicateValue) Type() string { return "predicate" }

func (v *predicateValue) String() string { return string(*v) }

// countValue is an integer flag with a lower bound: a value below it is bad
// usage (exit 2), never quietly taken as the default.
type countValue[T int | int64] struct {
	p   *T
	min T
}

// countVar registers an integer flag whose values are at least min (def
// may be below it: the value of a flag not given).
func countVar[T int | int64](f *pflag.FlagSet, p *T, name string, def, min T, usage string) {
	*p = def
	f.Var(&countValue[T]{p: p, min: min}, name, usage)
}

func (v *countValue[T]) Set(s string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < int64(v.min) || int64(T(n)) != n {
		return fmt.Errorf("want a whole number of %d or more, got %q", v.min, s)
	}
	*v.p = T(n)
	return nil
}

func (v *countValue[T]) Type() string { return "int" }

func (v *countValue[T]) String() string {
	if v == nil || v.p == nil {
		return "0"
	}
	return strconv.FormatInt(int64(*v.p), 10)
}
