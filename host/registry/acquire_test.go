package registry

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/plugin"
)

func closed(p *plugin.Plugin) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// A plugin acquired through the registry outlives its removal (and its
// replacement) until released.
func TestAcquireHoldsThroughRemoveAndReplace(t *testing.T) {
	e, err := plugin.NewEngine(plugin.Options{})
	require.NoError(t, err)
	defer e.Close(context.Background())
	r := New()
	ps := loadVersions(t, e, "1.0.0", "1.0.0")
	_, err = r.Add(ps[0])
	require.NoError(t, err)

	held, err := r.Acquire("ok@1.0.0")
	require.NoError(t, err)
	require.Same(t, ps[0], held)
	assert.Equal(t, 1, held.Holds())

	replaced, err := r.Add(ps[1])
	require.NoError(t, err)
	require.Same(t, ps[0], replaced)
	replaced.Retire()
	assert.False(t, closed(replaced), "closed while held")

	p, ok := r.Remove("ok", "1.0.0")
	require.True(t, ok)
	require.Same(t, ps[1], p)
	p.Retire()
	assert.True(t, closed(p), "nothing held the replacement: closed at once")
	_, err = r.Acquire("ok@1.0.0")
	require.ErrorIs(t, err, ErrNotFound)

	held.Release()
	assert.True(t, closed(held))
}
