package plugin

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero/experimental"
)

// Each instance's linear memory is its own anonymous mapping: the whole
// limit is reserved up front without access rights, and memory.grow makes
// the next pages readable and writable in place.
//
// wazero's default grows a Go slice with append, which copies all of the
// guest's memory at each growth; a Go guest that parses a 12 MB document grows
// its heap to a few hundred MB in small steps, and those copies were about a
// tenth of its run (see RATIONALE.md "Guest memory is mapped, not
// appended"). The mapping also keeps guest memory out of the Go heap: the
// host's GC neither scans nor paces on it.
//
// Only the part made writable counts against the system's commit limit, so
// reserving the limit costs address space, not memory.
//
// A closed instance's mapping is zeroed and kept for the next instance
// (memoryPool): the first touch of each fresh 4 KiB page is a page fault,
// and a Go guest touches its whole heap, 37-51 MB in a reference plugin's run
// on a large input, about 10,000 faults that cost 20-30 ms; clearing the
// same memory costs about 1-2 ms. The clearing is done by a goroutine of the
// pool's, off the path of the run that closed the instance; an instance
// made while every mapping of its size is still dirty gets a new one, so
// that back-to-back runs settle on two mappings taking turns and never wait
// for a clear. wazero checks every guest access against the
// memory's current length in software (it uses no guard pages), so the
// writable pages past that length that a reused mapping may have are out of
// the guest's reach.

// Defaults of the pool of idle guest mappings.
const (
	// poolKeepResident is how much of an idle mapping is kept in memory
	// (zeroed by the host); pages past it go back to the system
	// (MADV_DONTNEED: they read as zero and fault again when touched).
	poolKeepResident = 64 << 20
	// poolMaxIdle bounds the number of idle mappings, and with
	// poolKeepResident the memory they hold (512 MiB at most).
	poolMaxIdle = 8
	// poolIdleTimeout is how long an idle mapping is kept unused before it
	// is unmapped.
	poolIdleTimeout = 30 * time.Second
)

// clearChunk is how much of a mapping is cleared in one call.
const clearChunk = 1 << 20

// mappedBytes is the address space currently reserved for guest memories,
// idle mappings included; tests use it to check that nothing is left mapped
// once an engine is closed.
var mappedBytes atomic.Int64

// memoryPool allocates guest memories as mappings (a wazero
// experimental.MemoryAllocator) and keeps those of closed instances for
// reuse. One pool serves an Engine; Close unmaps what it keeps.
type memoryPool struct {
	keepResident int           // bytes of an idle mapping kept in memory
	maxIdle      int           // idle mappings kept at most
	idleTimeout  time.Duration // an idle mapping unused this long is unmapped

	report func(idleBytes int64) // told the idle total after each change; may be nil

	mu        sync.Mutex
	idle      []*mappedMemory // cleared, most recently freed last
	idleBytes int64           // the idle mappings' resident parts, at most
	timer     *time.Timer     // trims idle mappings; nil when none is idle
	closed    bool

	// dirty are freed mappings not cleared yet, oldest first; the cleaner
	// goroutine, running while cleaning is set, clears them into idle.
	// settled is signalled when it stops.
	dirty    []*mappedMemory
	cleaning bool
	settled  *sync.Cond
	// clearHook, for tests, is called by the cleaner with a mapping in hand.
	clearHook func()
}

func newMemoryPool(report func(idleBytes int64)) *memoryPool {
	p := &memoryPool{keepResident: poolKeepResident, maxIdle: poolMaxIdle, idleTimeout: poolIdleTimeout, report: report}
	p.settled = sync.NewCond(&p.mu)
	return p
}

// removed accounts for m leaving the idle list; p.mu is held.
func (p *memoryPool) removed(m *mappedMemory) {
	p.idleBytes -= int64(m.kept)
	if p.report != nil {
		p.report(p.idleBytes)
	}
}

// allocator returns the pool as wazero's allocator.
func (p *memoryPool) allocator() experimental.MemoryAllocator { return p }

// Allocate implements experimental.MemoryAllocator: an idle mapping of the
// same size if there is one, else a new one. max is the instance's memory
// limit, which the engine always sets.
func (p *memoryPool) Allocate(capacity, max uint64) experimental.LinearMemory {
	if max == 0 || max > 1<<32 {
		return &sliceMemory{buf: make([]byte, 0, capacity)}
	}
	if m := p.take(int(max)); m != nil {
		return m
	}
	region, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		// Out of address space (e.g. ulimit -v): fall back to the heap.
		return &sliceMemory{buf: make([]byte, 0, capacity)}
	}
	mappedBytes.Add(int64(len(region)))
	return &mappedMemory{pool: p, region: region}
}

