package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/cluster"
	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/queue"
	"github.com/phasehost/phasehost/host/server"
	"github.com/phasehost/phasehost/internal/redistest"
)

// Tests of jobs across nodes (shared.go): nodes of one private redis-server
// take jobs from the shared queue.

// sharedNode is a node of rs whose workers take jobs from the shared queue.
// Its queue has a Redis client of its own (rdb), which the test may close to
// cut the node off from its leases.
type sharedNode struct {
	*env
	q   *queue.Queue
	rdb *redis.Client
}

type sharedOpts struct {
	name        string
	workers     int
	lease       time.Duration
	maxAttempts int
	noSlow      bool // without the slow module
	cluster     bool // sharing uploaded plugins (host/cluster)
}

func newSharedNode(t *testing.T, rs *redistest.Server, o sharedOpts) sharedNode {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	q, err := queue.New(context.Background(), rdb, queue.Options{Consumer: o.name, Lease: o.lease, Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { // after the server's shutdown, registered below
		_ = q.Close()
		_ = rdb.Close()
	})
	e := newNode(t, rs, func(c *server.Config) {
		if !o.noSlow {
			loaded, failed, err := c.Registry.LoadDir(context.Background(), c.Engine, modules+"valid/slow.wasm")
			require.NoError(t, err)
			require.Empty(t, failed)
			require.Len(t, loaded, 1)
		}
		c.Queue, c.Workers, c.MaxAttempts = q, o.workers, o.maxAttempts
		if o.cluster {
			listener, ok := c.Store.(*recordingStore).Store.(cluster.Listener)
			require.True(t, ok)
			cl, err := cluster.Open(context.Background(), rs.URL(), cluster.Options{NodeID: o.name,
				Engine: c.Engine, Registry: c.Registry, Logger: quiet, Listener: listener})
			require.NoError(t, err)
			require.NoError(t, cl.Start(context.Background()))
			t.Cleanup(func() { _ = cl.Close() })
			c.Cluster = cl
		}
	})
	e.shared = true
	return sharedNode{env: e, q: q, rdb: rdb}
}

// submitSlow submits a slow job of about rounds rounds (a round is about a
// millisecond of spinning) per stage; stages slow stages (default 1).
func (e *env) submitSlow(rounds int, stages ...int) submitted {
	e.t.Helper()
	pad := strings.Repeat("x", max(rounds-10, 0))
	pipeline := []string{"slow"}
	for range max(append(stages, 1)[0]-1, 0) {
		pipeline = append(pipeline, "slow")
	}
	body, _ := json.Marshal(map[string]any{"pipeline": pipeline, "input": map[string]any{"pad": pad}})
	resp, b := e.do("POST", "/v1/jobs", "", bytes.NewReader(body))
	require.Equal(e.t, http.StatusAccepted, resp.StatusCode, "%s", b)
	var s submitted
	require.NoError(e.t, json.Unmarshal(b, &s))
	return s
}

// history is the job's events as the store keeps them.
func (e *env) history(id string) []event.Event {
	e.t.Helper()
	hist, err := e.store.History(context.Background(), id, 0)
	require.NoError(e.t, err)
	return hist
}

// finals counts the job events that end the job.
func finals(hist []event.Event) int {
	n := 0
	for _, ev := range hist {
		if ev.Type == event.TypeJob && event.Terminal(ev.Status) {
			n++
		}
	}
	return n
}

// assertContiguous checks seqs 1..N.
func assertContiguous(t *testing.T, hist []event.Event) {
	t.Helper()
	for i, ev := range hist {
		require.Equal(t, int64(i+1), ev.Seq, "event %d of %s", i, ev.JobID)
	}
}

// Jobs accepted by one node run on whichever node has a free worker, and a
// cancel sent to any node reaches the node running the job.
func TestSharedQueueSpreadsJobs(t *testing.T) {
	rs := redistest.Start(t)
	a := newSharedNode(t, rs, sharedOpts{name: "a", workers: 1})
	b := newSharedNode(t, rs, sharedOpts{name: "b", workers: 1})

	// Two endless jobs on A: with one worker per node, both run only if B
	// took one.
	j1, j2 := a.submit("cancel"), a.submit("cancel")
	eventually(t, func() bool {
		return a.state(j1).Status == "running" && a.state(j2).Status == "running"
	}, 10*time.Second, 10*time.Millisecond, "both jobs run, one on each node")
	assert.Equal(t, 1, a.q.Held())
	assert.Equal(t, 1, b.q.Held())

	// Cancelled through A, both end (one runs on B).
	a.cancel(j1)
	a.cancel(j2)
	for _, s := range []submitted{j1, j2} {
		j := a.waitStatus(s, "cancelled")
		require.Equal(t, "cancelled", j.Status)
		hist := a.history(s.ID)
		assertContiguous(t, hist)
		assert.Equal(t, 1, finals(hist))
	}

	// Submitted on B, run anywhere, visible everywhere.
	s := b.submit("ok")
	j := a.waitStatus(s, "succeeded", "failed")
	require.Equal(t, "succeeded", j.Status, "%s", j.Error)
	eventually(t, func() bool { return a.q.Held() == 0 && b.q.Held() == 0 }, 5*time.Second, 10*time.Millisecond)
	assert.Zero(t, rawRedis(t, rs).XLen(context.Background(), a.q.Key()).Val(), "every entry acknowledged and deleted")
}

// A job cancelled while it waits in the queue is dropped by the node that
// takes it; a job naming a module the taking node lacks fails, saying so.
func TestSharedQueueWaitingJobs(t *testing.T) {
	rs := redistest.Start(t)
	a := newSharedNode(t, rs, sharedOpts{name: "a", workers: 1})
	busy := a.submit("cancel")
	eventually(t, func() bool { return a.state(busy).Status == "running" }, 10*time.Second, 10*time.Millisecond)

	waiting := a.submit("ok")
	a.cancel(waiting)
	assert.Equal(t, "cancelled", a.waitStatus(waiting, "cancelled").Status)

	// B has no slow module; A's only worker is busy: B takes the job.
	b := newSharedNode(t, rs, sharedOpts{name: "b", workers: 1, noSlow: true})
	s := a.submitSlow(50)
	j := a.waitStatus(s, "succeeded", "failed")
	require.Equal(t, "failed", j.Status)
	assert.Contains(t, j.Error, "node ")
	assert.Contains(t, j.Error, `cannot run stage 0`)
	assert.Contains(t, j.Error, `no plugin named "slow"`)

	a.cancel(busy)
	a.waitStatus(busy, "cancelled")
	eventually(t, func() bool { return a.q.Held() == 0 && b.q.Held() == 0 }, 5*time.Second, 10*time.Millisecond)
	raw := rawRedis(t, rs)
	eventually(t, func() bool { return raw.XLen(context.Background(), a.q.Key()).Val() == 0 }, 5*time.Second, 10*time.Millisecond,
		"the cancelled job's entry was taken and dropped")
	hist := a.history(waiting.ID)
	assertContiguous(t, hist)
	assert.Equal(t, 1, finals(hist))
}

// A node cut off from its leases (stalled, partitioned) loses its running
// job to another node, which runs it again; the first run, fenced, publishes
// nothing more, and the job ends once.
func TestSharedQueueStalledNodeJobTakenOver(t *testing.T) {
	const lease = 500 * time.Millisecond
	rs := redistest.Start(t)
	a := newSharedNode(t, rs, sharedOpts{name: "a", workers: 1, lease: lease})
	s := a.submitSlow(3000)
	eventually(t, func() bool { return a.state(s).Stages[0].Percent > 0 }, 10*time.Second, 5*time.Millisecond)
	b := newSharedNode(t, rs, sharedOpts{name: "b", workers: 1, lease: lease})

	require.NoError(t, a.rdb.Close()) // A's leases go unrenewed; its store still works
	j := b.waitStatus(s, "succeeded", "failed")
	require.Equal(t, "succeeded", j.Status, "%s", j.Error)
	assert.Contains(t, string(j.Result), `"pad":"xxx`, "slow's output is its input")

	hist := b.history(s.ID)
	assertContiguous(t, hist)
	assert.Equal(t, 1, finals(hist), "the job ends once")
	var attempts []string
	for _, ev := range hist {
		if ev.Type == event.TypeJob && ev.Status == event.StatusRunning {
			attempts = append(attempts, ev.Message)
		}
	}
	require.Len(t, attempts, 2, "run on A, then again on B")
	assert.Empty(t, attempts[0])
	assert.Contains(t, attempts[1], "attempt 2")
	// A's run stopped at its first refused event: nothing after B's start
	// comes from it (B's events restart the stage from 0 and only go up).
	var restart int
	for i, ev := range hist {
		if ev.Type == event.TypeJob && ev.Status == event.StatusRunning {
			restart = i
		}
	}
	last := -1.0
	for _, ev := range hist[restart:] {
		if ev.Type == event.TypePhase && ev.Percent != nil {
			require.GreaterOrEqual(t, *ev.Percent, last, "seq %d: a stale event of the fenced run", ev.Seq)
			last = *ev.Percent
		}
	}
	eventually(t, func() bool { return metricValue(t, a.env, "phasehost_jobs_running") == 0 }, 10*time.Second, 10*time.Millisecond, "A's run stopped")
	assert.Equal(t, 1.0, metricValue(t, b.env, `phasehost_shared_queue_jobs_total{how="taken_over"}`))
}

// A job whose nodes keep dying is failed after MaxAttempts takes.
func TestSharedQueueGivesUpAfterMaxAttempts(t *testing.T) {
	const lease = 300 * time.Millisecond
	rs := redistest.Start(t)
	a := newSharedNode(t, rs, sharedOpts{name: "a", workers: 1, lease: lease, maxAttempts: 1})
	s := a.submitSlow(3000)
	eventually(t, func() bool { return a.state(s).Stages[0].Percent > 0 }, 10*time.Second, 5*time.Millisecond)
	b := newSharedNode(t, rs, sharedOpts{name: "b", workers: 1, lease: lease, maxAttempts: 1})
	require.NoError(t, a.rdb.Close())
	j := b.waitStatus(s, "succeeded", "failed")
	require.Equal(t, "failed", j.Status)
	assert.Contains(t, j.Error, "gave up after 1 attempts")
	hist := b.history(s.ID)
	assertContiguous(t, hist)
	assert.Equal(t, 1, finals(hist))
}

// A node shutting down past its grace hands its running job over: another
// node runs it to its end, and nobody cancels it.
func TestSharedQueueShutdownHandsJobsOver(t *testing.T) {
	rs := redistest.Start(t)
	a := newSharedNode(t, rs, sharedOpts{name: "a", workers: 1, lease: 30 * time.Second})
	s := a.submitSlow(3000)
	eventually(t, func() bool { return a.state(s).Stages[0].Percent > 0 }, 10*time.Second, 5*time.Millisecond)
	b := newSharedNode(t, rs, sharedOpts{name: "b", workers: 1, lease: 30 * time.Second})

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	require.ErrorContains(t, err, "handed over to other nodes")

	// Long before the 30 s lease: the hand-over released it.
	j := b.waitStatus(s, "succeeded", "failed", "cancelled")
	require.Equal(t, "succeeded", j.Status, "%s", j.Error)
	hist := b.history(s.ID)
	assertContiguous(t, hist)
	assert.Equal(t, 1, finals(hist))
	var notes []string
	for _, ev := range hist {
		assert.NotEqual(t, event.StatusCancelled, ev.Status, "seq %d", ev.Seq)
		if ev.Type == event.TypeJob && ev.Status == event.StatusRunning {
			notes = append(notes, ev.Message)
		}
	}
	require.Len(t, notes, 2)
	assert.Contains(t, notes[1], "attempt 2, ", "a hand-over is not an attempt of its own")
}

// While the Redis is down a submission is refused with 503 unavailable,
// saying what failed; once it is back jobs are accepted and run again.
func TestSharedQueueRedisDown(t *testing.T) {
	rs := redistest.Start(t)
	a := newSharedNode(t, rs, sharedOpts{name: "a", workers: 1})
	rs.Kill()
	body := strings.NewReader(`{"pipeline":["ok"],"input":{}}`)
	resp, b := a.do("POST", "/v1/jobs", "", body)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", b)
	var e struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal(b, &e))
	assert.Equal(t, "unavailable", e.Error.Code)
	assert.Contains(t, e.Error.Message, "the shared job queue cannot be reached")

	rs.Restart() // empty: the stream and its group are made again
	eventually(t, func() bool {
		resp, _ := a.do("POST", "/v1/jobs", "", strings.NewReader(`{"pipeline":["ok"],"input":{}}`))
		return resp.StatusCode == http.StatusAccepted
	}, 10*time.Second, 50*time.Millisecond)
	s := a.submit("ok")
	j := a.waitStatus(s, "succeeded", "failed")
	require.Equal(t, "succeeded", j.Status, "%s", j.Error)
}

