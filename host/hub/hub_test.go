package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/hub"
	"github.com/phasehost/phasehost/host/store"
)

var errConnClosed = errors.New("fake conn closed")

// fakeConn is a hub.Conn with a bounded queue that a consumer drains (or
// not: stalled). It records, per job, the seqs of the events it received
// since the last reset.
type fakeConn struct {
	cap     int
	stalled bool
	hold    bool // SendWait waits until its ctx is done

	mu      sync.Mutex
	queued  int
	seqs    map[string][]int64
	acks    map[string]int64
	slow    bool
	closed  bool
	drops   map[string]error
	space   chan struct{}
	lastMsg map[string][]byte
}

func newConn(capacity int, stalled bool) *fakeConn {
	return &fakeConn{cap: capacity, stalled: stalled, seqs: map[string][]int64{}, acks: map[string]int64{},
		drops: map[string]error{}, space: make(chan struct{}, 1), lastMsg: map[string][]byte{}}
}

func (c *fakeConn) Send(msg []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.slow:
		return hub.ErrFull
	case c.closed:
		return errConnClosed
	case c.queued >= c.cap:
		return hub.ErrFull
	}
	var m struct {
		Type  string `json:"type"`
		JobID string `json:"job_id"`
		Seq   int64  `json:"seq"`
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		panic(err)
	}
	if m.Type == "ack" {
		c.acks[m.JobID] = m.Seq
		return nil
	}
	c.seqs[m.JobID] = append(c.seqs[m.JobID], m.Seq)
	c.lastMsg[m.JobID] = msg
	if c.stalled {
		c.queued++
	}
	return nil
}

func (c *fakeConn) SendWait(ctx context.Context, msg []byte) error {
	if c.hold {
		<-ctx.Done()
		return ctx.Err()
	}
	if c.stalled { // nobody drains it: waiting would never end
		return c.Send(msg)
	}
	for {
		c.mu.Lock()
		ok := c.queued < max(c.cap/2, 1) || c.slow || c.closed
		c.mu.Unlock()
		if ok {
			return c.Send(msg)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.space:
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (c *fakeConn) CloseSlow() {
	c.mu.Lock()
	c.slow = true
	c.mu.Unlock()
}

func (c *fakeConn) Drop(id string, err error) {
	c.mu.Lock()
	c.drops[id] = err
	c.mu.Unlock()
}

func (c *fakeConn) reset(id string) {
	c.mu.Lock()
	delete(c.seqs, id)
	c.mu.Unlock()
}

func (c *fakeConn) got(id string) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.seqs[id]...)
}

func (c *fakeConn) isSlow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slow
}

func ack(id string) func(int64) []byte {
	return func(seq int64) []byte { return fmt.Appendf(nil, `{"type":"ack","job_id":%q,"seq":%d}`, id, seq) }
}

// contiguous reports whether seqs are from, from+1, ...
func contiguous(seqs []int64, from int64) error {
	for i, s := range seqs {
		if s != from+int64(i) {
			return fmt.Errorf("position %d: seq %d, want %d (all: %v)", i, s, from+int64(i), seqs)
		}
	}
	return nil
}

func newJob(t testing.TB, st store.Store, id string) {
	t.Helper()
	_, err := st.Create(context.Background(), store.NewJob{ID: id, Pipeline: []string{"x"}, Stages: []store.StageState{{Stage: "x"}}})
	require.NoError(t, err)
}

func publish(t testing.TB, st store.Store, id string, final bool) int64 {
	ev := event.Event{JobID: id, Type: event.TypeStage, Status: event.StatusRunning, Stage: "x", StageIndex: event.Int(0)}
	if final {
		ev = event.Event{JobID: id, Type: event.TypeJob, Status: event.StatusSucceeded}
	}
	out, err := st.Publish(context.Background(), ev)
	if err != nil {
		t.Errorf("publish %s: %v", id, err)
	}
	return out.Seq
}

