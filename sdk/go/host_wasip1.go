//go:build wasip1

package sdk

import (
	"runtime/debug"
	"unsafe"
)

//go:wasmimport phasehost input_len
func hostInputLen() int32

//go:wasmimport phasehost input_read
func hostInputRead(ptr unsafe.Pointer)

//go:wasmimport phasehost output_write
func hostOutputWrite(ptr unsafe.Pointer, n int32) int32

//go:wasmimport phasehost emit
func hostEmit(phase int32, done, total int64, ptr unsafe.Pointer, n int32) int32

//go:wasmimport phasehost log
func hostLog(level int32, ptr unsafe.Pointer, n int32)

//go:wasmimport phasehost fail
func hostFail(ptr unsafe.Pointer, n int32)

//go:wasmimport phasehost cancelled
func hostCancelled() int32

// wasmHost binds Host to the ABI v1 imports.
type wasmHost struct{ input []byte }

var _ Host = (*wasmHost)(nil)

// Run executes stage with the host that loaded this module and returns the
// value for the plugin's exported run function.
func Run(stage Stage) int32 {
	return Exec(&wasmHost{}, stage)
}

// RunWithMemoryLimit is Run for a plugin whose manifest sets
// limits.memory_mb (the generated phases.MemoryMB): the guest's garbage
// collector then runs only when the heap nears three quarters of that limit,
// instead of each time the heap doubles (see gcLimit). With memoryMB 0 it is
// Run.
func RunWithMemoryLimit(stage Stage, memoryMB int64) int32 {
	if limit, ok := gcLimit(memoryMB); ok {
		debug.SetMemoryLimit(limit)
		debug.SetGCPercent(-1)
	}
	return Run(stage)
}

func (h *wasmHost) Input() []byte {
	if h.input == nil {
		n := hostInputLen()
		h.input = make([]byte, n)
		if n > 0 {
			hostInputRead(unsafe.Pointer(&h.input[0]))
		}
	}
	return h.input
}

func (h *wasmHost) WriteOutput(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if hostOutputWrite(unsafe.Pointer(&p[0]), int32(len(p))) != 0 {
		return ErrOutputLimit
	}
	return nil
}

func (h *wasmHost) Emit(p Phase, done, total int64, msg string) error {
	id := int32(-1)
	if p != nil {
		id = p.PhaseID()
	}
	return statusErr(hostEmit(id, done, total, unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg))))
}

func (h *wasmHost) Log(level Level, msg string) {
	hostLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}

func (h *wasmHost) Fail(msg string) {
	hostFail(unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}

func (h *wasmHost) Cancelled() bool { return hostCancelled() == 1 }
