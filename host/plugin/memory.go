package plugin

import (
	"context"

	"github.com/tetratelabs/wazero/experimental"
)

// withGuestMemory makes the instances created with ctx take their linear
// memory from the engine's pool (memory_linux.go); elsewhere wazero's default
// allocation is kept.
func (e *Engine) withGuestMemory(ctx context.Context) context.Context {
	if a := e.memory.allocator(); a != nil {
		return experimental.WithMemoryAllocator(ctx, a)
	}
	return ctx
}
