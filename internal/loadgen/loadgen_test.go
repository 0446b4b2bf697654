package loadgen_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/registry"
	"github.com/phasehost/phasehost/host/server"
	"github.com/phasehost/phasehost/host/store"
	"github.com/phasehost/phasehost/internal/loadgen"
	"github.com/phasehost/phasehost/internal/redistest"
)

var quiet = slog.New(slog.DiscardHandler)

// node is an in-process phasehost node on the Redis store.
type node struct {
	url string
	srv *server.Server
}

func startNode(t *testing.T, redisURL string, secret []byte) *node {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenRedis(ctx, redisURL, store.RedisOptions{Logger: quiet})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := server.New(server.Config{
		Store: st, Registry: registry.New(), Logger: quiet, Gatherer: reg, Secret: secret,
	})
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		assert.NoError(t, srv.Shutdown(sctx))
		hs.Close()
		_ = st.Close()
	})
	return &node{url: hs.URL, srv: srv}
}

func config(mode loadgen.Mode, rd *redistest.Server, n *node, tokens func(string) string) loadgen.Config {
	c := loadgen.Config{
		Mode: mode, RedisURL: rd.URL(), Token: tokens,
		Clients: 50, Jobs: 5, Rate: 2000, Duration: 2 * time.Second, Warmup: 200 * time.Millisecond,
		Publishers: 8, Drain: 10 * time.Second, Logger: quiet,
	}
	if n != nil {
		c.ServerURL = n.url
	}
	return c
}

// assertExact checks that every client got every event of its job once, in order.
func assertExact(t *testing.T, rep *loadgen.Report) {
	t.Helper()
	assert.Empty(t, rep.Errors)
	assert.Zero(t, rep.PublishErrors)
	// Every event the schedule handed out was published or counted as
	// skipped (a loaded machine may not keep the rate).
	planned := rep.TargetRate * (rep.Warmup + rep.Duration)
	assert.InDelta(t, planned, float64(rep.Published+rep.Skipped+rep.WarmupEvents), planned*0.02+10)
	assert.Greater(t, rep.Published, rep.Skipped, "most events were published")
	assert.Positive(t, rep.WarmupEvents)
	assert.Equal(t, rep.Expected, rep.Received, "every delivery received")
	assert.Equal(t, rep.Expected, int64(rep.Latency.Samples))
	assert.Zero(t, rep.Duplicates)
	assert.Zero(t, rep.Gaps, "in order, without gap")
	assert.Equal(t, rep.Clients, rep.FinalSeen)
	assert.Zero(t, rep.Closed4008)
	assert.Zero(t, rep.ClientErrors)
	assert.Positive(t, rep.Latency.P50)
	assert.LessOrEqual(t, rep.Latency.P50, rep.Latency.P99)
	assert.LessOrEqual(t, rep.Latency.P99, rep.Latency.Max)
	assert.Positive(t, rep.DeliveredRate)
	assert.Positive(t, rep.PublishRate)
}

func TestBenchNodeAndBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("a 2x2s load run")
	}
	_, err := loadgen.RaiseFileLimit()
	require.NoError(t, err)
	rd := redistest.Start(t)
	secret := []byte("bench secret")
	n := startNode(t, rd.URL(), secret)
	tokens, err := loadgen.ServerTokens(secret)
	require.NoError(t, err)
	require.Equal(t, n.srv.Token("some-job"), tokens("some-job"), "the node's own token function")
	ctx := context.Background()

	t.Run("node", func(t *testing.T) {
		rep, err := loadgen.Run(ctx, config(loadgen.ModeNode, rd, n, tokens))
		require.NoError(t, err)
		assertExact(t, rep)
		// One pub/sub connection for the node, one subscription per job channel.
		assert.Equal(t, 1, rep.Redis.PubSub, "%+v", rep.Redis)
		assert.Zero(t, rep.Redis.Baseline)
		require.Len(t, rep.NumSub, 5)
		for i, ns := range rep.NumSub {
			assert.EqualValues(t, 1, ns, "NUMSUB of job channel %d", i)
		}
		require.NotNil(t, rep.NodePerConn)
		require.NotNil(t, rep.NodeIdle)
		assert.Empty(t, rep.NodeIdle.Missing)
		assert.Positive(t, rep.NodeIdle.RSS)
		t.Logf("node: %+v latency %+v mem/conn %+v", rep.Redis, rep.Latency, *rep.NodePerConn)
	})

	t.Run("baseline", func(t *testing.T) {
		rep, err := loadgen.Run(ctx, config(loadgen.ModeBaseline, rd, nil, nil))
		require.NoError(t, err)
		assertExact(t, rep)
		// One pub/sub connection per client (and the node's own, idle).
		assert.Equal(t, 50, rep.Redis.Baseline, "%+v", rep.Redis)
		assert.Equal(t, 51, rep.Redis.PubSub, "%+v", rep.Redis)
		require.Len(t, rep.NumSub, 5)
		for i, ns := range rep.NumSub {
			assert.EqualValues(t, 10, ns, "NUMSUB of job channel %d", i)
		}
		assert.Nil(t, rep.NodePerConn)
		require.NotNil(t, rep.SubscriberPerConn)
		t.Logf("baseline: %+v latency %+v", rep.Redis, rep.Latency)
	})
}

func TestBenchRefusesBadConfig(t *testing.T) {
	_, err := loadgen.Run(context.Background(), loadgen.Config{Mode: loadgen.ModeNode, RedisURL: "redis://127.0.0.1:1/0", Clients: 1, Jobs: 2, Rate: 1, Duration: time.Second, Token: func(string) string { return "" }, ServerURL: "http://127.0.0.1:1"})
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "every job needs a watcher"), err.Error())
}
