package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/cluster"
	"github.com/phasehost/phasehost/internal/redistest"
)

// TestPrepareCompilesAhead: a module announced with prepare is compiled by
// the other nodes before its add, which then registers that compile; its
// bytes are kept once published. One never published is dropped, bytes and
// compile, after PrepareTTL.
func TestPrepareCompilesAhead(t *testing.T) {
	rs := redistest.Start(t)
	raw := rawRedis(t, rs)
	ctx := context.Background()
	a := newNode(t, rs, nil)
	b := newNode(t, rs, nil)

	wasm := okModule(t, "1.1.0", "")
	key := "phasehost:module:{" + shaOf(wasm) + "}"
	require.NoError(t, a.cl.Prepare(ctx, wasm))
	require.Eventually(t, func() bool { return b.logs.count("cluster: module compiled ahead") == 1 }, resyncWithin, poll)
	assert.Equal(t, 1, b.cl.Prepared())
	assert.Zero(t, a.cl.Prepared(), "the uploading node compiles it itself")
	assert.Greater(t, raw.TTL(ctx, key).Val(), time.Duration(0), "prepared bytes expire unless published")
	assert.False(t, b.hasVersion("1.1.0"), "not served before its add")

	a.upload(wasm)
	require.Eventually(t, func() bool { return b.has("1.1.0", wasm) }, within, poll)
	assert.Zero(t, b.cl.Prepared(), "the compile ahead was used")
	assert.Equal(t, time.Duration(-1), raw.TTL(ctx, key).Val(), "published bytes are kept")

	// Never published: dropped after PrepareTTL.
	old := cluster.PrepareTTL
	cluster.PrepareTTL = 300 * time.Millisecond
	t.Cleanup(func() { cluster.PrepareTTL = old })
	orphan := okModule(t, "1.2.0", "")
	require.NoError(t, a.cl.Prepare(ctx, orphan))
	require.Eventually(t, func() bool {
		return b.logs.count("cluster: module compiled ahead was never announced") == 1
	}, resyncWithin, poll)
	assert.Zero(t, b.cl.Prepared())
	assert.Zero(t, raw.Exists(ctx, "phasehost:module:{"+shaOf(orphan)+"}").Val(), "its bytes expired")
	assert.False(t, b.hasVersion("1.2.0"))
}
