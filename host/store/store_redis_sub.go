package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phasehost/phasehost/host/event"
)

// The Redis store's subscriptions.
//
// One go-redis PubSub connection per Redis value carries every channel this
// node listens to: the node's probe channel and one channel per watched job.
// The first Subscribe of a job SUBSCRIBEs its channel; later ones join the
// same entry; when the last one closes the channel is UNSUBSCRIBEd after
// RedisOptions.Linger unless someone joins meanwhile.
//
// One reader goroutine receives everything and is the only one that delivers.
// Per job it keeps lastSeq, the seq of the last event delivered, and delivers
// only lastSeq+1: a duplicate (seq <= lastSeq) is dropped, and a gap (a live
// event past lastSeq+1) is first filled from the job's stream with XRANGE.
// Gaps arise when pub/sub loses messages: while a SUBSCRIBE is not yet in
// effect, or while the connection is down. go-redis re-dials and
// re-SUBSCRIBEs every channel by itself; what it cannot do is tell us, and a
// job whose terminal event was lost would get no further message to reveal
// the gap. So every new channel and every connection failure is followed by a
// PING with a token ("sync:N"); when its pong comes back, every channel
// subscribed before that PING is in effect on the current connection, and the
// reader reads each such job's stream from lastSeq (the "sync"). Events can
// therefore neither be missed nor repeated nor reordered, whatever the
// connection does.
//
// Lock order: cmdMu before mu. cmdMu makes the decision to (un)subscribe a
// channel and the command that does it one step, so commands go out in the
// order the decisions were taken. mu guards entries, subscriptions and
// probes; no network call is made while holding it.

const (
	syncPrefix   = "sync:"
	keepalive    = 5 * time.Second
	cmdTimeout   = 5 * time.Second
	maxBackoff   = time.Second
	firstBackoff = 50 * time.Millisecond
)

type redisHub struct {
	r  *Redis
	ps *redis.PubSub

	cmdMu sync.Mutex

	mu        sync.Mutex
	entries   map[string]*redisEntry // by channel
	probes    map[string]chan struct{}
	listeners map[string]func(payload string) // other channels sharing the connection (Listen)
	token     uint64
	closed    bool

	probeSeq  atomic.Uint64
	resyncReq chan struct{}
	stop      chan struct{}
	done      sync.WaitGroup
}

// redisEntry is one subscribed job channel; guarded by redisHub.mu.
type redisEntry struct {
	id       string
	channel  string
	subs     map[*redisSub]struct{}
	lastSeq  int64  // last seq delivered (or skipped while nobody listened)
	syncAt   uint64 // sync when the pong of this token (or a later one) arrives; 0: none
	finished bool   // the terminal event was delivered
	lingerID uint64 // bumped to cancel a pending unsubscribe
}

func newRedisHub(ctx context.Context, r *Redis) (*redisHub, error) {
	h := &redisHub{
		r:         r,
		ps:        r.rdb.Subscribe(ctx),
		entries:   map[string]*redisEntry{},
		probes:    map[string]chan struct{}{},
		listeners: map[string]func(string){},
		resyncReq: make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	if err := h.ps.Subscribe(ctx, r.probeChannel()); err != nil {
		_ = h.ps.Close()
		return nil, fmt.Errorf("redis store: subscribe: %w", err)
	}
	h.done.Add(2)
	go h.read()
	go h.resyncer()
	return h, nil
}

func (h *redisHub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *redisHub) close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	close(h.stop)
	for ch, e := range h.entries {
		for s := range e.subs {
			s.closeLocked(ErrClosed)
		}
		delete(h.entries, ch)
		h.r.opts.Metrics.SubscribedChannels(-1)
	}
	h.mu.Unlock()
	err := h.ps.Close()
	h.done.Wait()
	if err != nil {
		return fmt.Errorf("redis store: close pub/sub: %w", err)
	}
	return nil
}

// Subscribe implements Store.
func (r *Redis) Subscribe(ctx context.Context, id string) (Subscription, error) {
	return r.hub.subscribe(ctx, id)
}

// SubscribedJobs reports how many job channels this store's pub/sub
// connection is subscribed to (lingering ones included).
func (r *Redis) SubscribedJobs() int {
	r.hub.mu.Lock()
	defer r.hub.mu.Unlock()
	return len(r.hub.entries)
}

