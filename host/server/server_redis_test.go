package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/server"
	"github.com/phasehost/phasehost/host/store"
	"github.com/phasehost/phasehost/internal/redistest"
)

// Tests of the Redis engine end to end: each starts its own redis-server
// (internal/redistest), never the machine's.

// rawRedis is a plain client of rs, to look at what the nodes do.
func rawRedis(t *testing.T, rs *redistest.Server) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// jobChannel is the pub/sub channel of job id (DESIGN.md §Engines).
func jobChannel(id string) string { return "phasehost:job:{" + id + "}" }

// numSub is PUBSUB NUMSUB of each job's channel.
func numSub(t *testing.T, raw *redis.Client, ids ...string) []int64 {
	t.Helper()
	chans := make([]string, len(ids))
	for i, id := range ids {
		chans[i] = jobChannel(id)
	}
	m, err := raw.PubSubNumSub(context.Background(), chans...).Result()
	require.NoError(t, err)
	out := make([]int64, len(ids))
	for i, ch := range chans {
		out[i] = m[ch]
	}
	return out
}

// pubsubConns counts the connections in pub/sub mode: CLIENT LIST entries
// with subscriptions (sub, psub, ssub) or the P flag.
func pubsubConns(t *testing.T, raw *redis.Client) int {
	t.Helper()
	list, err := raw.ClientList(context.Background()).Result()
	require.NoError(t, err)
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		subscribed := false
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "sub", "psub", "ssub":
				if c, _ := strconv.Atoi(v); c > 0 {
					subscribed = true
				}
			case "flags":
				if strings.Contains(v, "P") {
					subscribed = true
				}
			}
		}
		if subscribed {
			n++
		}
	}
	return n
}

