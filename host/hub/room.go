package hub

import (
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/store"
)

// room is the set of connections watching one job.
type room struct {
	h     *Hub
	id    string
	ready chan struct{} // closed once the subscription is open (or failed: openErr)
	// openErr is set before ready is closed and read only after.
	openErr error
	// quit is closed (under Hub.mu, once: quitClosed) when the room leaves
	// the index: its goroutine then closes the subscription and returns.
	quit       chan struct{}
	quitClosed bool

	mu      sync.Mutex
	members map[Conn]*member
	// last is the greatest seq the room goroutine has fanned out (or, before
	// the first, the job's seq when the room opened).
	last    int64
	recent  []frame // the last encoded events fanned out, ascending seq
	done    bool    // dissolved: no member goes live any more
	doneErr error   // why, when not because the job finished
}

// member is one connection in one room. Fields are guarded by room.mu.
type member struct {
	conn Conn
	room *room
	last int64 // greatest seq queued to conn for this job
	live bool  // caught up: the room goroutine delivers to it
	gone bool  // removed
}

// frame is an event encoded once.
type frame struct {
	seq int64
	msg []byte
}

func newRoom(h *Hub, id string) *room {
	return &room{h: h, id: id, ready: make(chan struct{}), quit: make(chan struct{}), members: map[Conn]*member{}}
}

// run reads the room's subscription and fans events out until the room is
// dissolved or leaves the index.
func (r *room) run(sub store.Subscription) {
	h := r.h
	defer h.wg.Done()
	defer func() {
		if sub != nil {
			h.unsubscribe(sub)
		}
	}()
	for {
		select {
		case <-r.quit:
			return
		case ev, ok := <-sub.C():
			if ok {
				if r.deliver(ev) {
					h.dissolve(r, nil)
					return
				}
				continue
			}
		}
		err := sub.Err()
		h.unsubscribe(sub)
		sub = nil
		if err == nil { // the job finished: deliver what the subscription did not carry
			if _, err := r.catchUp(); err != nil {
				h.log.Warn("hub: reading the history of a finished job", slog.String("job", r.id), slog.Any("error", err))
			}
			h.dissolve(r, nil)
			return
		}
		if errors.Is(err, store.ErrNotFound) {
			h.dissolve(r, err)
			return
		}
		h.log.Info("hub: room subscription ended, subscribing again", slog.String("job", r.id), slog.Any("error", err))
		var final bool
		sub, final, err = r.resubscribe()
		switch {
		case err != nil:
			h.dissolve(r, err)
			return
		case final:
			h.dissolve(r, nil)
			return
		case sub == nil: // quit
			return
		}
	}
}

// resubscribe subscribes again and catches the live members up from history,
// retrying with backoff while the store fails. It returns a nil subscription
// when the room quits, final when the job's final event was delivered, and an
// error when retrying is pointless (job gone, store closed).
func (r *room) resubscribe() (store.Subscription, bool, error) {
	h := r.h
	wait := h.retryMin
	for {
		sub, err := h.subscribe(r.id)
		if err == nil {
			final, herr := r.catchUp()
			switch {
			case herr == nil && final:
				h.unsubscribe(sub)
				return nil, true, nil
			case herr == nil:
				return sub, false, nil
			}
			h.unsubscribe(sub)
			err = herr
		}
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrClosed) {
			return nil, false, err
		}
		h.log.Warn("hub: subscribing again failed", slog.String("job", r.id), slog.Duration("retry_in", wait), slog.Any("error", err))
		t := time.NewTimer(wait)
		select {
		case <-r.quit:
			t.Stop()
			return nil, false, nil
		case <-t.C:
		}
		wait = min(2*wait, h.retryMax)
	}
}

// catchUp fans out the history after the room's last seq; it reports whether
// the final event was among it.
func (r *room) catchUp() (bool, error) {
	r.mu.Lock()
	since := r.last
	r.mu.Unlock()
	hist, err := r.h.store.History(r.h.ctx, r.id, since)
	if err != nil {
		return false, err
	}
	for _, ev := range hist {
		if r.deliver(ev) {
			return true, nil
		}
	}
	return false, nil
}

// deliver encodes ev once and queues it to every live member that has not
// had it. It never waits: a member whose queue is full is closed as slow, a
// closed one leaves. It reports whether ev is the job's final event.
func (r *room) deliver(ev event.Event) bool {
	h := r.h
	final := store.IsFinal(ev)
	msg, err := json.Marshal(ev)
	if err != nil { // cannot happen with event.Event; never send a gap
		h.log.Error("hub: encoding event", slog.String("job", r.id), slog.Int64("seq", ev.Seq), slog.Any("error", err))
		return final
	}
	var slow, gone []Conn
	n := 0
	r.mu.Lock()
	if ev.Seq <= r.last {
		r.mu.Unlock()
		return final
	}
	r.last = ev.Seq
	if len(r.recent) == h.recent {
		copy(r.recent, r.recent[1:])
		r.recent = r.recent[:len(r.recent)-1]
	}
	r.recent = append(r.recent, frame{seq: ev.Seq, msg: msg})
	for c, m := range r.members {
		if !m.live || ev.Seq <= m.last {
			continue
		}
		if ev.Seq != m.last+1 { // a gap would be a bug; the client resumes losslessly
			h.log.Error("hub: gap before event, closing the watcher", slog.String("job", r.id), slog.Int64("seq", ev.Seq), slog.Int64("last", m.last))
			slow = append(slow, c)
			continue
		}
		switch err := c.Send(msg); {
		case err == nil:
			m.last = ev.Seq
			n++
		case errors.Is(err, ErrFull):
			slow = append(slow, c)
		default:
			gone = append(gone, c)
		}
	}
	r.mu.Unlock()
	h.met.Delivered(n)
	for _, c := range slow {
		h.slow(c)
	}
	for _, c := range gone {
		h.Leave(c, r.id)
	}
	return final
}

// recentAfter returns the recent frames after seq when they run without gap
// from seq+1 to r.last. r.mu must be held.
func (r *room) recentAfter(seq int64) ([]frame, bool) {
	for i, f := range r.recent {
		if f.seq <= seq {
			continue
		}
		out := r.recent[i:]
		for j, g := range out {
			if g.seq != seq+1+int64(j) {
				return nil, false
			}
		}
		return out, out[len(out)-1].seq == r.last
	}
	return nil, false
}