func (h *redisHub) subscribe(ctx context.Context, id string) (Subscription, error) {
	if h.isClosed() {
		return nil, ErrClosed
	}
	st, err := h.r.rdb.HMGet(ctx, h.r.jobKey(id), "status", "seq").Result()
	if err != nil {
		return nil, fmt.Errorf("redis store: subscribe to %s: %w", id, err)
	}
	status, _ := st[0].(string)
	if st[0] == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	s := &redisSub{hub: h, ch: make(chan event.Event, h.r.opts.SubscriberBuffer)}
	if event.Terminal(status) {
		s.closed = true
		close(s.ch)
		return s, nil
	}
	seq, _ := st[1].(string)
	seq0, err := strconv.ParseInt(seq, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("redis store: subscribe to %s: seq %q: %w", id, seq, err)
	}

	channel := h.r.jobKey(id)
	h.cmdMu.Lock()
	defer h.cmdMu.Unlock()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	e, joined := h.entries[channel]
	if !joined {
		e = &redisEntry{id: id, channel: channel, subs: map[*redisSub]struct{}{}, lastSeq: seq0}
		h.entries[channel] = e
		h.r.opts.Metrics.SubscribedChannels(1)
	}
	if e.finished {
		h.mu.Unlock()
		s.closed = true
		close(s.ch)
		return s, nil
	}
	if len(e.subs) == 0 {
		e.lastSeq = max(e.lastSeq, seq0) // nobody needs what came before
		e.lingerID++                     // cancel a pending unsubscribe
	}
	s.entry = e
	e.subs[s] = struct{}{}
	h.mu.Unlock()
	if joined {
		return s, nil
	}

	if err := h.ps.Subscribe(ctx, channel); err != nil {
		h.requestResync()
		h.mu.Lock()
		s.closeLocked(nil)
		forget := len(e.subs) == 0 && h.entries[channel] == e
		if forget {
			delete(h.entries, channel)
			h.r.opts.Metrics.SubscribedChannels(-1)
		}
		h.mu.Unlock()
		if forget {
			uctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
			_ = h.ps.Unsubscribe(uctx, channel) // go-redis forgets it even when this fails
			cancel()
		}
		return nil, fmt.Errorf("redis store: subscribe to %s: %w", id, err)
	}
	h.mu.Lock()
	h.token++
	tok := h.token
	e.syncAt = tok
	h.mu.Unlock()
	if err := h.ps.Ping(ctx, syncPrefix+strconv.FormatUint(tok, 10)); err != nil {
		h.requestResync() // the resyncer pings again; the entry is synced then
	}
	return s, nil
}

// unsubscribeIfIdle runs Linger after the last subscription of e closed.
func (h *redisHub) unsubscribeIfIdle(e *redisEntry, lingerID uint64) {
	h.cmdMu.Lock()
	defer h.cmdMu.Unlock()
	h.mu.Lock()
	if h.closed || h.entries[e.channel] != e || len(e.subs) > 0 || e.lingerID != lingerID {
		h.mu.Unlock()
		return
	}
	delete(h.entries, e.channel)
	h.r.opts.Metrics.SubscribedChannels(-1)
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if err := h.ps.Unsubscribe(ctx, e.channel); err != nil {
		// go-redis has forgotten the channel and does not re-subscribe it.
		h.r.log.Warn("redis store: unsubscribe", "job", e.id, "err", err)
		h.requestResync()
	}
}

// requestResync asks the resyncer to sync every job after a failure of the
// pub/sub connection.
func (h *redisHub) requestResync() {
	select {
	case h.resyncReq <- struct{}{}:
	default:
	}
}

