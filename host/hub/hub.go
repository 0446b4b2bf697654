package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/metrics"
	"github.com/phasehost/phasehost/host/store"
)

var (
	// ErrFull is what Conn.Send returns when the connection's outbound queue
	// is full: the message was not queued.
	ErrFull = errors.New("hub: outbound queue full")
	// ErrClosed: the hub is closed.
	ErrClosed = errors.New("hub: closed")
	// ErrJoined: the connection already watches that job.
	ErrJoined = errors.New("hub: already watching this job")
	// ErrLeft: the membership ended while joining (Leave, LeaveAll, or the
	// connection was closed as slow); nothing needs telling.
	ErrLeft = errors.New("hub: left while joining")
)

// Conn is one watcher's connection as the hub sees it: a bounded outbound
// queue. Implementations must be safe for concurrent use: several rooms and
// joiners send to one connection at once.
type Conn interface {
	// Send queues msg without blocking. It returns ErrFull when the queue is
	// full (msg is not queued) and another error when the connection is
	// closed. The hub keeps msg and sends the same slice to every watcher:
	// it must not be modified.
	Send(msg []byte) error
	// SendWait queues msg, waiting while the queue is too full, until ctx is
	// done or the connection closes. Only joiners use it (history replay),
	// never a room goroutine.
	SendWait(ctx context.Context, msg []byte) error
	// CloseSlow closes the connection because it could not keep up. It must
	// not block and may be called more than once.
	CloseSlow()
	// Drop tells the connection that the events of job id can no longer be
	// delivered (err says why: store.ErrNotFound when the job expired,
	// store.ErrClosed when the store closed). It must not block.
	Drop(id string, err error)
}

// Config configures a Hub. Store is required; every other zero field means
// its default.
type Config struct {
	Store store.Store
	// Metrics counts rooms and deliveries. Nil: not counted.
	Metrics *metrics.Hub
	Logger  *slog.Logger // nil: slog.Default()
	// Recent is how many encoded events each room keeps for joiners going
	// live. Zero: 256.
	Recent int
	// RetryMin and RetryMax bound the backoff between attempts to subscribe
	// again after the store failed. Zero: 50ms and 5s.
	RetryMin, RetryMax time.Duration
}

// Stats is a snapshot of the hub.
type Stats struct {
	// Rooms is the number of rooms (jobs with at least one watcher).
	Rooms int
	// Conns is the number of connections in at least one room.
	Conns int
	// Members is the number of (connection, room) pairs.
	Members int
	// Subscriptions is the number of store subscriptions the hub holds open.
	Subscriptions int64
}

// Hub is the index of rooms. Make it with New and Close it when done.
type Hub struct {
	store              store.Store
	met                *metrics.Hub
	log                *slog.Logger
	recent             int
	retryMin, retryMax time.Duration
	ctx                context.Context // store I/O of rooms; cancelled by Close
	cancel             context.CancelFunc
	subs               atomic.Int64
	wg                 sync.WaitGroup // room goroutines (and rooms being opened)

	mu     sync.Mutex
	rooms  map[string]*room
	conns  map[Conn]map[string]*member
	closed bool
}

