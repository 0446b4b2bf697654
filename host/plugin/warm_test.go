package plugin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/internal/refplugins"
)

// waitWarm asks p for n warm instances and waits until they are ready, or
// until p turned out not to be pre-warmable.
func waitWarm(t *testing.T, p *Plugin, n int) {
	t.Helper()
	p.SetWarm(n)
	require.Eventually(t, func() bool {
		p.warm.mu.Lock()
		defer p.warm.mu.Unlock()
		return len(p.warm.idle) >= n || p.warm.off != ""
	}, 10*time.Second, time.Millisecond)
}

func TestWarmRunsLikeFresh(t *testing.T) {
	f := newFixture(t, Policy{})
	p := f.load(t, "valid/ok.wasm")
	waitWarm(t, p, 2)
	require.Equal(t, 2, p.Warm())
	warm := p.warm.idle[1]
	o := runIt(t, p, `{"hello":"world"}`, nil)
	require.NoError(t, o.err)
	assert.JSONEq(t, `{"ok":true,"input_len":17}`, o.output)
	assert.Len(t, o.emits, 6)
	// The run's stdout went to the run (its job in the log), not the warm-up's.
	assert.Contains(t, f.logs.String(), `"job":"job-1","text":"ok: hello from stdout"`)
	// Never reused: the instance is closed after its run; the pool refills.
	assert.True(t, warm.mod.IsClosed())
	waitWarm(t, p, 2)
	for _, w := range p.warm.idle {
		assert.NotSame(t, warm, w)
	}
	o = runIt(t, p, `{}`, nil)
	require.NoError(t, o.err)
	assert.JSONEq(t, `{"ok":true,"input_len":2}`, o.output)
}

// A Go reactor (_initialize runs the Go runtime's start-up) pre-warms, and
// its runs are the runs of a fresh instance.
func TestWarmGoPlugin(t *testing.T) {
	f := newFixture(t, Policy{})
	p := loadMaterial(t, f.engine)
	waitWarm(t, p, 1)
	require.Equal(t, 1, p.Warm(), p.warm.off)
	cold := newFixture(t, Policy{})
	pc := loadMaterial(t, cold.engine)
	for range 3 {
		want := runIt(t, pc, materialInput, nil)
		require.NoError(t, want.err)
		got := runIt(t, p, materialInput, nil)
		require.NoError(t, got.err)
		assert.JSONEq(t, want.output, got.output)
		assert.Equal(t, len(want.emits), len(got.emits))
		waitWarm(t, p, 1)
	}
}

// The run's timeout starts when the run starts: a warm instance made long
// before still gets its full timeout.
func TestWarmTimeoutStartsWithRun(t *testing.T) {
	f := newFixture(t, Policy{})
	p := f.load(t, "hostile/endless_loop.wasm") // 200ms
	waitWarm(t, p, 1)
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	o := runIt(t, p, `{}`, nil)
	require.ErrorIs(t, o.err, ErrTimeout)
	assert.GreaterOrEqual(t, time.Since(start), 190*time.Millisecond)
}

// A guest stuck in _initialize is stopped by the warm-up's own deadline and
// not pre-warmed; its runs fail as they would on a fresh instance.
func TestWarmInitLoopNotWarmed(t *testing.T) {
	f := newFixture(t, Policy{})
	p := f.load(t, "hostile/init_loop.wasm")
	waitWarm(t, p, 1)
	assert.Equal(t, 0, p.Warm())
	assert.Contains(t, p.warm.off, "timeout")
	assert.Contains(t, f.logs.String(), "plugin not pre-warmed")
	o := runIt(t, p, `{}`, nil)
	require.ErrorIs(t, o.err, ErrTimeout)
}

// Retire drains the pool: idle instances are closed, then the code.
func TestWarmRetireDrains(t *testing.T) {
	f := newFixture(t, Policy{})
	p := f.load(t, "valid/ok.wasm")
	waitWarm(t, p, 2)
	idle := append([]*warmInstance(nil), p.warm.idle...)
	p.Retire()
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not closed")
	}
	assert.Equal(t, 0, p.Warm())
	for _, w := range idle {
		assert.True(t, w.mod.IsClosed())
	}
	p.SetWarm(2) // a retired plugin makes no more
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, 0, p.Warm())

	// SetWarm(0) closes idle instances too.
	q := f.load(t, "valid/ok.wasm")
	waitWarm(t, q, 2)
	idle = append([]*warmInstance(nil), q.warm.idle...)
	q.SetWarm(0)
	assert.Equal(t, 0, q.Warm())
	for _, w := range idle {
		assert.True(t, w.mod.IsClosed())
	}
	assert.False(t, strings.Contains(f.logs.String(), "plugin not pre-warmed"))
}

func loadMaterial(t testing.TB, e *Engine) *Plugin {
	t.Helper()
	p, err := e.Load(context.Background(), materialWasm(t))
	require.NoError(t, err)
	return p
}

// materialInput is what the material stage gets from assembly4 in a small job.
const materialInput = `{"assembly":"x","units":"mm","parts":[{"name":"a","material":"pla","grounded":true,` +
	`"mesh":{"vertices":[[0,0,0],[10,0,0],[0,10,0],[0,0,10]],"triangles":[[0,2,1],[0,1,3],[0,3,2],[1,2,3]]}}]}`

func materialWasm(t testing.TB) []byte { return refplugins.Modules(t)["material"] }