// A job accepted with an uploaded version runs on it even when that version
// is removed before any node takes the job: the cluster keeps its module.
func TestSharedQueueRunsRemovedVersion(t *testing.T) {
	rs := redistest.Start(t)
	a := newSharedNode(t, rs, sharedOpts{name: "a", workers: 1, cluster: true})
	wasm := repack(t, "valid/ok.wasm", func(m *manifest.Manifest) { m.Version = "1.1.0" })
	resp, body := a.upload("operator", wasm)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)

	busy := a.submit("cancel") // the only worker
	eventually(t, func() bool { return a.state(busy).Status == "running" }, 10*time.Second, 10*time.Millisecond)
	s := a.submit("ok")
	assert.Equal(t, "1.1.0", a.state(s).Stages[0].Version)
	resp, body = a.do("DELETE", "/v1/plugins/ok/1.1.0", "operator", nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
	require.False(t, a.has("ok", "1.1.0"))

	a.cancel(busy)
	j := a.waitStatus(s, "succeeded", "failed")
	require.Equal(t, "succeeded", j.Status, "%s", j.Error)
	for _, ev := range a.history(s.ID) {
		if ev.Plugin != "" {
			assert.Equal(t, "1.1.0", ev.Version, "seq %d", ev.Seq)
		}
	}
	assert.False(t, a.has("ok", "1.1.0"), "loaded for the job alone, not registered")
}

