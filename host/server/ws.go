package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
	"github.com/olahol/melody"

	"github.com/phasehost/phasehost/host/hub"
	"github.com/phasehost/phasehost/host/metrics"
)

// WSConfig configures GET /v1/ws. The zero value of each field means its
// default.
type WSConfig struct {
	// AllowedOrigins lists the browser origins ("https://app.example.com")
	// allowed to connect besides the server's own host. Empty: same host
	// only. "*" allows every origin. Requests without an Origin header (not
	// from a browser) are always allowed: watching still needs the job token.
	AllowedOrigins []string
	// MaxMessageSize caps a client frame, in bytes; a larger one closes the
	// session with 1009. Zero: 4096.
	MaxMessageSize int64
	// MessageBufferSize is each session's outbound queue, in frames. A
	// session whose queue is full is closed with 4008. Zero: 256.
	MessageBufferSize int
	// WriteWait bounds the writing of one frame. Zero: 10s.
	WriteWait time.Duration
	// PongWait is how long a session may stay silent (no pong, no frame)
	// before it is closed. Zero: 60s.
	PongWait time.Duration
	// PingPeriod is the interval of pings; it must be shorter than PongWait.
	// Zero: 9/10 of PongWait.
	PingPeriod time.Duration
	// Metrics counts sessions, rooms, deliveries and slow closes. Nil: not counted.
	Metrics *metrics.Hub
}

func (c WSConfig) withDefaults() WSConfig {
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 4096
	}
	if c.MessageBufferSize <= 0 {
		c.MessageBufferSize = 256
	}
	if c.WriteWait <= 0 {
		c.WriteWait = 10 * time.Second
	}
	if c.PongWait <= 0 {
		c.PongWait = 60 * time.Second
	}
	if c.PingPeriod <= 0 || c.PingPeriod >= c.PongWait {
		c.PingPeriod = c.PongWait * 9 / 10
	}
	return c
}

// wsServer is GET /v1/ws: melody sessions joined to the rooms of a hub.Hub.
type wsServer struct {
	s   *Server
	cfg WSConfig
	met *metrics.Hub
	mel *melody.Melody
	hub *hub.Hub
}

const connKey = "phasehost.conn"

func newWS(s *Server) (*wsServer, error) {
	cfg := s.cfg.WebSocket.withDefaults()
	h, err := hub.New(hub.Config{Store: s.store, Metrics: cfg.Metrics, Logger: s.log})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	w := &wsServer{s: s, cfg: cfg, met: cfg.Metrics, hub: h, mel: melody.New()}
	mc := w.mel.Config
	mc.MaxMessageSize = cfg.MaxMessageSize
	mc.MessageBufferSize = cfg.MessageBufferSize
	mc.WriteWait = cfg.WriteWait
	mc.PongWait = cfg.PongWait
	mc.PingPeriod = cfg.PingPeriod
	w.mel.Upgrader.CheckOrigin = w.originAllowed // melody's default allows every origin
	w.mel.HandleConnect(w.connect)
	w.mel.HandleDisconnect(w.disconnect)
	w.mel.HandleMessage(w.message)
	w.mel.HandleSentMessage(func(s *melody.Session, _ []byte) { connOf(s).sent() })
	w.mel.HandleError(w.onError)
	return w, nil
}

// WatchStats reports the WebSocket rooms: how many jobs are watched and how
// many store subscriptions the server holds for them.
func (s *Server) WatchStats() hub.Stats { return s.ws.hub.Stats() }

// handle is GET /v1/ws?job=ID&token=T&since=N. With job, the token is checked
// (401/403) and the job looked up (404) before the upgrade; the session then
// receives the job's events with seq > since. Without job, the session joins
// rooms with subscribe frames only.
func (w *wsServer) handle(c *gin.Context) {
	if w.s.stopping.Load() {
		w.s.writeError(c, ErrShuttingDown)
		return
	}
	if !w.originAllowed(c.Request) {
		w.s.writeError(c, fmt.Errorf("%w: origin %q may not open a WebSocket", ErrForbidden, c.GetHeader("Origin")))
		return
	}
	if !websocket.IsWebSocketUpgrade(c.Request) {
		w.s.writeError(c, fmt.Errorf("%w: /v1/ws needs a WebSocket upgrade", ErrBadRequest))
		return
	}
	conn := newWSConn(w)
	if id := c.Query("job"); id != "" {
		if err := w.s.authorize(c, id); err != nil {
			w.s.writeError(c, err)
			return
		}
		since, err := resumeFrom(c)
		if err != nil {
			w.s.writeError(c, err)
			return
		}
		if _, err := w.s.store.Get(c.Request.Context(), id); err != nil {
			w.s.writeError(c, err)
			return
		}
		conn.job, conn.since = id, since
	}
	err := w.mel.HandleRequestWithKeys(c.Writer, c.Request, map[string]any{connKey: conn})
	if errors.Is(err, melody.ErrClosed) {
		w.s.writeError(c, ErrShuttingDown)
	} // other errors: the upgrader has answered
}

