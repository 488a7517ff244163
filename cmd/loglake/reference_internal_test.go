package main

import (
	"runtime"
	"strconv"
)

func gomaxprocs() int     { return runtime.GOMAXPROCS(0) }
func itoa(n int) string { return strconv.Itoa(n) }