// New returns a Hub serving events from cfg.Store.
func New(cfg Config) (*Hub, error) {
	if cfg.Store == nil {
		return nil, errors.New("hub: Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Recent <= 0 {
		cfg.Recent = 256
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 50 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Second
	}
	cfg.RetryMax = max(cfg.RetryMax, cfg.RetryMin)
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{
		store: cfg.Store, met: cfg.Metrics, log: cfg.Logger, recent: cfg.Recent,
		retryMin: cfg.RetryMin, retryMax: cfg.RetryMax,
		ctx: ctx, cancel: cancel,
		rooms: map[string]*room{}, conns: map[Conn]map[string]*member{},
	}, nil
}

// Join adds c to the room of job id and delivers it the job's events with
// seq > since: history first, then live, without gap or duplicate. If ack is
// not nil, ack(seq) is queued to c before any event, seq being the job's seq
// at join. Join returns once c is live (or, for a job that has finished, once
// its history is queued); it returns that seq.
//
// Errors: store.ErrNotFound for an unknown job, ErrJoined when c already
// watches it, ErrClosed after Close, ctx's error, and c's own when it cannot
// take the replay (it is then not in the room).
func (h *Hub) Join(ctx context.Context, c Conn, id string, since int64, ack func(seq int64) []byte) (int64, error) {
	seq, err := h.join(ctx, c, id, max(since, 0), ack)
	if errors.Is(err, ErrFull) { // c could not take the replay: it is closed like any slow consumer
		h.slow(c)
	}
	return seq, err
}

func (h *Hub) join(ctx context.Context, c Conn, id string, since int64, ack func(seq int64) []byte) (int64, error) {
	job, err := h.store.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	seq := job.Seq
	if event.Terminal(job.Status) { // final: history is all there is, no room needed
		if ack != nil {
			if err := c.SendWait(ctx, ack(seq)); err != nil {
				return 0, err
			}
		}
		_, _, err := h.replay(ctx, c, id, since)
		return seq, err
	}
	m, created, err := h.enter(ctx, c, id, since)
	if err != nil {
		return 0, err
	}
	r := m.room
	if created {
		h.open(r, seq)
	} else {
		select {
		case <-r.ready:
		case <-ctx.Done():
			h.remove(m)
			return 0, ctx.Err()
		}
	}
	if r.openErr != nil {
		h.remove(m)
		return 0, r.openErr
	}
	if ack != nil {
		if err := c.SendWait(ctx, ack(seq)); err != nil {
			h.remove(m)
			return 0, err
		}
	}
	if err := h.catchUp(ctx, m, since); err != nil {
		h.remove(m)
		if errors.Is(err, ErrLeft) && h.isClosed() {
			err = ErrClosed
		}
		return 0, err
	}
	return seq, nil
}

// Leave removes c from the room of job id and reports whether it was there.
// The room's subscription is closed when c was its last watcher.
func (h *Hub) Leave(c Conn, id string) bool {
	h.mu.Lock()
	m := h.conns[c][id]
	h.mu.Unlock()
	if m == nil {
		return false
	}
	return h.remove(m)
}

// LeaveAll removes c from every room, as when it disconnects.
func (h *Hub) LeaveAll(c Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.conns[c] {
		h.removeLocked(m)
	}
}

// Stats returns a snapshot of the hub.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := Stats{Rooms: len(h.rooms), Conns: len(h.conns), Subscriptions: h.subs.Load()}
	for _, ms := range h.conns {
		st.Members += len(ms)
	}
	return st
}

func (h *Hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// Close dissolves every room, closes their subscriptions and waits for their
// goroutines. Joins in progress fail; later ones get ErrClosed. Connections
// are not closed. Close is idempotent.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	for _, ms := range h.conns {
		for _, m := range ms {
			h.removeLocked(m)
		}
	}
	for _, r := range h.rooms {
		h.unindexLocked(r)
	}
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// enter registers c in the room of id (creating the room) as a pending member.
func (h *Hub) enter(ctx context.Context, c Conn, id string, since int64) (m *member, created bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, false, ErrClosed
	case ctx.Err() != nil: // checked under h.mu: a Leave after a cancel cannot miss us
		return nil, false, ctx.Err()
	case h.conns[c][id] != nil:
		return nil, false, fmt.Errorf("%w: %s", ErrJoined, id)
	}
	r := h.rooms[id]
	if r == nil {
		r = newRoom(h, id)
		h.rooms[id] = r
		h.met.Rooms(1)
		h.wg.Add(1) // done by the room goroutine, or by open when it fails
		created = true
	}
	m = &member{conn: c, room: r, last: since}
	r.mu.Lock()
	r.members[c] = m
	r.mu.Unlock()
	ms := h.conns[c]
	if ms == nil {
		ms = map[string]*member{}
		h.conns[c] = ms
	}
	ms[id] = m
	return m, created, nil
}

// open subscribes the new room r (before any of its joiners reads history)
// and starts its goroutine. seq is the job's seq read before subscribing: no
// event the room needs to fan out is older.
func (h *Hub) open(r *room, seq int64) {
	sub, err := h.subscribe(r.id)
	if err != nil {
		r.openErr = err
		close(r.ready)
		h.dissolve(r, nil)
		h.wg.Done()
		return
	}
	r.last = seq // before ready and before the goroutine: no race
	close(r.ready)
	go r.run(sub)
}