// take removes and returns the most recently freed idle (cleared) mapping
// of size bytes, or nil.
func (p *memoryPool) take(size int) *mappedMemory {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		if m := p.idle[i]; len(m.region) == size {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			p.removed(m)
			return m
		}
	}
	return nil
}

// put takes m, whose instance is closed, for reuse, to be cleared by the
// cleaner; false when the pool is closed or full, and m must be unmapped.
func (p *memoryPool) put(m *mappedMemory) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle)+len(p.dirty) >= p.maxIdle {
		return false
	}
	p.dirty = append(p.dirty, m)
	if !p.cleaning {
		p.cleaning = true
		go p.clean()
	}
	return true
}

// clean clears the dirty mappings into the idle list, oldest first, until
// none is left.
func (p *memoryPool) clean() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.dirty) > 0 && !p.closed {
		m := p.dirty[0]
		p.dirty = append(p.dirty[:0], p.dirty[1:]...)
		p.mu.Unlock()
		if p.clearHook != nil {
			p.clearHook()
		}
		ok := m.clear(p.keepResident)
		p.mu.Lock()
		if !ok || p.closed || len(p.idle) >= p.maxIdle {
			m.unmap()
			continue
		}
		m.idleSince = time.Now()
		p.idle = append(p.idle, m)
		p.idleBytes += int64(m.kept)
		if p.report != nil {
			p.report(p.idleBytes)
		}
		if p.timer == nil {
			p.timer = time.AfterFunc(p.idleTimeout, p.trim)
		}
	}
	p.cleaning = false
	p.settled.Broadcast()
}

// trim unmaps the mappings idle for idleTimeout or more, and sets the timer
// for the next one.
func (p *memoryPool) trim() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = nil
	if p.closed {
		return
	}
	now := time.Now()
	kept := p.idle[:0]
	for _, m := range p.idle {
		if now.Sub(m.idleSince) >= p.idleTimeout {
			p.removed(m)
			m.unmap()
		} else {
			kept = append(kept, m)
		}
	}
	clear(p.idle[len(kept):])
	p.idle = kept
	if len(kept) > 0 {
		// The oldest is first: idle mappings are appended as they are freed.
		p.timer = time.AfterFunc(p.idleTimeout-now.Sub(kept[0].idleSince), p.trim)
	}
}

// Close unmaps the idle and dirty mappings, after the cleaner has stopped;
// mappings freed afterwards are unmapped at once. Close it after the
// runtimes whose instances it serves.
func (p *memoryPool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for p.cleaning {
		p.settled.Wait()
	}
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	for _, m := range p.idle {
		p.removed(m)
		m.unmap()
	}
	for _, m := range p.dirty {
		m.unmap()
	}
	p.idle, p.dirty = nil, nil
}

// mappedMemory is one instance's reserved region; [0, writable) is readable
// and writable.
type mappedMemory struct {
	pool      *memoryPool
	region    []byte
	writable  int
	kept      int       // bytes of it that may be resident, while in the pool
	idleSince time.Time // while in the pool
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
	// The capacity stops at the current size: nothing may append past what
	// the guest can see.
	return m.region[:size:size]
}

// Free implements experimental.LinearMemory: the mapping goes back to the
// pool, or is unmapped.
func (m *mappedMemory) Free() {
	if m.region == nil {
		return
	}
	// wazero frees only once no guest code runs on the instance: after its
	// call returned, or from a host function that does not return (see
	// run.outOfBounds).
	if m.pool == nil || !m.pool.put(m) {
		m.unmap()
	}
}

// clear zeroes the writable part of the mapping for its next instance: the
// first keep bytes by writing zeros, the rest by giving the pages back to
// the system (they then read as zero). False if that failed.
func (m *mappedMemory) clear(keep int) bool {
	keep = min(keep, m.writable)
	// A MiB at a time: one clear of the whole is a single call the Go
	// runtime cannot preempt, and would hold up a stop-the-world for its
	// milliseconds.
	for i := 0; i < keep; i += clearChunk {
		clear(m.region[i:min(i+clearChunk, keep)])
	}
	m.kept = keep
	if m.writable > keep {
		// keep is a multiple of the page size (callers keep it so).
		if err := syscall.Madvise(m.region[keep:m.writable], syscall.MADV_DONTNEED); err != nil {
			return false
		}
	}
	return true
}

func (m *mappedMemory) unmap() {
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
