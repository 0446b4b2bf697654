package sdk

// gcLimit returns the Go memory limit RunWithMemoryLimit sets for a guest
// whose memory limit is memoryMB MiB: three quarters of it, the rest left for
// what the limit does not bound tightly (goroutine stacks, the runtime's own
// data, fragmentation). ok is false when memoryMB is not positive (no limit
// declared) or too small to leave the collector room (under 16 MiB); over
// 4096 (all that wasm32 can address) it counts as 4096.
//
// Why: the host makes a fresh instance for every run and drops all of its
// memory at the end, so garbage collected before memory runs short is work
// for nothing. Go's default collects each time the heap doubles from 4 MB; a
// reference plugin on a 12 MB document collected three times, about a tenth
// of its run in WebAssembly, where the collector has no second thread
// (BENCHMARKS.md). With the collector off and a memory limit, Go collects
// only near the limit, and then as often as it must to stay under it: a run
// whose live data fits never fails for the change, and one that holds more
// than the default would have let it (up to twice its live data) now fits.
func gcLimit(memoryMB int64) (limit int64, ok bool) {
	if memoryMB < 16 {
		return 0, false
	}
	memoryMB = min(memoryMB, 4096)
	return memoryMB << 20 / 4 * 3, true
}
