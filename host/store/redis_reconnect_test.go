package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/metrics"
	"github.com/phasehost/phasehost/host/store"
	"github.com/phasehost/phasehost/internal/redistest"
)

// publishN publishes n phase events, retrying while Redis comes back.
func publishN(t *testing.T, s store.Store, id string, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		require.Eventually(t, func() bool {
			_, err := s.Publish(ctx, phaseEv(id, fmt.Sprint(i)))
			return err == nil
		}, 10*time.Second, 20*time.Millisecond)
	}
}

// TestRedisRestartMidJob: Redis is killed and restarted (with its append-only
// file) while subscribers watch; each gets every event once, in order.
func TestRedisRestartMidJob(t *testing.T) {
	srv := redistest.Start(t, redistest.Persistent())
	s := openRedis(t, srv, store.RedisOptions{})
	ctx := context.Background()
	newJob(t, s, "j")
	const watchers = 5
	var results []<-chan []int64
	for range watchers {
		sub, err := s.Subscribe(ctx, "j")
		require.NoError(t, err)
		t.Cleanup(sub.Close)
		results = append(results, collect(sub))
	}
	publishN(t, s, "j", 50)

	srv.Kill()
	time.Sleep(300 * time.Millisecond) // the reader notices
	srv.Restart()

	publishN(t, s, "j", 50) // some go out before the pub/sub connection is back
	_, err := s.Publish(ctx, finalEv("j"))
	require.NoError(t, err)

	for i, r := range results {
		select {
		case got := <-r:
			requireSeqs(t, got, 101)
		case <-time.After(20 * time.Second):
			t.Fatalf("watcher %d: not finished", i)
		}
	}
}

// TestRedisPubSubConnectionKilled: the pub/sub connection alone is killed
// (Redis keeps running) while events, the terminal one included, are
// published; subscribers still get all of them, caught up from the stream.
func TestRedisPubSubConnectionKilled(t *testing.T) {
	srv := redistest.Start(t)
	m := metrics.NewRedis(nil)
	s := openRedis(t, srv, store.RedisOptions{Metrics: m})
	raw := rawClient(t, srv)
	ctx := context.Background()
	newJob(t, s, "keep") // watched across every kill
	keep, err := s.Subscribe(ctx, "keep")
	require.NoError(t, err)
	defer keep.Close()
	for round := range 5 {
		id := fmt.Sprint("job", round)
		newJob(t, s, id)
		sub, err := s.Subscribe(ctx, id)
		require.NoError(t, err)
		res := collect(sub)
		publishN(t, s, id, 10)
		require.NoError(t, raw.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err())
		publishN(t, s, id, 10)
		_, err = s.Publish(ctx, finalEv(id))
		require.NoError(t, err)
		select {
		case got := <-res:
			requireSeqs(t, got, 21)
			assert.NoError(t, sub.Err())
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: subscriber not finished", round)
		}
	}
	// The shared connection is back, once, and go-redis has re-subscribed
	// the channel watched all along.
	require.Eventually(t, func() bool { return s.Ready(ctx) == nil }, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, 1, pubsubClients(t, raw))
	n, err := raw.PubSubNumSub(ctx, s.JobKey("keep")).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n[s.JobKey("keep")])
	_, err = s.Publish(ctx, phaseEv("keep", "live"))
	require.NoError(t, err)
	select {
	case ev := <-keep.C():
		assert.Equal(t, int64(1), ev.Seq)
	case <-time.After(5 * time.Second):
		t.Fatal("the long-watched job got nothing after the reconnects")
	}
	// The counter counts outages: a kill that lands while the connection is
	// still coming back from the previous one is part of the same outage.
	assert.GreaterOrEqual(t, testutil.ToFloat64(m.ReconnectCounter()), 1.0, "reconnects seen")
	t.Logf("events caught up from streams: %v", testutil.ToFloat64(m.CatchupCounter()))
}

// TestRedisReady: the deafness probe passes when Redis is up and fails when
// it is down.
func TestRedisReady(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv, store.RedisOptions{ProbeTimeout: 500 * time.Millisecond})
	ctx := context.Background()
	require.NoError(t, s.Ready(ctx))

	srv.Kill()
	start := time.Now()
	assert.Error(t, s.Ready(ctx))
	assert.Less(t, time.Since(start), 3*time.Second, "Ready is bounded")

	srv.Restart()
	require.Eventually(t, func() bool { return s.Ready(ctx) == nil }, 10*time.Second, 50*time.Millisecond)

	// A closed store is not ready.
	require.NoError(t, s.Close())
	assert.ErrorIs(t, s.Ready(ctx), store.ErrClosed)
}

// TestRedisReadyDeaf: Redis answers but the shared subscription no longer
// hears: Ready fails.
func TestRedisReadyDeaf(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv, store.RedisOptions{ProbeTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	require.NoError(t, s.Ready(ctx))
	require.NoError(t, s.Deafen(ctx))
	// UNSUBSCRIBE travels on the pub/sub connection, the probe's PUBLISH on
	// another: wait until Redis has applied the first.
	raw := rawClient(t, srv)
	require.Eventually(t, func() bool {
		n, err := raw.PubSubNumSub(ctx, s.ProbeChannel()).Result()
		return err == nil && n[s.ProbeChannel()] == 0
	}, 5*time.Second, 10*time.Millisecond)
	err := s.Ready(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "probe not received")
}