func newHub(t testing.TB, st store.Store) *hub.Hub {
	h, err := hub.New(hub.Config{Store: st, Logger: slog.New(slog.DiscardHandler), Recent: 8, RetryMin: time.Millisecond, RetryMax: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(h.Close)
	return h
}

func TestJoinHistoryThenLiveAndFinish(t *testing.T) {
	st := store.NewMemory(store.Options{})
	defer st.Close()
	h := newHub(t, st)
	newJob(t, st, "j")
	for range 5 {
		publish(t, st, "j", false)
	}
	c := newConn(1000, false)
	seq, err := h.Join(context.Background(), c, "j", 2, ack("j"))
	require.NoError(t, err)
	assert.Equal(t, int64(5), seq)
	assert.Equal(t, int64(5), c.acks["j"])
	assert.Equal(t, hub.Stats{Rooms: 1, Conns: 1, Members: 1, Subscriptions: 1}, h.Stats())
	_, err = h.Join(context.Background(), c, "j", 0, nil)
	assert.ErrorIs(t, err, hub.ErrJoined)

	for range 5 {
		publish(t, st, "j", false)
	}
	publish(t, st, "j", true)
	require.Eventually(t, func() bool { return h.Stats().Rooms == 0 }, 5*time.Second, time.Millisecond)
	assert.NoError(t, contiguous(c.got("j"), 3))
	assert.Len(t, c.got("j"), 9) // 3..11
	assert.Equal(t, hub.Stats{}, h.Stats(), "the room is dissolved and its subscription closed")

	// A finished job: history only, no room.
	c2 := newConn(1000, false)
	_, err = h.Join(context.Background(), c2, "j", 9, nil)
	require.NoError(t, err)
	assert.Equal(t, []int64{10, 11}, c2.got("j"))
	assert.Equal(t, hub.Stats{}, h.Stats())

	_, err = h.Join(context.Background(), c2, "nope", 0, nil)
	assert.ErrorIs(t, err, store.ErrNotFound)
}

func TestOneSubscriptionPerRoomAndEncodeOnce(t *testing.T) {
	st := &countingStore{Store: store.NewMemory(store.Options{})}
	defer st.Close()
	h := newHub(t, st)
	newJob(t, st, "a")
	newJob(t, st, "b")
	var conns []*fakeConn
	for i := range 20 {
		c := newConn(1000, false)
		conns = append(conns, c)
		_, err := h.Join(context.Background(), c, []string{"a", "b"}[i%2], 0, nil)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(2), st.subs.Load())
	assert.Equal(t, int64(2), h.Stats().Subscriptions)
	publish(t, st, "a", false)
	require.Eventually(t, func() bool { return len(conns[0].got("a")) == 1 }, 5*time.Second, time.Millisecond)
	// Every watcher of a got the very same bytes.
	conns[0].mu.Lock()
	first := conns[0].lastMsg["a"]
	conns[0].mu.Unlock()
	for i := 2; i < len(conns); i += 2 {
		require.Eventually(t, func() bool { return len(conns[i].got("a")) == 1 }, 5*time.Second, time.Millisecond)
		conns[i].mu.Lock()
		assert.Same(t, &first[0], &conns[i].lastMsg["a"][0])
		conns[i].mu.Unlock()
	}
	for _, c := range conns {
		h.LeaveAll(c)
	}
	require.Eventually(t, func() bool { return h.Stats() == hub.Stats{} && st.open.Load() == 0 }, 5*time.Second, time.Millisecond,
		"the room goroutines close the subscriptions when the last watcher leaves")
}

func TestSlowConnClosedOthersServed(t *testing.T) {
	st := store.NewMemory(store.Options{})
	defer st.Close()
	h := newHub(t, st)
	newJob(t, st, "j")
	newJob(t, st, "k")
	stalled := newConn(4, true)
	fast := newConn(1000, false)
	for _, c := range []*fakeConn{stalled, fast} {
		for _, id := range []string{"j", "k"} {
			_, err := h.Join(context.Background(), c, id, 0, nil)
			require.NoError(t, err)
		}
	}
	for range 20 {
		publish(t, st, "j", false)
	}
	publish(t, st, "j", true)
	require.Eventually(t, func() bool { return len(fast.got("j")) == 21 }, 5*time.Second, time.Millisecond)
	assert.NoError(t, contiguous(fast.got("j"), 1))
	assert.True(t, stalled.isSlow())
	assert.NoError(t, contiguous(stalled.got("j"), 1))
	assert.Len(t, stalled.got("j"), 4)
	st2 := h.Stats()
	assert.Equal(t, 1, st2.Conns, "the slow conn left every room")
	assert.Equal(t, 1, st2.Members)
}

// countingStore counts subscriptions and can break them.
type countingStore struct {
	store.Store
	subs, open atomic.Int64
	failNext   atomic.Int64 // Subscribe fails this many times
	mu         sync.Mutex
	live       []*brokenSub
}

func (s *countingStore) Subscribe(ctx context.Context, id string) (store.Subscription, error) {
	if s.failNext.Load() > 0 {
		s.failNext.Add(-1)
		return nil, errors.New("connection refused")
	}
	sub, err := s.Store.Subscribe(ctx, id)
	if err != nil {
		return nil, err
	}
	s.subs.Add(1)
	s.open.Add(1)
	b := &brokenSub{Subscription: sub, s: s, c: make(chan event.Event), stop: make(chan struct{})}
	go b.pump()
	s.mu.Lock()
	s.live = append(s.live, b)
	s.mu.Unlock()
	return b, nil
}

// breakAll ends every open subscription with err, as a failed connection would.
func (s *countingStore) breakAll(err error) {
	s.mu.Lock()
	live := s.live
	s.live = nil
	s.mu.Unlock()
	for _, b := range live {
		b.breakWith(err)
	}
}

type brokenSub struct {
	store.Subscription
	s      *countingStore
	c      chan event.Event
	stop   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	err    error
	closed bool
}

func (b *brokenSub) pump() {
	defer close(b.c)
	for {
		select {
		case <-b.stop:
			return
		case ev, ok := <-b.Subscription.C():
			if !ok {
				b.mu.Lock()
				if b.err == nil {
					b.err = b.Subscription.Err()
				}
				b.mu.Unlock()
				return
			}
			select {
			case b.c <- ev:
			case <-b.stop:
				return
			}
		}
	}
}

func (b *brokenSub) C() <-chan event.Event { return b.c }
func (b *brokenSub) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}
func (b *brokenSub) breakWith(err error) {
	b.mu.Lock()
	b.err = err
	b.mu.Unlock()
	b.once.Do(func() { close(b.stop) })
	b.Subscription.Close()
}
func (b *brokenSub) Close() {
	b.mu.Lock()
	first := !b.closed
	b.closed = true
	b.mu.Unlock()
	if first {
		b.s.open.Add(-1)
	}
	b.once.Do(func() { close(b.stop) })
	b.Subscription.Close()
}

func TestRoomResubscribesAndCatchesUp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		fails int64
	}{
		{"store dropped the room as slow", store.ErrSlowSubscriber, 0},
		{"connection failed, Subscribe fails a few times", errors.New("read: connection reset"), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &countingStore{Store: store.NewMemory(store.Options{})}
			defer st.Close()
			h := newHub(t, st)
			newJob(t, st, "j")
			conns := []*fakeConn{newConn(1000, false), newConn(1000, false)}
			for _, c := range conns {
				_, err := h.Join(context.Background(), c, "j", 0, nil)
				require.NoError(t, err)
			}
			for range 3 {
				publish(t, st, "j", false)
			}
			require.Eventually(t, func() bool { return len(conns[1].got("j")) == 3 }, 5*time.Second, time.Millisecond)
			st.failNext.Store(tc.fails)
			st.breakAll(tc.err)
			for range 5 { // published while the room has no subscription
				publish(t, st, "j", false)
			}
			publish(t, st, "j", true)
			for _, c := range conns {
				require.Eventually(t, func() bool { return len(c.got("j")) == 9 }, 5*time.Second, time.Millisecond)
				assert.NoError(t, contiguous(c.got("j"), 1))
			}
			require.Eventually(t, func() bool { return h.Stats() == hub.Stats{} && st.open.Load() == 0 }, 5*time.Second, time.Millisecond)
			assert.Equal(t, int64(2), st.subs.Load())
		})
	}
}

