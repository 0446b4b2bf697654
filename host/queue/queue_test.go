package queue_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/queue"
	"github.com/phasehost/phasehost/internal/redistest"
)

// open returns a queue of consumer on srv's Redis, closed at the end.
func open(t testing.TB, srv *redistest.Server, consumer string, lease time.Duration) *queue.Queue {
	t.Helper()
	rdb := rawClient(t, srv)
	q, err := queue.New(context.Background(), rdb, queue.Options{Consumer: consumer, Lease: lease})
	require.NoError(t, err)
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// rawClient is a Redis client of the test's own, closed at the end.
func rawClient(t testing.TB, srv *redistest.Server) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func task(id string) queue.Task {
	return queue.Task{JobID: id, Input: json.RawMessage(`{"n":1}`),
		Stages: []queue.Stage{{Name: "ok", Version: "1.0.0", SHA256: "abc"}}}
}

// take is Take with a deadline; nil when nothing came.
func take(t *testing.T, q *queue.Queue, within time.Duration) *queue.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	d, err := q.Take(ctx)
	if err != nil {
		require.ErrorIs(t, err, context.DeadlineExceeded)
		return nil
	}
	return d
}

func TestPushTakeAck(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := open(t, srv, "a", 10*time.Second)
	_, err := a.Push(ctx, task("j1"))
	require.NoError(t, err)
	_, err = a.Push(ctx, task("j2"))
	require.NoError(t, err)
	n, err := a.Waiting(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)

	d := take(t, a, 5*time.Second)
	require.NotNil(t, d)
	require.NoError(t, d.Err)
	assert.Equal(t, task("j1"), d.Task)
	assert.False(t, d.Reclaimed)
	n, err = a.Waiting(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "a taken job is not waiting")
	assert.Equal(t, 1, a.Held())

	require.NoError(t, d.Ack(ctx))
	require.NoError(t, d.Ack(ctx), "Ack is idempotent")
	assert.Zero(t, a.Held())
	rdb := rawClient(t, srv)
	assert.Equal(t, int64(1), rdb.XLen(ctx, a.Key()).Val(), "the acknowledged entry is deleted")
}

// Two nodes: every job is taken by exactly one of them.
func TestEachJobToOneNode(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, b := open(t, srv, "a", 10*time.Second), open(t, srv, "b", 10*time.Second)
	const jobs = 40
	for i := range jobs {
		_, err := a.Push(ctx, task(string(rune('A'+i))))
		require.NoError(t, err)
	}
	got := make(chan string, 2*jobs)
	drain := func(q *queue.Queue) {
		for {
			d := take(t, q, 500*time.Millisecond)
			if d == nil {
				return
			}
			got <- d.JobID
			assert.NoError(t, d.Ack(ctx))
		}
	}
	done := make(chan struct{})
	go func() { drain(a); done <- struct{}{} }()
	drain(b)
	<-done
	close(got)
	seen := map[string]int{}
	for id := range got {
		seen[id]++
	}
	assert.Len(t, seen, jobs)
	for id, n := range seen {
		assert.Equal(t, 1, n, "job %s", id)
	}
}

