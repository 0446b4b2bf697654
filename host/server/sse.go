package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/store"
)

// events streams a job's events as SSE: "id:" is the seq, "event:" the type,
// "data:" the event JSON. Last-Event-ID (or ?since=N) resumes after that seq:
// history first, then live, without gap or duplicate. A comment line is sent
// every Config.Heartbeat. The stream ends after the job's terminal event, when
// the server shuts down, or when the client falls too far behind (it then
// resumes with Last-Event-ID).
func (s *Server) events(c *gin.Context) {
	id := c.Param("id")
	if err := s.authorize(c, id); err != nil {
		s.writeError(c, err)
		return
	}
	since, err := resumeFrom(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ctx := c.Request.Context()
	sub, hist, err := store.Catchup(ctx, s.store, id, since)
	if err != nil {
		s.writeError(c, err)
		return
	}
	defer sub.Close()
	s.sm.SSEStreams(1)
	defer s.sm.SSEStreams(-1)

	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	w := c.Writer

	last := since
	send := func(ev event.Event) (final bool, err error) {
		if ev.Seq <= last {
			return false, nil
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return false, fmt.Errorf("encoding event %d: %w", ev.Seq, err)
		}
		if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, b); err != nil {
			return false, err
		}
		last = ev.Seq
		return store.IsFinal(ev), nil
	}
	for _, ev := range hist {
		final, err := send(ev)
		if err != nil || final {
			w.Flush()
			return
		}
	}
	w.Flush()

	tick := time.NewTicker(s.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closing:
			_, _ = fmt.Fprint(w, ": server shutting down\n\n")
			w.Flush()
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return
			}
			w.Flush()
		case ev, ok := <-sub.C():
			if !ok {
				if errors.Is(sub.Err(), store.ErrSlowSubscriber) {
					s.sm.SlowWatcher()
				}
				// Closed after the terminal event we may not have sent yet,
				// or dropped: send what history has, then end.
				if rest, err := s.store.History(ctx, id, last); err == nil {
					for _, ev := range rest {
						if _, err := send(ev); err != nil {
							break
						}
					}
				}
				w.Flush()
				return
			}
			final, err := send(ev)
			w.Flush()
			if err != nil || final {
				return
			}
		}
	}
}

// resumeFrom reads the seq to resume after: Last-Event-ID, else ?since=, else 0.
func resumeFrom(c *gin.Context) (int64, error) {
	v, name := c.GetHeader("Last-Event-ID"), "Last-Event-ID"
	if v == "" {
		v, name = c.Query("since"), "since"
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %s: %q is not a seq", ErrBadRequest, name, v)
	}
	return n, nil
}
