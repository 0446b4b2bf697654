package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/olahol/melody"

	"github.com/phasehost/phasehost/host/hub"
)

// Close codes of GET /v1/ws beyond RFC 6455's.
const (
	// CloseSlowConsumer closes a session that could not keep up; the client
	// reconnects with since=<last seq it received> and loses nothing.
	CloseSlowConsumer = 4008
	// CloseTryAgain (RFC 6455's 1013, "try again later") closes a session
	// opened for one job (GET /v1/ws?job=) whose events cannot be read for
	// now (the store is unreachable); the client reconnects with since.
	CloseTryAgain = 1013
)

const (
	slowCloseText     = "slow consumer: reconnect with since"
	tryAgainText      = "job events unavailable for now: reconnect with since"
	shutdownCloseText = "server shutting down"
	// closeGrace is how long a session closed by the server may take to
	// answer the close frame before its connection is cut.
	closeGrace = 2 * time.Second
)

var _ hub.Conn = (*wsConn)(nil)

// wsConn adapts a melody session to hub.Conn. Its outbound queue is melody's
// per-session buffer (WSConfig.MessageBufferSize).
//
// melody v1.3.0 never blocks a writer: Session.Write on a full buffer drops
// the message and reports melody.ErrMessageBufferFull to the error handler
// (synchronously, on the writer's goroutine) without closing the session. The
// error handler sets full; Send sees it and reports hub.ErrFull, and from then
// on nothing more is queued, so the client gets a prefix of the stream without
// a hole and resumes after its last seq.
type wsConn struct {
	w      *wsServer
	sess   *melody.Session // set in the connect handler, before any use
	ctx    context.Context // cancelled when the session ends
	cancel context.CancelFunc

	// The job of the upgrade request (?job=), joined on connect.
	job   string
	since int64

	queued  atomic.Int64  // text frames queued and not yet written
	space   chan struct{} // signalled when a queued frame has been written
	full    atomic.Bool   // a frame was dropped, or the session is closing: queue nothing more
	closing atomic.Bool   // a close frame has been sent or is on its way

	mu      sync.Mutex
	joining map[string]*joinTicket // joins in progress, by job
}

type joinTicket struct{ cancel context.CancelFunc }

func newWSConn(w *wsServer) *wsConn {
	c := &wsConn{w: w, space: make(chan struct{}, 1), joining: map[string]*joinTicket{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Send implements hub.Conn.
func (c *wsConn) Send(msg []byte) error {
	if c.full.Load() {
		return hub.ErrFull
	}
	c.queued.Add(1)
	if err := c.sess.Write(msg); err != nil {
		c.queued.Add(-1)
		return err
	}
	if c.full.Load() { // the error handler saw melody.ErrMessageBufferFull: msg was dropped
		return hub.ErrFull
	}
	return nil
}

// SendWait implements hub.Conn: it queues msg once the queue is at most half
// full, leaving the other half to live events.
func (c *wsConn) SendWait(ctx context.Context, msg []byte) error {
	limit := int64(max(c.w.cfg.MessageBufferSize/2, 1))
	for c.queued.Load() >= limit {
		if c.full.Load() {
			return hub.ErrFull
		}
		t := time.NewTimer(20 * time.Millisecond) // several waiters share one signal
		select {
		case <-c.space:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-c.ctx.Done():
			t.Stop()
			return melody.ErrSessionClosed
		}
		t.Stop()
	}
	return c.Send(msg)
}

// sent is called by melody after it wrote a text frame.
func (c *wsConn) sent() {
	c.queued.Add(-1)
	select {
	case c.space <- struct{}{}:
	default:
	}
}

// CloseSlow implements hub.Conn: the session is closed with 4008.
func (c *wsConn) CloseSlow() {
	if c.closeWith(CloseSlowConsumer, slowCloseText) {
		c.w.met.SlowClose()
	}
}

// Drop implements hub.Conn: the client is told with an error frame, or, for
// the job of a session opened for it, by closing the session (see fail).
func (c *wsConn) Drop(id string, err error) { c.fail(id, err) }

// fail tells the client that its watch of job id ended with err. A failure
// of the server's side (the store unreachable) closes a session opened for
// that one job with CloseTryAgain, so that the client reconnects with since
// instead of waiting on a session that will carry nothing more; otherwise,
// and on a session watching several jobs, an error frame says why.
func (c *wsConn) fail(id string, err error) {
	if status, code := classify(err); status >= 500 && code != "shutting_down" {
		c.w.s.log.Warn("WebSocket watch of a job failed", "job", id, errAttr(err))
		if id == c.job {
			c.closeWith(CloseTryAgain, tryAgainText)
			return
		}
		if code == "internal" {
			err = fmt.Errorf("%w: the job's events cannot be read for now; subscribe again with since", ErrUnavailable)
		}
	}
	c.replyError(id, err)
}

// closeWith sends a close frame with code and text and makes sure the
// connection ends. It reports whether it did (false: already closing).
//
// melody's Session.CloseWithMsg queues the close frame in the session buffer
// like any message, so on a full buffer — exactly when a slow consumer is
// closed — melody drops it. The frame is therefore written as a control frame
// with gorilla/websocket's WriteControl, which may be called concurrently with
// melody's write pump; it goes out after the frame being written, and the
// pump's next write fails with websocket.ErrCloseSent, which ends the session.
func (c *wsConn) closeWith(code int, text string) bool {
	if !c.closing.CompareAndSwap(false, true) {
		return false
	}
	c.full.Store(true)
	msg := melody.FormatCloseMessage(code, text)
	conn := c.sess.WebsocketConnection()
	wait := c.w.cfg.WriteWait
	go func() {
		_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(wait))
		t := time.NewTimer(closeGrace)
		defer t.Stop()
		select {
		case <-c.ctx.Done():
		case <-t.C:
			_ = conn.Close() // the client did not answer: cut it
		}
	}()
	return true
}

// subscribedReply answers a subscribe frame.
type subscribedReply struct {
	Type  string `json:"type"` // "subscribed"
	JobID string `json:"job_id"`
	Seq   int64  `json:"seq"`
}

// errorReply answers a bad frame, or tells that a job can no longer be watched.
type errorReply struct {
	Type    string `json:"type"` // "error"
	JobID   string `json:"job_id,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// reply queues a reply frame; a session whose queue is full is closed as slow.
func (c *wsConn) reply(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.w.s.log.Error("encoding a WebSocket reply", errAttr(err))
		return
	}
	if err := c.Send(b); errors.Is(err, hub.ErrFull) {
		c.w.hub.LeaveAll(c)
		c.CloseSlow()
	}
}

// replyError sends err as an error frame with the HTTP API's code.
func (c *wsConn) replyError(id string, err error) {
	status, code := classify(err)
	msg := err.Error()
	if status >= 500 && code == "internal" {
		c.w.s.log.Error("WebSocket request failed", "job", id, errAttr(err))
		msg = "internal error"
	}
	c.reply(errorReply{Type: "error", JobID: id, Code: code, Message: msg})
}
