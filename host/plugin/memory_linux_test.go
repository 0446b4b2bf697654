package plugin

import (
	"context"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero/experimental"
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

// TestMemoryPoolClearsDirtyOnTake: a mapping taken before the cleaner got to
// it is cleared by the taker.
func TestMemoryPoolClearsDirtyOnTake(t *testing.T) {
	before := mappedBytes.Load()
	var idle int64
	p := newMemoryPool(func(n int64) { idle = n })
	p.noCleaner = true
	p.keepResident = 1 * mib
	a := p.Allocate(64<<10, 16*mib)
	buf := a.Reallocate(4 * mib)
	fill(buf, 0x5A)
	base := addr(buf)
	a.Free()
	assert.Zero(t, idle, "not idle before it is cleared")

	b := p.Allocate(64<<10, 16*mib)
	grown := b.Reallocate(4 * mib)
	assert.Equal(t, base, addr(grown), "the dirty mapping is reused")
	assert.True(t, allZero(grown), "and cleared by the taker")

	// Close unmaps dirty mappings too.
	b.Free()
	p.Close()
	assert.Equal(t, before, mappedBytes.Load())
}

// TestMemoryPoolWaitsForTheCleaner: an instance that needs the mapping the
// cleaner has in hand waits for it rather than faulting in a new one.
func TestMemoryPoolWaitsForTheCleaner(t *testing.T) {
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
	base := addr(buf)
	a.Free()
	<-inHand

	type taken struct {
		mem experimental.LinearMemory
		buf []byte
	}
	got := make(chan taken)
	go func() {
		m := p.Allocate(64<<10, 16*mib)
		got <- taken{m, m.Reallocate(4 * mib)}
	}()
	select {
	case <-got:
		t.Fatal("Allocate did not wait for the mapping being cleared")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	b := <-got
	assert.Equal(t, base, addr(b.buf), "the cleared mapping, not a new one")
	assert.True(t, allZero(b.buf))
	assert.Equal(t, int64(16*mib), mappedBytes.Load()-before)
	b.mem.Free()
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