// resyncer marks every entry for a sync and sends the PING whose pong
// triggers it, retrying until the PING goes out.
func (h *redisHub) resyncer() {
	defer h.done.Done()
	for {
		select {
		case <-h.stop:
			return
		case <-h.resyncReq:
		}
		backoff := firstBackoff
		for {
			h.mu.Lock()
			h.token++
			tok := h.token
			for _, e := range h.entries {
				e.syncAt = tok
			}
			h.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
			err := h.ps.Ping(ctx, syncPrefix+strconv.FormatUint(tok, 10))
			cancel()
			if err == nil {
				break
			}
			select {
			case <-h.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
		}
	}
}

// read is the reader goroutine: the only one that delivers events.
func (h *redisHub) read() {
	defer h.done.Done()
	ctx := context.Background()
	backoff := time.Duration(0)
	for {
		msg, err := h.ps.ReceiveTimeout(ctx, keepalive)
		if err != nil {
			select {
			case <-h.stop:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				pctx, cancel := context.WithTimeout(ctx, cmdTimeout)
				if err := h.ps.Ping(pctx, "keepalive"); err != nil {
					h.requestResync()
				}
				cancel()
				continue
			}
			if backoff == 0 {
				h.r.log.Warn("redis store: pub/sub connection failed; re-subscribing and catching up", "err", err)
				h.r.opts.Metrics.Reconnect()
				backoff = firstBackoff
			} else {
				backoff = min(2*backoff, maxBackoff)
			}
			h.requestResync()
			select {
			case <-h.stop:
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		switch m := msg.(type) {
		case *redis.Message:
			h.onMessage(ctx, m)
		case *redis.Pong:
			if tok, ok := strings.CutPrefix(m.Payload, syncPrefix); ok {
				if n, err := strconv.ParseUint(tok, 10, 64); err == nil {
					h.onSyncPong(ctx, n)
				}
			}
		}
	}
}

func (h *redisHub) onMessage(ctx context.Context, m *redis.Message) {
	h.mu.Lock()
	fn := h.listeners[m.Channel]
	h.mu.Unlock()
	if fn != nil {
		fn(m.Payload)
		return
	}
	if m.Channel == h.r.probeChannel() {
		h.mu.Lock()
		if w, ok := h.probes[m.Payload]; ok {
			close(w)
			delete(h.probes, m.Payload)
		}
		h.mu.Unlock()
		return
	}
	var ev event.Event
	if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
		h.r.log.Error("redis store: undecodable event on channel", "channel", m.Channel, "err", err)
		return
	}
	h.mu.Lock()
	e := h.entries[m.Channel]
	if e == nil || ev.Seq <= e.lastSeq {
		h.mu.Unlock()
		return
	}
	if ev.Seq == e.lastSeq+1 || len(e.subs) == 0 {
		e.lastSeq = ev.Seq - 1 // nobody listens: nothing to fill
		h.deliverLocked(e, []event.Event{ev})
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	h.sync(ctx, e, 0) // a gap: the stream has it all, ev included
}

// onSyncPong syncs every entry waiting for token n or an earlier one.
func (h *redisHub) onSyncPong(ctx context.Context, n uint64) {
	h.mu.Lock()
	var due []*redisEntry
	for _, e := range h.entries {
		if e.syncAt != 0 && e.syncAt <= n {
			due = append(due, e)
		}
	}
	h.mu.Unlock()
	for _, e := range due {
		h.sync(ctx, e, n)
	}
}

// sync delivers e's events after lastSeq from its stream. tok is the token
// whose pong asked for it (0 for a gap).
func (h *redisHub) sync(ctx context.Context, e *redisEntry, tok uint64) {
	h.mu.Lock()
	from := e.lastSeq
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	var exists *redis.IntCmd
	var rng *redis.XMessageSliceCmd
	_, err := h.r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, h.r.jobKey(e.id))
		rng = p.XRange(ctx, h.r.eventsKey(e.id), streamStart(from), "+")
		return nil
	})
	var evs []event.Event
	if err == nil {
		evs, err = decodeStream(e.id, rng.Val())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.entries[e.channel] != e {
		return
	}
	if err != nil {
		h.r.log.Warn("redis store: catching up from the stream failed; will retry", "job", e.id, "err", err)
		if e.syncAt == 0 {
			e.syncAt = h.token + 1 // the resyncer's next token
		}
		h.requestResync()
		return
	}
	if tok != 0 && e.syncAt <= tok {
		e.syncAt = 0
	}
	if len(evs) == 0 && exists.Val() == 0 && !e.finished {
		for s := range e.subs {
			s.closeLocked(fmt.Errorf("%w: %s (expired)", ErrNotFound, e.id))
		}
		return
	}
	n := 0
	for _, ev := range evs {
		if ev.Seq > e.lastSeq {
			n++
		}
	}
	h.r.opts.Metrics.CatchupEvents(n)
	h.deliverLocked(e, evs)
}

// deliverLocked hands evs, in seq order, to e's subscriptions: a duplicate is
// skipped; a gap that cannot be filled (the stream was trimmed past it)
// closes the subscriptions. h.mu is held.
func (h *redisHub) deliverLocked(e *redisEntry, evs []event.Event) {
	for _, ev := range evs {
		if ev.Seq <= e.lastSeq {
			continue
		}
		if ev.Seq != e.lastSeq+1 {
			err := fmt.Errorf("%w: events %d to %d of job %s are no longer in the stream", ErrSlowSubscriber, e.lastSeq+1, ev.Seq-1, e.id)
			for s := range e.subs {
				s.closeLocked(err)
			}
		}
		e.lastSeq = ev.Seq
		final := IsFinal(ev)
		for s := range e.subs {
			select {
			case s.ch <- ev:
				if final {
					s.closeLocked(nil)
				}
			default:
				s.closeLocked(ErrSlowSubscriber)
			}
		}
		if final {
			e.finished = true
		}
	}
}

// Ready reports whether this node hears its own pub/sub: it publishes a
// probe on the node's probe channel and waits (at most
// RedisOptions.ProbeTimeout) for the shared subscription to deliver it. An
// error means Redis is unreachable or the subscription has gone deaf; use it
// for /readyz.
func (r *Redis) Ready(ctx context.Context) error {
	h := r.hub
	tok := strconv.FormatUint(h.probeSeq.Add(1), 10)
	w := make(chan struct{})
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	h.probes[tok] = w
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.probes, tok)
		h.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, r.opts.ProbeTimeout)
	defer cancel()
	if err := r.rdb.Publish(ctx, r.probeChannel(), tok).Err(); err != nil {
		return fmt.Errorf("redis store: not ready: %w", err)
	}
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("redis store: not ready: probe not received on the shared subscription: %w", ctx.Err())
	}
}

