package plugin

import (
	"context"

	"github.com/tetratelabs/wazero/experimental"
)

// withGuestMemory makes the instances created with ctx use guestMemory for
// their linear memory (memory_linux.go); elsewhere wazero's default is kept.
func withGuestMemory(ctx context.Context) context.Context {
	return experimental.WithMemoryAllocator(ctx, guestMemory)
}
