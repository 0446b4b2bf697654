//go:build !linux

package plugin

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryPool is empty off Linux: wazero allocates guest memory itself (see
// memory_linux.go).
type memoryPool struct{}

func newMemoryPool(func(idleBytes int64)) *memoryPool { return &memoryPool{} }

func (*memoryPool) allocator() experimental.MemoryAllocator { return nil }

func (*memoryPool) Close() {}

var mappedBytes atomic.Int64