// originAllowed is the Origin check: same host, AllowedOrigins, or no Origin.
func (w *wsServer) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, a := range w.cfg.AllowedOrigins {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "/"), u.Scheme+"://"+u.Host) {
			return true
		}
	}
	return false
}

func connOf(s *melody.Session) *wsConn {
	v, _ := s.Get(connKey)
	return v.(*wsConn)
}

func (w *wsServer) connect(s *melody.Session) {
	c := connOf(s)
	c.sess = s
	w.met.Sessions(1)
	if c.job != "" {
		w.startJoin(c, c.job, c.since, false)
	}
}

func (w *wsServer) disconnect(s *melody.Session) {
	c := connOf(s)
	c.cancel() // before LeaveAll: a join in progress cannot enter a room after it
	w.hub.LeaveAll(c)
	w.met.Sessions(-1)
}

func (w *wsServer) onError(s *melody.Session, err error) {
	c := connOf(s)
	if errors.Is(err, melody.ErrMessageBufferFull) {
		c.full.Store(true) // Send reports hub.ErrFull; the hub closes the session with 4008
	}
}

// wsFrame is a client frame.
type wsFrame struct {
	Op    string `json:"op"`
	Job   string `json:"job"`
	Token string `json:"token"`
	Since *int64 `json:"since"`
}

// message handles a client frame: subscribe or unsubscribe.
func (w *wsServer) message(s *melody.Session, msg []byte) {
	c := connOf(s)
	var f wsFrame
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	err := dec.Decode(&f)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errors.New("unexpected data after the frame")
		}
	}
	if err != nil {
		c.replyError(f.Job, fmt.Errorf("%w: not a valid frame: %w", ErrBadRequest, err))
		return
	}
	if f.Job == "" {
		c.replyError("", fmt.Errorf("%w: job: required", ErrBadRequest))
		return
	}
	switch f.Op {
	case "subscribe":
		var since int64
		if f.Since != nil {
			since = *f.Since
		}
		if since < 0 {
			c.replyError(f.Job, fmt.Errorf("%w: since: %d is not a seq", ErrBadRequest, since))
			return
		}
		if err := w.s.checkToken(f.Job, f.Token); err != nil {
			c.replyError(f.Job, err)
			return
		}
		w.startJoin(c, f.Job, since, true)
	case "unsubscribe":
		c.mu.Lock()
		if t := c.joining[f.Job]; t != nil {
			t.cancel()
		}
		c.mu.Unlock()
		w.hub.Leave(c, f.Job)
	default:
		c.replyError(f.Job, fmt.Errorf("%w: op: %q is not subscribe or unsubscribe", ErrBadRequest, f.Op))
	}
}

// checkToken checks a token for job id in constant time, as authorize does.
func (s *Server) checkToken(id, t string) error {
	if t == "" {
		return fmt.Errorf("%w: send the job's token in the frame", ErrUnauthorized)
	}
	if hmac.Equal([]byte(t), []byte(s.token(id))) || s.isOperator(t) {
		return nil
	}
	return fmt.Errorf("%w: job %s", ErrForbidden, id)
}

// startJoin joins c to the room of id in the background: the history replay
// may wait for the client, and the session's reader must go on (pongs,
// unsubscribe). With ack, a subscribed reply precedes the events.
func (w *wsServer) startJoin(c *wsConn, id string, since int64, ack bool) {
	c.mu.Lock()
	if c.joining[id] != nil {
		c.mu.Unlock()
		c.replyError(id, fmt.Errorf("%w: already subscribing to job %s", ErrBadRequest, id))
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	t := &joinTicket{cancel: cancel}
	c.joining[id] = t
	c.mu.Unlock()
	var ackFn func(int64) []byte
	if ack {
		ackFn = func(seq int64) []byte {
			b, _ := json.Marshal(subscribedReply{Type: "subscribed", JobID: id, Seq: seq})
			return b
		}
	}
	go func() {
		defer func() {
			c.mu.Lock()
			if c.joining[id] == t {
				delete(c.joining, id)
			}
			c.mu.Unlock()
			cancel()
		}()
		_, err := w.hub.Join(ctx, c, id, since, ackFn)
		switch {
		case err == nil, ctx.Err() != nil, c.full.Load(), errors.Is(err, hub.ErrLeft):
			return // joined, unsubscribed, disconnected, or closed as slow
		case errors.Is(err, hub.ErrJoined):
			err = fmt.Errorf("%w: %w", ErrBadRequest, err)
		case errors.Is(err, hub.ErrClosed):
			err = ErrShuttingDown
		}
		c.fail(id, err)
	}()
}

// shutdown stops the rooms and closes every session with 1001.
func (w *wsServer) shutdown() {
	w.hub.Close()
	sessions, _ := w.mel.Sessions()
	_ = w.mel.CloseWithMsg(melody.FormatCloseMessage(websocket.CloseGoingAway, shutdownCloseText))
	for _, s := range sessions {
		if c := connOf(s); c.full.Load() { // melody dropped its close frame: the buffer was full
			c.closeWith(websocket.CloseGoingAway, shutdownCloseText)
		}
	}
}
