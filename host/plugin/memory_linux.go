package plugin

import (
	"sync/atomic"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// guestMemory backs each instance's linear memory with its own anonymous
// mapping: the whole limit is reserved up front without access rights, and
// memory.grow makes the next pages readable and writable in place.
//
// wazero's default grows a Go slice with append, which copies all of the
// guest's memory at each growth; a Go guest that parses a 12 MB document grows
// its heap to a few hundred MB in small steps, and those copies were about a
// tenth of its run (see RATIONALE.md "Guest memory is mapped, not
// appended"). The mapping also keeps guest memory out of the Go heap: the
// host's GC neither scans nor paces on it, and it goes back to the system as
// soon as the instance is closed.
//
// Only the part made writable counts against the system's commit limit, so
// reserving the limit costs address space, not memory.
var guestMemory experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(allocateGuestMemory)

// mappedBytes is the address space currently reserved for guest memories;
// tests use it to check that every instance gives its mapping back.
var mappedBytes atomic.Int64

func allocateGuestMemory(capacity, max uint64) experimental.LinearMemory {
	if max == 0 || max > 1<<32 {
		return &sliceMemory{buf: make([]byte, 0, capacity)}
	}
	region, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		// Out of address space (e.g. ulimit -v): fall back to the heap.
		return &sliceMemory{buf: make([]byte, 0, capacity)}
	}
	mappedBytes.Add(int64(len(region)))
	return &mappedMemory{region: region}
}

// mappedMemory is one instance's reserved region; [0, writable) is usable.
type mappedMemory struct {
	region   []byte
	writable int
}

func (m *mappedMemory) Reallocate(size uint64) []byte {
	if m.region == nil || size > uint64(len(m.region)) {
		return nil
	}
	if n := int(size); n > m.writable {
		// Wasm pages (64 KiB) are whole OS pages, so size is page aligned.
		if err := syscall.Mprotect(m.region[m.writable:n], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return nil // memory.grow returns -1 to the guest
		}
		m.writable = n
	}
	// The capacity stops at the writable end: nothing may append into the
	// reserved, inaccessible rest.
	return m.region[:size:size]
}

func (m *mappedMemory) Free() {
	if m.region == nil {
		return
	}
	// wazero frees only once no guest code runs on the instance: after its
	// call returned, or from a host function that does not return (see
	// run.outOfBounds).
	if err := syscall.Munmap(m.region); err == nil {
		mappedBytes.Add(-int64(len(m.region)))
	}
	m.region, m.writable = nil, 0
}

// sliceMemory is the fallback: wazero's own behaviour, growth by append.
type sliceMemory struct{ buf []byte }

func (m *sliceMemory) Reallocate(size uint64) []byte {
	if n := int(size); n > len(m.buf) {
		m.buf = append(m.buf, make([]byte, n-len(m.buf))...)
	}
	return m.buf[:size]
}

func (m *sliceMemory) Free() { m.buf = nil }