func (h *Hub) subscribe(id string) (store.Subscription, error) {
	sub, err := h.store.Subscribe(h.ctx, id)
	if err != nil {
		return nil, err
	}
	h.subs.Add(1)
	return sub, nil
}

func (h *Hub) unsubscribe(sub store.Subscription) {
	sub.Close()
	h.subs.Add(-1)
}

// replay queues the job's history after since to c, paced by SendWait. It
// returns the last seq queued and whether it was the job's final event.
func (h *Hub) replay(ctx context.Context, c Conn, id string, since int64) (int64, bool, error) {
	hist, err := h.store.History(ctx, id, since)
	if err != nil {
		return since, false, err
	}
	last := since
	for _, ev := range hist {
		if ev.Seq <= last {
			continue
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return last, false, fmt.Errorf("encoding event %d of job %s: %w", ev.Seq, id, err)
		}
		if err := c.SendWait(ctx, b); err != nil {
			return last, false, err
		}
		h.met.Delivered(1)
		last = ev.Seq
		if store.IsFinal(ev) {
			return last, true, nil
		}
	}
	return last, false, nil
}

// catchUp replays history to the pending member m and makes it live.
func (h *Hub) catchUp(ctx context.Context, m *member, since int64) error {
	r := m.room
	last := since
	for {
		l, final, err := h.replay(ctx, m.conn, r.id, last)
		last = l
		if err != nil {
			return err
		}
		r.mu.Lock()
		if m.gone {
			r.mu.Unlock()
			return ErrLeft
		}
		if !final && last < r.last {
			fill, ok := r.recentAfter(last)
			if !ok { // the room moved on further than the ring reaches: read history again
				r.mu.Unlock()
				continue
			}
			for _, f := range fill {
				if err := m.conn.Send(f.msg); err != nil {
					r.mu.Unlock()
					return err
				}
				h.met.Delivered(1)
				last = f.seq
			}
		}
		m.last = last
		if final || r.done { // nothing more will come
			err := r.doneErr
			r.mu.Unlock()
			h.remove(m)
			if final {
				return nil
			}
			return err
		}
		m.live = true
		r.mu.Unlock()
		return nil
	}
}

// remove ends membership m and reports whether it was still on.
func (h *Hub) remove(m *member) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.removeLocked(m)
}

func (h *Hub) removeLocked(m *member) bool {
	r := m.room
	r.mu.Lock()
	if m.gone {
		r.mu.Unlock()
		return false
	}
	m.gone = true
	delete(r.members, m.conn)
	empty := len(r.members) == 0
	r.mu.Unlock()
	if ms := h.conns[m.conn]; ms[r.id] == m {
		delete(ms, r.id)
		if len(ms) == 0 {
			delete(h.conns, m.conn)
		}
	}
	if empty {
		h.unindexLocked(r)
	}
	return true
}

// unindexLocked takes r out of the index and stops its goroutine.
func (h *Hub) unindexLocked(r *room) {
	if h.rooms[r.id] == r {
		delete(h.rooms, r.id)
		h.met.Rooms(-1)
	}
	if !r.quitClosed {
		r.quitClosed = true
		close(r.quit)
	}
}

// slow removes c from every room and closes it as a slow consumer.
func (h *Hub) slow(c Conn) {
	h.LeaveAll(c)
	c.CloseSlow()
}

// dissolve ends room r: it leaves the index, its live members leave it (and
// are told err with Drop when err is not nil). Pending members finish their
// catch-up from history and leave by themselves.
func (h *Hub) dissolve(r *room, err error) {
	h.mu.Lock()
	if h.rooms[r.id] == r {
		delete(h.rooms, r.id)
		h.met.Rooms(-1)
	}
	r.mu.Lock()
	r.done, r.doneErr = true, err
	var live []*member
	for _, m := range r.members {
		if m.live {
			live = append(live, m)
		}
	}
	r.mu.Unlock()
	for _, m := range live {
		h.removeLocked(m)
	}
	h.mu.Unlock()
	if err != nil {
		for _, m := range live {
			m.conn.Drop(r.id, err)
		}
	}
}
