package main

import (
	"fmt"
	"strconv"
)

// memoryLimitEnv carries the container's memory limit in bytes. The chart
// and the kustomize manifests set it from the downward API
// (resourceFieldRef limits.memory).
const memoryLimitEnv = "KEYPORT_MEMORY_LIMIT"

// goMemoryLimit is the soft memory limit for Go's garbage collector: nine
// tenths of the container's limit, a margin for what the runtime does not
// account for. Without it the collector lets the heap
// grow to twice the live data before it collects, so an operator whose live
// data is well under its container's limit can still be killed for memory
// when it grows. An admin's own GOMEMLIMIT wins: the runtime already applies
// it, and ok is false.
func goMemoryLimit(getenv func(string) string) (limit int64, ok bool, err error) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false, nil
	}
	v := getenv(memoryLimitEnv)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, false, fmt.Errorf("%s must be the container's memory limit in bytes, got %q", memoryLimitEnv, v)
	}
	return n / 10 * 9, true, nil
}
