//go:build !wasip1

package sdk

// Run is only meaningful inside a wasm module built with GOOS=wasip1. Natively
// it reports failure; run stages natively with Exec and an sdktest.Host.
func Run(stage Stage) int32 {
	return 1
}

// RunWithMemoryLimit is Run's native counterpart: it reports failure.
func RunWithMemoryLimit(stage Stage, memoryMB int64) int32 {
	return 1
}