func dialAll(t *testing.T, base string, jobs []submitted, perJob int) map[string][]*watcher {
	t.Helper()
	var mu sync.Mutex
	ws := map[string][]*watcher{}
	var wg sync.WaitGroup
	for i := range len(jobs) * perJob {
		wg.Go(func() {
			s := jobs[i%len(jobs)]
			c, resp, err := websocket.DefaultDialer.Dial(wsURL(base, jobQuery(s, 0)), nil)
			if resp != nil {
				resp.Body.Close()
			}
			if !assert.NoError(t, err) {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
			w := watch(c)
			mu.Lock()
			ws[s.ID] = append(ws[s.ID], w)
			mu.Unlock()
		})
	}
	wg.Wait()
	return ws
}

// TestRedisOneSubscriptionPerJobPerNode: 300 WebSocket clients on 3 running
// jobs cost the node one pub/sub connection with one subscription per job;
// each client gets every event once, in order; the subscriptions go when the
// watchers do.
func TestRedisOneSubscriptionPerJobPerNode(t *testing.T) {
	e := newWSEnvOn(t, redisEngine, nil)
	raw := rawRedis(t, e.redis)
	jobs := []submitted{e.submit("cancel"), e.submit("cancel"), e.submit("cancel")}
	ids := []string{jobs[0].ID, jobs[1].ID, jobs[2].ID}
	const perJob = 100
	ws := dialAll(t, e.url, jobs, perJob)
	eventually(t, func() bool { return e.srv.WatchStats().Members == 3*perJob }, 20*time.Second, 10*time.Millisecond)

	assert.Equal(t, []int64{1, 1, 1}, numSub(t, raw, ids...), "PUBSUB NUMSUB per job channel")
	assert.Equal(t, 1, pubsubConns(t, raw), "pub/sub connections of the node")
	assert.Equal(t, 3, e.rstore.SubscribedJobs())
	st := e.srv.WatchStats()
	assert.Equal(t, 3, st.Rooms)
	assert.Equal(t, int64(3), st.Subscriptions)

	for _, s := range jobs {
		eventually(t, func() bool { return e.state(s).Seq >= 20 }, 20*time.Second, 5*time.Millisecond)
		e.cancel(s)
	}
	for _, s := range jobs {
		j := e.waitStatus(s, "cancelled")
		require.Len(t, ws[s.ID], perJob)
		for _, w := range ws[s.ID] {
			<-w.done
			require.NoError(t, w.err)
			assertSeqs(t, w.evs, 1, j.Seq)
		}
	}
	eventually(t, func() bool {
		n := numSub(t, raw, ids...)
		return n[0]+n[1]+n[2] == 0 && e.rstore.SubscribedJobs() == 0
	}, 5*time.Second, 20*time.Millisecond, "finished jobs are unsubscribed")

	// Watchers leaving a running job take its subscription with them (after
	// the store's linger).
	live := e.submit("cancel")
	lws := dialAll(t, e.url, []submitted{live}, 30)
	eventually(t, func() bool { return e.srv.WatchStats().Members == 30 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, []int64{1}, numSub(t, raw, live.ID))
	assert.Equal(t, 1, pubsubConns(t, raw))
	for _, w := range lws[live.ID] {
		_ = w.c.Close()
	}
	eventually(t, func() bool { return e.srv.WatchStats().Members == 0 }, 10*time.Second, 10*time.Millisecond)
	eventually(t, func() bool { return numSub(t, raw, live.ID)[0] == 0 }, 5*time.Second, 20*time.Millisecond,
		"unsubscribed after the linger")
	assert.Equal(t, "running", e.state(live).Status)
	e.cancel(live)
	e.waitStatus(live, "cancelled")
}

// logRecorder is a slog.Handler keeping the messages logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// TestRedisRestartMidJob: Redis is killed and restarted (with its
// append-only file) while WebSocket and SSE clients watch a running job. The
// job's worker retries the events it cannot publish meanwhile and carries
// on; every client gets seq 1..N exactly once, in order.
func TestRedisRestartMidJob(t *testing.T) {
	rs := redistest.Start(t, redistest.Persistent())
	logs := &logRecorder{}
	e := newNode(t, rs, func(c *server.Config) { c.Logger = slog.New(logs) })
	// A publish that landed while its reply was lost is recorded as an error
	// by the recording store: its seq is missing there, not from the job.
	e.shared = true
	s := e.submit("cancel")
	ws := dialAll(t, e.url, []submitted{s}, 20)
	sse := e.openSSE(s, "")
	defer sse.Body.Close()
	sseDone := make(chan []sseEvent, 1)
	go func() {
		evs, _ := readSSE(t, sse.Body, nil)
		sseDone <- evs
	}()
	eventually(t, func() bool { return e.state(s).Seq >= 10 }, 10*time.Second, 2*time.Millisecond)
	// Every watcher has joined (history read): the outage hits them watching.
	// (One joining during the outage is closed with 1013: TestWSJoinStoreDown.)
	eventually(t, func() bool { return e.srv.WatchStats().Members == 20 }, 20*time.Second, 5*time.Millisecond)

	rs.Kill()
	// Meanwhile the job's state cannot be read: 503, to try again, not 500.
	outage := time.Now()
	for time.Since(outage) < 3*time.Second { // longer than go-redis retries by itself: the worker must retry
		resp, b := e.do("GET", "/v1/jobs/"+s.ID, s.Token, nil)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", b)
		assert.Contains(t, string(b), `"code":"unavailable"`)
		assert.NotContains(t, string(b), "127.0.0.1", "the backend's address stays in the log")
		assert.Equal(t, "1", resp.Header.Get("Retry-After"))
		time.Sleep(250 * time.Millisecond)
	}
	rs.Restart()

	// The client connections may take a moment to dial again: 503 until
	// then.
	var before int64
	eventually(t, func() bool {
		resp, b := e.do("GET", "/v1/jobs/"+s.ID, s.Token, nil)
		if resp.StatusCode == http.StatusServiceUnavailable {
			return false
		}
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
		var j store.Job
		require.NoError(t, json.Unmarshal(b, &j))
		if before == 0 {
			before = j.Seq
		}
		return j.Seq > before+5
	}, 20*time.Second, 20*time.Millisecond, "events flow again after the restart")
	e.cancel(s)
	j := e.waitStatus(s, "cancelled", "failed")
	require.Equal(t, "cancelled", j.Status, "the job outlived the outage: %s", j.Error)
	assert.Positive(t, logs.count("event not published; retrying"), "the outage hit a publish")
	assert.Zero(t, logs.count("job event not published"))

	for _, w := range ws[s.ID] {
		<-w.done
		require.NoError(t, w.err)
		assertSeqs(t, w.evs, 1, j.Seq)
	}
	select {
	case evs := <-sseDone:
		require.Len(t, evs, int(j.Seq))
		for i, se := range evs {
			require.Equal(t, int64(i+1), se.ev.Seq)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the SSE stream did not end")
	}
	// No event was stored twice: a retried publish whose first attempt had
	// landed was recognised.
	hist, err := e.store.History(context.Background(), s.ID, 0)
	require.NoError(t, err)
	type key struct {
		t     time.Time
		phase string
		done  int64
	}
	seen := map[key]int64{}
	for _, ev := range hist {
		k := key{t: ev.Time, phase: ev.SourcePhase + ev.Type + ev.Status}
		if ev.Done != nil {
			k.done = *ev.Done
		}
		assert.Zero(t, seen[k], "event %d repeats event %d", ev.Seq, seen[k])
		seen[k] = ev.Seq
	}
	t.Logf("retries: %d; events found landed by an earlier attempt: %d",
		logs.count("event not published; retrying"), logs.count("event found published by an earlier attempt"))
}

// TestRedisTwoNodes: a job submitted on node A is watched on node B, over
// WebSocket and SSE, with A's token; B cancels a job A runs.
func TestRedisTwoNodes(t *testing.T) {
	rs := redistest.Start(t)
	a := newNode(t, rs, nil)
	b := newNode(t, rs, nil)
	a.shared, b.shared = true, true

	t.Run("finished on A, read on B", func(t *testing.T) {
		s := a.submit("ok", "ok")
		j := b.waitStatus(s, "succeeded")
		assert.JSONEq(t, `{"ok":true,"input_len":25}`, string(j.Result))
		resp := b.openSSE(s, "")
		defer resp.Body.Close()
		evs, _ := readSSE(t, resp.Body, nil)
		require.Len(t, evs, int(j.Seq))
		for i, se := range evs {
			require.Equal(t, int64(i+1), se.ev.Seq)
		}
		c := dialWS(t, b.url, jobQuery(s, 0))
		assertSeqs(t, readWS(t, c, wsMsg.final), 1, j.Seq)
	})

	t.Run("running on A, watched and cancelled on B", func(t *testing.T) {
		s := a.submit("cancel")
		ws := dialAll(t, b.url, []submitted{s}, 5)
		sub := dialWS(t, b.url, "") // a subscribe frame with A's token
		sendFrame(t, sub, map[string]any{"op": "subscribe", "job": s.ID, "token": s.Token})
		subW := watch(sub)
		sse := b.openSSE(s, "")
		defer sse.Body.Close()
		sseDone := make(chan []sseEvent, 1)
		go func() {
			evs, _ := readSSE(t, sse.Body, nil)
			sseDone <- evs
		}()
		eventually(t, func() bool { return b.state(s).Seq >= 10 }, 10*time.Second, 5*time.Millisecond)
		resp, body := b.do("DELETE", "/v1/jobs/"+s.ID, s.Token, nil)
		require.Equal(t, 202, resp.StatusCode, "%s", body)
		j := b.waitStatus(s, "cancelled")
		assert.Contains(t, j.Error, "cancelled")
		assert.Equal(t, "cancelled", j.Stages[0].Status, "the stage that ran ends too")
		for _, w := range ws[s.ID] {
			<-w.done
			require.NoError(t, w.err)
			assertSeqs(t, w.evs, 1, j.Seq)
		}
		<-subW.done
		require.NoError(t, subW.err)
		require.Equal(t, "subscribed", subW.evs[0].Type)
		assertSeqs(t, subW.evs[1:], 1, j.Seq)
		select {
		case evs := <-sseDone:
			require.Len(t, evs, int(j.Seq))
			for i, se := range evs {
				require.Equal(t, int64(i+1), se.ev.Seq)
			}
			assert.Equal(t, event.StatusCancelled, evs[len(evs)-1].ev.Status)
		case <-time.After(20 * time.Second):
			t.Fatal("the SSE stream did not end")
		}
		// A stops the run: its worker is free again.
		eventually(t, func() bool { return metricValue(t, a, "phasehost_jobs_running") == 0 }, 10*time.Second, 20*time.Millisecond)
		resp, body = a.do("DELETE", "/v1/jobs/"+s.ID, s.Token, nil)
		assert.Equal(t, 409, resp.StatusCode)
		assertError(t, body, "job_finished")
	})
}

// TestRedisReadyz: /readyz follows Redis: 200 while up, 503 not_ready once it
// is killed, 200 again after the restart.
func TestRedisReadyz(t *testing.T) {
	e := newEnvOn(t, redisEngine, nil)
	resp, b := e.do("GET", "/readyz", "", nil)
	require.Equal(t, 200, resp.StatusCode, "%s", b)

	e.redis.Kill()
	var body []byte
	eventually(t, func() bool {
		resp, body = e.do("GET", "/readyz", "", nil)
		return resp.StatusCode == 503
	}, 10*time.Second, 50*time.Millisecond)
	assert.Contains(t, assertError(t, body, "not_ready"), "redis")

	e.redis.Restart()
	eventually(t, func() bool {
		resp, _ := e.do("GET", "/readyz", "", nil)
		return resp.StatusCode == 200
	}, 20*time.Second, 50*time.Millisecond)
}