// redisSub is a Subscription; its fields are guarded by hub.mu.
type redisSub struct {
	hub    *redisHub
	entry  *redisEntry // nil for a subscription closed at birth
	ch     chan event.Event
	closed bool
	err    error
}

func (s *redisSub) C() <-chan event.Event { return s.ch }

func (s *redisSub) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

func (s *redisSub) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.closeLocked(nil)
}

// closeLocked closes the subscription and, if it was its job's last, starts
// the linger; hub.mu is held.
func (s *redisSub) closeLocked(err error) {
	if s.closed {
		return
	}
	s.closed = true
	s.err = err
	close(s.ch)
	e := s.entry
	if e == nil {
		return
	}
	delete(e.subs, s)
	h := s.hub
	if len(e.subs) > 0 || h.closed {
		return
	}
	e.lingerID++
	id := e.lingerID
	time.AfterFunc(max(h.r.opts.Linger, 0), func() { h.unsubscribeIfIdle(e, id) })
}

// Listen subscribes channel on the node's one shared pub/sub connection and
// calls fn with the payload of each message, on the connection's reader
// goroutine: fn must return quickly (hand the payload to a goroutine of its
// own). Other parts of a node (the cluster's control channel) use it so that a
// node holds one Redis pub/sub connection whatever it listens to. Messages
// sent while the connection is down are lost; the connection itself is
// re-established and re-subscribed. stop unsubscribes.
func (r *Redis) Listen(ctx context.Context, channel string, fn func(payload string)) (stop func(), err error) {
	h := r.hub
	h.cmdMu.Lock()
	defer h.cmdMu.Unlock()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if _, dup := h.listeners[channel]; dup {
		h.mu.Unlock()
		return nil, fmt.Errorf("redis store: channel %s already has a listener", channel)
	}
	h.listeners[channel] = fn
	h.mu.Unlock()
	if err := h.ps.Subscribe(ctx, channel); err != nil {
		h.mu.Lock()
		delete(h.listeners, channel)
		h.mu.Unlock()
		return nil, fmt.Errorf("redis store: subscribe %s: %w", channel, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			h.cmdMu.Lock()
			defer h.cmdMu.Unlock()
			h.mu.Lock()
			delete(h.listeners, channel)
			closed := h.closed
			h.mu.Unlock()
			if !closed {
				ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
				defer cancel()
				_ = h.ps.Unsubscribe(ctx, channel)
			}
		})
	}, nil
}
