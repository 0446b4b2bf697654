package ctl

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/registry"
	"github.com/phasehost/phasehost/host/server"
	"github.com/phasehost/phasehost/host/store"
	"github.com/phasehost/phasehost/internal/redistest"
)

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--server", "http://127.0.0.1:1", "--secret", "s"},                                 // no --redis
		{"bench", "--redis", "redis://127.0.0.1:1/0", "--secret", "s"},                               // no --server
		{"bench", "--redis", "redis://127.0.0.1:1/0", "--server", "http://127.0.0.1:1"},              // no --secret
		{"bench", "--redis", "redis://127.0.0.1:1/0", "--baseline", "--clients", "2", "--jobs", "3"}, // jobs > clients
		{"bench", "--redis", "redis://127.0.0.1:1/0", "--baseline=sometimes"},
		{"bench", "--redis", "redis://127.0.0.1:1/0", "--baseline=only", "--compare"},
	} {
		r := phasectl(t, args...)
		assert.Equal(t, ExitUsage, r.code, "%v: %s", args, r.stderr)
	}
	r := phasectl(t, "bench", "--help")
	require.Equal(t, ExitOK, r.code)
	for _, f := range []string{"--server", "--redis", "--prefix", "--secret", "--clients", "--jobs", "--rate", "--duration", "--warmup", "--baseline", "--compare", "--json"} {
		assert.Contains(t, r.stdout, f)
	}
}

// TestBenchCompare runs phasectl bench --compare --json against an
// in-process node on Redis.
func TestBenchCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("a load run")
	}
	ctx := context.Background()
	rd := redistest.Start(t)
	quiet := slog.New(slog.DiscardHandler)
	st, err := store.OpenRedis(ctx, rd.URL(), store.RedisOptions{Logger: quiet})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := server.New(server.Config{Store: st, Registry: registry.New(), Logger: quiet, Gatherer: reg, Secret: []byte("s3cret")})
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		assert.NoError(t, srv.Shutdown(sctx))
		hs.Close()
		_ = st.Close()
	})

	r := phasectl(t, "bench", "--server", hs.URL, "--redis", rd.URL(), "--secret", "s3cret",
		"--clients", "20", "--jobs", "4", "--rate", "1000", "--duration", "1s", "--compare", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var out benchOutput
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	require.Len(t, out.Runs, 2)
	node, base := out.Runs[0], out.Runs[1]
	assert.EqualValues(t, "node", node.Mode)
	assert.EqualValues(t, "baseline", base.Mode)
	for _, rep := range out.Runs {
		assert.Positive(t, rep.Expected)
		assert.Equal(t, rep.Expected, rep.Received, "%s", rep.Mode)
		assert.Zero(t, rep.Gaps+rep.Duplicates, "%s", rep.Mode)
		assert.Empty(t, rep.Errors, "%s", rep.Mode)
	}
	assert.Equal(t, 1, node.Redis.PubSub)
	assert.Equal(t, []int64{1, 1, 1, 1}, node.NumSub)
	assert.Equal(t, 20, base.Redis.Baseline)
	assert.Equal(t, []int64{5, 5, 5, 5}, base.NumSub)
	require.NotNil(t, out.Ratio)
	assert.InDelta(t, 21, out.Ratio.PubSubConns, 0.001) // 20 baseline connections + the idle node's, over the node's 1

	// The text report has both rows and the ratio.
	r = phasectl(t, "bench", "--server", hs.URL, "--redis", rd.URL(), "--secret", "s3cret",
		"--clients", "4", "--jobs", "2", "--rate", "200", "--duration", "300ms", "--compare")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "baseline/node: redis connections")
	assert.Regexp(t, `(?m)^\s*node\s+4\s+2\s`, r.stdout)
	assert.Regexp(t, `(?m)^\s*baseline\s+4\s+2\s`, r.stdout)
	t.Log("\n" + r.stdout)
}