// A node that stops renewing loses its job to another once the lease has
// passed; while it renews, nobody else gets it.
func TestExpiredLeaseIsTakenOver(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	const lease = 400 * time.Millisecond
	a, b := open(t, srv, "a", lease), open(t, srv, "b", lease)
	_, err := a.Push(ctx, task("j"))
	require.NoError(t, err)
	da := take(t, a, 5*time.Second)
	require.NotNil(t, da)

	// Renewed: b waits in vain for several leases.
	assert.Nil(t, take(t, b, 4*lease), "a job whose lease is renewed is not taken over")

	a.StopRenewing() // a stalls
	db := take(t, b, 20*lease)
	require.NotNil(t, db, "b takes the job over")
	assert.True(t, db.Reclaimed)
	assert.Equal(t, "j", db.JobID)

	// a comes back: its renewal finds the job gone, and it does not take it back.
	select {
	case <-da.Lost():
		t.Fatal("lost before a renewed")
	default:
	}
	a.RenewNow(ctx)
	select {
	case <-da.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("a's delivery is not marked lost")
	}
	require.NoError(t, da.Ack(ctx), "a's Ack of a lost job does nothing")
	b.RenewNow(ctx)
	select {
	case <-db.Lost():
		t.Fatal("b lost the job it holds")
	default:
	}
	rdb := rawClient(t, srv)
	p, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: b.Key(), Group: queue.DefaultGroup, Start: "-", End: "+", Count: 10}).Result()
	require.NoError(t, err)
	require.Len(t, p, 1, "still pending: a's Ack did not acknowledge b's job")
	assert.Equal(t, "b", p[0].Consumer)
	require.NoError(t, db.Ack(ctx))
	assert.Zero(t, rdb.XLen(ctx, b.Key()).Val())
}

// Release gives a job back at once, to any node.
func TestRelease(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, b := open(t, srv, "a", 30*time.Second), open(t, srv, "b", 30*time.Second)
	_, err := a.Push(ctx, task("j"))
	require.NoError(t, err)
	d := take(t, a, 5*time.Second)
	require.NotNil(t, d)
	require.NoError(t, d.Release(ctx))
	assert.Zero(t, a.Held())
	db := take(t, b, 5*time.Second) // long before the 30 s lease
	require.NotNil(t, db)
	assert.Equal(t, "j", db.JobID)
	rdb := rawClient(t, srv)
	assert.Equal(t, int64(1), rdb.XLen(ctx, a.Key()).Val(), "one entry: the old one is gone")

	// A delivery taken over meanwhile is not queued again.
	b.StopRenewing()
	dc := take(t, a, 300*time.Millisecond)
	require.Nil(t, dc, "b's lease is 30 s")
	require.NoError(t, rdb.Do(ctx, "XCLAIM", a.Key(), queue.DefaultGroup, "a", 0, db.ID, "JUSTID").Err()) // a takes it over
	require.NoError(t, db.Release(ctx))
	assert.Equal(t, int64(1), rdb.XLen(ctx, a.Key()).Val(), "not queued twice")
}

// An entry that is not a task is handed out with its error, and Ack drops it.
func TestMalformedEntry(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := open(t, srv, "a", 10*time.Second)
	rdb := rawClient(t, srv)
	require.NoError(t, rdb.XAdd(ctx, &redis.XAddArgs{Stream: a.Key(), Values: []string{"task", "{not json"}}).Err())
	require.NoError(t, rdb.XAdd(ctx, &redis.XAddArgs{Stream: a.Key(), Values: []string{"other", "x"}}).Err())
	for range 2 {
		d := take(t, a, 5*time.Second)
		require.NotNil(t, d)
		require.Error(t, d.Err)
		assert.Contains(t, d.Err.Error(), "is not a task")
		require.NoError(t, d.Ack(ctx))
	}
	assert.Zero(t, rdb.XLen(ctx, a.Key()).Val())
}

// The stream and group come back after the Redis was flushed.
func TestGroupRecreatedAfterFlush(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := open(t, srv, "a", 10*time.Second)
	rdb := rawClient(t, srv)
	require.NoError(t, rdb.FlushAll(ctx).Err())
	assert.Nil(t, take(t, a, 300*time.Millisecond))
	_, err := a.Push(ctx, task("j"))
	require.NoError(t, err)
	d := take(t, a, 5*time.Second)
	require.NotNil(t, d)
	assert.Equal(t, "j", d.JobID)
}

func TestOptions(t *testing.T) {
	srv := redistest.Start(t)
	rdb := rawClient(t, srv)
	_, err := queue.New(context.Background(), rdb, queue.Options{})
	assert.ErrorContains(t, err, "Consumer")
	_, err = queue.New(context.Background(), rdb, queue.Options{Consumer: "a", Lease: time.Millisecond})
	assert.ErrorContains(t, err, "too short")
}
