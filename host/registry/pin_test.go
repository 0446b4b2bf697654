package registry

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/plugin"
)

func TestPinUnpin(t *testing.T) {
	e, err := plugin.NewEngine(plugin.Options{})
	require.NoError(t, err)
	defer e.Close(context.Background())
	r := New()
	for _, p := range loadVersions(t, e, "1.0.0", "1.2.0", "2.0.0") {
		_, err := r.Add(p)
		require.NoError(t, err)
	}
	v, pinned := r.Active("ok")
	assert.Equal(t, "2.0.0", v)
	assert.False(t, pinned)

	// Rollback: pin the old version.
	require.NoError(t, r.Pin("ok", "1.2.0"))
	p, err := r.Resolve("ok")
	require.NoError(t, err)
	assert.Equal(t, "1.2.0", p.Version())
	v, pinned = r.Active("ok")
	assert.Equal(t, "1.2.0", v)
	assert.True(t, pinned)
	// Explicit versions and ranges are not affected.
	p, err = r.Resolve("ok@^2")
	require.NoError(t, err)
	assert.Equal(t, "2.0.0", p.Version())
	var flags []string
	for _, en := range r.Entries() {
		flags = append(flags, fmt.Sprintf("%s:%v:%v", en.Plugin.Version(), en.Active, en.Pinned))
	}
	assert.Equal(t, []string{"2.0.0:false:false", "1.2.0:true:true", "1.0.0:false:false"}, flags)

	// A version not loaded is refused with the loaded ones named.
	err = r.Pin("ok", "1.1.0")
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "loaded: 2.0.0, 1.2.0, 1.0.0")
	require.ErrorIs(t, r.Pin("ok", "not-a-version"), ErrNotFound)
	require.ErrorIs(t, r.Pin("nope", "1.0.0"), ErrNotFound)
	v, _ = r.Active("ok")
	assert.Equal(t, "1.2.0", v, "a refused pin changes nothing")

	// A replacement of the pinned version keeps the pin.
	repl := loadVersions(t, e, "1.2.0")[0]
	old, err := r.Add(repl)
	require.NoError(t, err)
	old.Retire()
	p, err = r.Resolve("ok")
	require.NoError(t, err)
	assert.Same(t, repl, p)

	// Unpin: back to the highest.
	assert.True(t, r.Unpin("ok"))
	assert.False(t, r.Unpin("ok"))
	p, err = r.Resolve("ok")
	require.NoError(t, err)
	assert.Equal(t, "2.0.0", p.Version())

	// Removing the pinned version clears the pin.
	require.NoError(t, r.Pin("ok", "1.0.0"))
	_, ok := r.Remove("ok", "1.0.0")
	require.True(t, ok)
	v, pinned = r.Active("ok")
	assert.Equal(t, "2.0.0", v)
	assert.False(t, pinned)
	_, ok = r.Remove("ok", "2.0.0")
	require.True(t, ok)
	_, ok = r.Remove("ok", "1.2.0")
	require.True(t, ok)
	v, pinned = r.Active("ok")
	assert.Equal(t, "", v)
	assert.False(t, pinned)
}

// Pins, unpins, adds, removes and acquires at once (go test -race): every
// acquire of a bare name gets a loaded version, and holds balance.
func TestPinHammer(t *testing.T) {
	e, err := plugin.NewEngine(plugin.Options{})
	require.NoError(t, err)
	defer e.Close(context.Background())
	r := New()
	vs := []string{"1.0.0", "1.1.0", "1.2.0", "2.0.0"}
	ps := loadVersions(t, e, vs...)
	extra := loadVersions(t, e, "3.0.0")[0]
	for _, p := range ps {
		_, err := r.Add(p)
		require.NoError(t, err)
	}
	const n = 400
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		for i := range n {
			_ = r.Pin("ok", vs[i%len(vs)])
			if i%7 == 0 {
				r.Unpin("ok")
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range n {
			if i%2 == 0 {
				_, _ = r.Add(extra)
			} else {
				r.Remove("ok", "3.0.0")
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range n {
			p, err := r.Acquire("ok")
			if assert.NoError(t, err) {
				p.Release()
			}
			_, _ = r.Active("ok")
		}
	}()
	go func() {
		defer wg.Done()
		for range n {
			act := 0
			for _, en := range r.Entries() {
				if en.Active {
					act++
				}
			}
			assert.Equal(t, 1, act)
		}
	}()
	wg.Wait()
	for _, p := range append(ps, extra) {
		assert.Equal(t, 0, p.Holds())
	}
}
