package plugin

import (
	"context"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const mib = 1 << 20

// allZero reports whether every byte of b is zero.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// addr is the address of b's first byte (assert compares pointers by
// what they point to).
func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func fill(b []byte, c byte) {
	for i := range b {
		b[i] = c
	}
}

func TestMemoryPoolReusesZeroedMappings(t *testing.T) {
	before := mappedBytes.Load()
	var idle int64
	p := newMemoryPool(func(n int64) { idle = n })
	p.keepResident = 1 * mib // the rest of a dirty mapping is given back with MADV_DONTNEED
	a := p.Allocate(64<<10, 16*mib)
	buf := a.Reallocate(4 * mib)
	require.Len(t, buf, 4*mib)
	fill(buf, 0xA5)
	base := addr(buf)
	a.Free()
	p.settle() // the cleaner has cleared it
	assert.Equal(t, int64(16*mib), mappedBytes.Load()-before, "the mapping is kept, not unmapped")
	assert.Equal(t, int64(mib), idle, "idle bytes: the kept megabyte")

	// A mapping of another size is a new one.
	other := p.Allocate(64<<10, 8*mib)
	assert.NotEqual(t, base, addr(other.Reallocate(64<<10)))

	// The same size gets the freed mapping back, zeroed (the kept megabyte by
	// the host, the rest by the system), and only as long as asked for.
	b := p.Allocate(64<<10, 16*mib)
	small := b.Reallocate(64 << 10)
	assert.Equal(t, base, addr(small), "the idle mapping is reused")
	assert.Zero(t, idle)
	assert.Equal(t, 64<<10, cap(small))
	grown := b.Reallocate(4 * mib)
	require.Len(t, grown, 4*mib)
	assert.True(t, allZero(grown), "a reused mapping must read as zero")
	assert.Nil(t, b.Reallocate(32*mib), "growth past the limit is refused")

	b.Free()
	other.Free()
	assert.Equal(t, int64(24*mib), mappedBytes.Load()-before)
	p.Close()
	assert.Equal(t, before, mappedBytes.Load(), "Close unmaps the idle mappings")
	assert.Zero(t, idle)

	// Freed after Close: unmapped at once.
	c := p.Allocate(64<<10, 16*mib)
	c.Reallocate(64 << 10)
	c.Free()
	assert.Equal(t, before, mappedBytes.Load())
}

// TestMemoryPoolDoesNotWaitForTheCleaner: an instance made while the only
// mapping of its size is being cleared gets a new one at once; the cleared
// one serves the next instance.
func TestMemoryPoolDoesNotWaitForTheCleaner(t *testing.T) {
	before := mappedBytes.Load()
	p := newMemoryPool(nil)
	p.keepResident = 4 * mib
	inHand, release := make(chan struct{}), make(chan struct{})
	p.clearHook = func() {
		close(inHand)
		<-release
	}
	a := p.Allocate(64<<10, 16*mib)
	buf := a.Reallocate(4 * mib)
	fill(buf, 0x77)
	first := addr(buf)
	a.Free()
	<-inHand

	b := p.Allocate(64<<10, 16*mib)
	assert.NotEqual(t, first, addr(b.Reallocate(64<<10)), "a new mapping, not a wait")
	assert.Equal(t, int64(32*mib), mappedBytes.Load()-before)
	close(release)
	p.settle()
	p.clearHook = nil // the cleaner is stopped; the next one starts after this

	c := p.Allocate(64<<10, 16*mib)
	again := c.Reallocate(4 * mib)
	assert.Equal(t, first, addr(again), "the cleared mapping")
	assert.True(t, allZero(again))
	b.Free()
	c.Free()
	p.Close()
	assert.Equal(t, before, mappedBytes.Load())
}

func TestMemoryPoolBounds(t *testing.T) {
	before := mappedBytes.Load()
	p := newMemoryPool(nil)
	p.maxIdle = 1
	p.idleTimeout = 20 * time.Millisecond
	a, b := p.Allocate(64<<10, 16*mib), p.Allocate(64<<10, 16*mib)
	a.Reallocate(mib)
	b.Reallocate(mib)
	a.Free()
	b.Free()
	assert.Equal(t, int64(16*mib), mappedBytes.Load()-before, "one idle mapping is kept, the other unmapped")

	// An idle mapping is unmapped after idleTimeout.
	require.Eventually(t, func() bool { return mappedBytes.Load() == before }, 5*time.Second, 5*time.Millisecond)
	p.Close()
}

// TestReusedMemoryIsZero runs a module that fails unless its memory starts
// zeroed and then dirties all of it, several times on one engine: each run
// after the first gets the mapping the previous one dirtied.
func TestReusedMemoryIsZero(t *testing.T) {
	f := newFixture(t, Policy{})
	p := f.load(t, "valid/dirty.wasm")
	for i := range 3 {
		o := runIt(t, p, `{}`, nil)
		require.NoError(t, o.err, "run %d", i)
		assert.Equal(t, "{}", o.output)
	}
	require.NoError(t, f.engine.Close(context.Background()))
}

// settle waits until no freed mapping is waiting for the cleaner.
func (p *memoryPool) settle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.cleaning {
		p.settled.Wait()
	}
}
