package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/phasehost/phasehost/host/event"
)

// closeSlowConsumer is the close code of a WebSocket the server closed
// because the client could not keep up; it resumes at once with since.
const closeSlowConsumer = 4008

// watchOptions tune watchEvents; zero values are the defaults.
type watchOptions struct {
	MinBackoff, MaxBackoff time.Duration // 100ms, 5s
	// MaxFailures is how many connection attempts in a row may fail (without
	// an event in between) before watching gives up. Zero: 20.
	MaxFailures int
	// OnConnect, when set, is told of every connection (attempt 0 first).
	OnConnect func(attempt int, since int64)
}

func (o watchOptions) withDefaults() watchOptions {
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = 20
	}
	return o
}

// wsFrame is a frame of the server: an event, or an error reply.
type wsFrame struct {
	event.Event
	Code string `json:"code"`
}

// watchEvents follows job id over GET /v1/ws from seq since+1 and calls fn for
// every event in seq order, each once, until the job's terminal event, which
// it returns. A dropped connection, or one closed with 4008, is reopened
// with since = the last seq received (4008 at once, others after a growing
// backoff), so fn sees no gap and no duplicate. Refusals of the upgrade
// (bad token, unknown job) are returned as *apiError.
func (c *client) watchEvents(ctx context.Context, id, token string, since int64, opt watchOptions, fn func(event.Event) error) (event.Event, error) {
	opt = opt.withDefaults()
	last := since
	backoff := opt.MinBackoff
	failures := 0
	for attempt := 0; ; attempt++ {
		if opt.OnConnect != nil {
			opt.OnConnect(attempt, last)
		}
		final, got, err := c.watchOnce(ctx, id, token, &last, fn)
		if final != nil {
			return *final, nil
		}
		var ae *apiError
		if errors.As(err, &ae) && ae.Status != http.StatusServiceUnavailable {
			return event.Event{}, err // refused: retrying does not help
		}
		var fe *fnError
		if errors.As(err, &fe) || ctx.Err() != nil {
			return event.Event{}, errors.Join(ctx.Err(), err)
		}
		if got {
			failures, backoff = 0, opt.MinBackoff
		}
		failures++
		if failures > opt.MaxFailures {
			return event.Event{}, fmt.Errorf("watching job %s: giving up after %d failed connections: %w", id, failures-1, err)
		}
		wait := backoff
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code == closeSlowConsumer {
			wait = 0 // closed as slow: resume at once
		} else {
			backoff = min(2*backoff, opt.MaxBackoff)
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return event.Event{}, ctx.Err()
			case <-time.After(wait):
			}
		}
	}
}

// fnError is an error of the caller's function: watching stops.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }
func (e *fnError) Unwrap() error { return e.err }

// watchOnce reads one connection until the terminal event (returned as
// final), an error, or the end of the connection. got reports whether any
// new event arrived; *last advances with each.
func (c *client) watchOnce(ctx context.Context, id, token string, last *int64, fn func(event.Event) error) (final *event.Event, got bool, err error) {
	u := c.url("/v1/ws", url.Values{"job": {id}, "since": {strconv.FormatInt(*last, 10)}})
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+token)
	dialer := websocket.Dialer{HandshakeTimeout: 15 * time.Second, Proxy: http.ProxyFromEnvironment}
	conn, resp, err := dialer.DialContext(ctx, u.String(), hdr)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			return nil, false, decodeAPIError(resp.StatusCode, b)
		}
		return nil, false, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return nil, got, err
		}
		var f wsFrame
		if err := json.Unmarshal(msg, &f); err != nil {
			return nil, got, fmt.Errorf("job %s: a frame that is not JSON: %w", id, err)
		}
		if f.Type == "error" {
			return nil, got, &apiError{Status: http.StatusBadRequest, Code: f.Code, Message: f.Message}
		}
		if f.Type == "subscribed" || f.Seq == 0 {
			continue
		}
		if f.Seq <= *last {
			continue // already seen
		}
		if f.Seq != *last+1 {
			// Never expected of the server; reconnecting from the last seq
			// received fills the gap.
			return nil, got, fmt.Errorf("job %s: seq %d after %d: resuming", id, f.Seq, *last)
		}
		ev := f.Event
		*last, got = ev.Seq, true
		if err := fn(ev); err != nil {
			return nil, got, &fnError{err}
		}
		if ev.Type == event.TypeJob && event.Terminal(ev.Status) {
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			return &ev, got, nil
		}
	}
}