func TestStoreClosedDropsWatchers(t *testing.T) {
	st := store.NewMemory(store.Options{})
	h := newHub(t, st)
	newJob(t, st, "j")
	c := newConn(100, false)
	_, err := h.Join(context.Background(), c, "j", 0, nil)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return errors.Is(c.drops["j"], store.ErrClosed)
	}, 5*time.Second, time.Millisecond)
	assert.Equal(t, hub.Stats{}, h.Stats())
}

func TestLeaveWhileJoiningAndClose(t *testing.T) {
	st := store.NewMemory(store.Options{})
	defer st.Close()
	h := newHub(t, st)
	newJob(t, st, "j")
	for range 50 {
		publish(t, st, "j", false)
	}
	c := newConn(4, false)
	c.hold = true // the replay waits
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := h.Join(ctx, c, "j", 0, nil); errc <- err }()
	require.Eventually(t, func() bool { return h.Stats().Members == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	h.Leave(c, "j")
	assert.ErrorIs(t, <-errc, context.Canceled)
	require.Eventually(t, func() bool { return h.Stats() == hub.Stats{} }, 5*time.Second, time.Millisecond)

	c2 := newConn(1000, false)
	_, err := h.Join(context.Background(), c2, "j", 0, nil)
	require.NoError(t, err)
	h.Close()
	assert.Equal(t, hub.Stats{}, h.Stats())
	_, err = h.Join(context.Background(), newConn(10, false), "j", 0, nil)
	assert.ErrorIs(t, err, hub.ErrClosed)
}

// TestHammer: watchers join and leave rooms of several jobs at random while
// events flow; the store drops slow room subscriptions (tiny buffer) so rooms
// resubscribe under load; some watchers stall. Every membership must see a
// gapless run from since+1; those that stay to the end see the final event;
// stalled ones are closed as slow with a gapless prefix.
func TestHammer(t *testing.T) {
	st := &countingStore{Store: store.NewMemory(store.Options{SubscriberBuffer: 2})}
	defer st.Close()
	h := newHub(t, st)
	const jobs, events, watchers = 6, 400, 40
	ids := make([]string, jobs)
	for i := range ids {
		ids[i] = fmt.Sprintf("job%d", i)
		newJob(t, st, ids[i])
	}
	var pubs sync.WaitGroup
	for _, id := range ids {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := range events {
				publish(t, st, id, i == events-1)
				if rand.IntN(8) == 0 {
					time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
				}
			}
		}()
	}
	var finals atomic.Int64
	var wg sync.WaitGroup
	for w := range watchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stalled := w%10 == 9
			c := newConn(8, stalled)
			if !stalled {
				c = newConn(1<<20, false)
			}
			// Each watcher works on two jobs at once over one conn.
			var inner sync.WaitGroup
			for k := range 2 {
				inner.Add(1)
				go func() {
					defer inner.Done()
					for round := 0; round < 6; round++ {
						id := ids[k*jobs/2+(w+round)%(jobs/2)] // the two halves of ids: c.reset never touches the other's job
						j, err := st.Get(context.Background(), id)
						if err != nil {
							t.Error(err)
							return
						}
						since := rand.Int64N(j.Seq + 1)
						stay := round == 5 && k == 0 && !stalled
						if stay {
							// A watcher that stays to the end must have the final event still ahead.
							since = min(since, events-1)
						}
						c.reset(id)
						_, err = h.Join(context.Background(), c, id, since, nil)
						if errors.Is(err, hub.ErrJoined) {
							continue
						}
						if stalled && errors.Is(err, hub.ErrFull) {
							return
						}
						if err != nil {
							t.Errorf("join %s: %v", id, err)
							return
						}
						if stay { // to the end of the job
							deadline := time.Now().Add(20 * time.Second)
							for time.Now().Before(deadline) {
								if g := c.got(id); len(g) > 0 && g[len(g)-1] == events {
									finals.Add(1)
									break
								}
								time.Sleep(time.Millisecond)
							}
						} else {
							time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
						}
						h.Leave(c, id)
						got := c.got(id)
						if err := contiguous(got, since+1); err != nil {
							t.Errorf("watcher %d job %s since %d: %v", w, id, since, err)
						}
						if stay && (len(got) == 0 || got[len(got)-1] != events) {
							t.Errorf("watcher %d job %s since %d: did not reach the final event: %d events", w, id, since, len(got))
						}
						if c.isSlow() {
							return
						}
					}
				}()
			}
			inner.Wait()
		}()
	}
	pubs.Wait()
	wg.Wait()
	require.Eventually(t, func() bool { return h.Stats() == hub.Stats{} && st.open.Load() == 0 }, 10*time.Second, time.Millisecond,
		"stats %+v, open subscriptions %d", h.Stats(), st.open.Load())
	assert.Positive(t, finals.Load())
	t.Logf("subscriptions opened: %d (rooms resubscribed after the store dropped them)", st.subs.Load())
}
