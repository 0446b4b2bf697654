package server_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/server"
	"github.com/phasehost/phasehost/host/store"
)

// errUnreachable stands for a network error of a shared store.
var errUnreachable = errors.New("dial tcp 127.0.0.1:6390: connect: connection refused")

// flakyStore fails chosen Publish calls as an unreachable store would: "fail"
// before applying the event, "land" after applying it (the reply was lost),
// and every call while down is set.
type flakyStore struct {
	store.Store
	mu   sync.Mutex
	n    int
	plan map[int]string
	down atomic.Bool
}

func (f *flakyStore) Publish(ctx context.Context, ev event.Event) (event.Event, error) {
	if f.down.Load() {
		return event.Event{}, errUnreachable
	}
	f.mu.Lock()
	f.n++
	what := f.plan[f.n]
	f.mu.Unlock()
	switch what {
	case "fail":
		return event.Event{}, errUnreachable
	case "land":
		if _, err := f.Store.Publish(ctx, ev); err != nil {
			return event.Event{}, err
		}
		return event.Event{}, errUnreachable
	}
	return f.Store.Publish(ctx, ev)
}

// A job whose events fail to publish now and then, some of them applied
// nonetheless, ends as if nothing happened: no event lost, none repeated.
func TestPublishRetriedWithoutRepeats(t *testing.T) {
	flaky := &flakyStore{plan: map[int]string{3: "fail", 4: "fail", 6: "land", 8: "land", 9: "fail", 11: "land"}}
	e := newEnv(t, func(c *server.Config) {
		flaky.Store = c.Store
		c.Store = flaky
		c.PublishRetry = 10 * time.Second
	})
	s := e.submit("ok")
	j := e.waitStatus(s, "succeeded", "failed")
	require.Equal(t, "succeeded", j.Status, j.Error)
	hist, err := e.store.History(context.Background(), s.ID, 0)
	require.NoError(t, err)
	// queued, running, stage running, START, 4 PROGRESS, END, stage succeeded, succeeded
	require.Len(t, hist, 11)
	var dones []int64
	for _, ev := range hist {
		if ev.Type == event.TypePhase {
			dones = append(dones, *ev.Done)
		}
	}
	assert.Equal(t, []int64{0, 1, 2, 3, 4, 4}, dones)
	assert.Equal(t, event.StatusSucceeded, hist[len(hist)-1].Status)
}

// An outage longer than PublishRetry fails the job once the store is back,
// with the cause.
func TestPublishRetryGivesUp(t *testing.T) {
	flaky := &flakyStore{}
	e := newEnv(t, func(c *server.Config) {
		flaky.Store = c.Store
		c.Store = flaky
		c.PublishRetry = 300 * time.Millisecond
	})
	s := e.submit("cancel")
	eventually(t, func() bool { return e.state(s).Seq >= 5 }, 10*time.Second, 2*time.Millisecond)
	flaky.down.Store(true)
	time.Sleep(400 * time.Millisecond) // the event is given up; the failure is retried
	flaky.down.Store(false)
	j := e.waitStatus(s, "failed", "cancelled")
	assert.Equal(t, "failed", j.Status)
	assert.Contains(t, j.Error, "gave up publishing")
	assert.Contains(t, j.Error, errUnreachable.Error())
}

// readyStore is a store with a readiness probe that counts its calls.
type readyStore struct {
	store.Store
	calls atomic.Int32
	err   atomic.Pointer[error]
}

func (r *readyStore) Ready(context.Context) error {
	r.calls.Add(1)
	if p := r.err.Load(); p != nil {
		return *p
	}
	return nil
}

// /readyz asks a store that can tell, at most once per ReadyCache.
func TestReadyzProbesStoreCached(t *testing.T) {
	rs := &readyStore{}
	e := newEnv(t, func(c *server.Config) {
		rs.Store = c.Store
		c.Store = rs
		c.ReadyCache = 300 * time.Millisecond
	})
	for range 20 {
		resp, b := e.do("GET", "/readyz", "", nil)
		require.Equal(t, 200, resp.StatusCode, "%s", b)
	}
	assert.Equal(t, int32(1), rs.calls.Load(), "probes within ReadyCache share one")

	deaf := errors.New("redis store: not ready: probe not received on the shared subscription")
	rs.err.Store(&deaf)
	var body []byte
	eventually(t, func() bool {
		resp, b := e.do("GET", "/readyz", "", nil)
		body = b
		return resp.StatusCode == 503
	}, 5*time.Second, 20*time.Millisecond)
	assert.Contains(t, assertError(t, body, "not_ready"), "probe not received")
	rs.err.Store(nil)
	eventually(t, func() bool {
		resp, _ := e.do("GET", "/readyz", "", nil)
		return resp.StatusCode == 200
	}, 5*time.Second, 20*time.Millisecond)
}
