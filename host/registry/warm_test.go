package registry

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/plugin"
)

// The pool follows the active version: highest, pinned, unpinned, removed.
func TestWarmFollowsActive(t *testing.T) {
	e, err := plugin.NewEngine(plugin.Options{})
	require.NoError(t, err)
	defer e.Close(context.Background())
	r := New()
	r.SetWarm(2)
	ps := loadVersions(t, e, "1.0.0", "2.0.0")
	for _, p := range ps {
		_, err := r.Add(p)
		require.NoError(t, err)
	}
	warmIs := func(want0, want1 int) {
		t.Helper()
		require.Eventually(t, func() bool { return ps[0].Warm() == want0 && ps[1].Warm() == want1 },
			10*time.Second, time.Millisecond, "warm: %d %d", ps[0].Warm(), ps[1].Warm())
	}
	warmIs(0, 2)
	require.NoError(t, r.Pin("ok", "1.0.0"))
	warmIs(2, 0)
	r.Unpin("ok")
	warmIs(0, 2)
	p, ok := r.Remove("ok", "2.0.0")
	require.True(t, ok)
	p.Retire()
	warmIs(2, 0)
	r.SetWarm(0)
	warmIs(0, 0)
}
