//go:build !linux

package plugin

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// guestMemory is nil: wazero's default allocator (see memory_linux.go).
var guestMemory experimental.MemoryAllocator

var mappedBytes atomic.Int64