// A job taken over resumes after the stages its previous node completed: the
// node records a checkpoint (stage count and output) after each stage.
func TestSharedQueueTakeOverResumesAfterCompletedStages(t *testing.T) {
	const lease = 500 * time.Millisecond
	rs := redistest.Start(t)
	a := newSharedNode(t, rs, sharedOpts{name: "a", workers: 1, lease: lease})
	s := a.submitSlow(3000, 2) // about 4 s per stage: B is made and takes over well within the second
	eventually(t, func() bool {
		j := a.state(s)
		return j.Stages[0].Status == "succeeded" && j.Stages[1].Percent > 0
	}, 20*time.Second, 5*time.Millisecond, "A is in the second stage")
	b := newSharedNode(t, rs, sharedOpts{name: "b", workers: 1, lease: lease})
	require.NoError(t, a.rdb.Close())

	j := b.waitStatus(s, "succeeded", "failed")
	require.Equal(t, "succeeded", j.Status, "%s", j.Error)
	hist := b.history(s.ID)
	assertContiguous(t, hist)
	assert.Equal(t, 1, finals(hist))
	restart := -1
	for i, ev := range hist {
		if ev.Type == event.TypeJob && ev.Status == event.StatusRunning && ev.Message != "" {
			restart = i
			assert.Contains(t, ev.Message, "attempt 2")
			assert.Contains(t, ev.Message, "resuming after its stage 0")
			assert.InDelta(t, 50, *ev.JobPercent, 0.01, "the first stage counts as done")
		}
	}
	require.Positive(t, restart, "taken over")
	for _, ev := range hist[restart+1:] {
		if ev.StageIndex != nil {
			require.Equal(t, 1, *ev.StageIndex, "seq %d: the completed stage is not run again", ev.Seq)
		}
	}
	assert.Zero(t, rawRedis(t, rs).Exists(context.Background(), "phasehost:checkpoint:{"+s.ID+"}").Val(),
		"the checkpoint goes with the job")
}
