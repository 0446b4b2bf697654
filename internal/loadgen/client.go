package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/phasehost/phasehost/host/event"
)

// CloseTooSlow is the close code of a WebSocket client that could not keep up.
const CloseTooSlow = 4008

// client is one watcher. Its counters belong to its goroutine until done is
// closed.
type client struct {
	r   *run
	job *benchJob

	joined   chan struct{} // closed when the first event (or the subscription) arrived
	joinOnce sync.Once
	done     chan struct{} // closed when the goroutine ends

	mu     sync.Mutex
	closer func()

	lastSeq                        int64
	hist                           Histogram
	received, dups, gaps           int64
	closed4008, reconnects, errors int64
	final                          bool
	lastRecv                       int64 // unix ns of the last measured delivery
	buf                            bytes.Buffer
}

func (c *client) markJoined() { c.joinOnce.Do(func() { close(c.joined) }) }

// setCloser records how to close the current connection; it reports false
// when the run is stopping (the caller closes it itself).
func (c *client) setCloser(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.r.stopping.Load() {
		return false
	}
	c.closer = f
	return true
}

func (c *client) close() {
	c.mu.Lock()
	f := c.closer
	c.closer = nil
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

func (c *client) fail(format string, args ...any) {
	c.errors++
	c.r.noteErr("client of %s: %s", c.job.id, fmt.Sprintf(format, args...))
}

// openClients starts every client; closeClients (idempotent) closes them all
// and waits for their goroutines.
func (r *run) openClients(ctx context.Context) ([]*client, func(), error) {
	cfg := r.cfg
	cs := make([]*client, cfg.Clients)
	for i := range cs {
		j := r.jobs[i%len(r.jobs)]
		j.watchers++
		cs[i] = &client{r: r, job: j, joined: make(chan struct{}), done: make(chan struct{})}
	}
	sem := make(chan struct{}, cfg.DialConcurrency)
	var wg sync.WaitGroup
	var base *redis.Client
	switch cfg.Mode {
	case ModeNode:
		u, err := wsURL(cfg.ServerURL)
		if err != nil {
			return nil, nil, err
		}
		d := &websocket.Dialer{HandshakeTimeout: 30 * time.Second, Proxy: nil}
		for _, c := range cs {
			wg.Go(func() { c.runWS(ctx, d, u, sem) })
		}
	case ModeBaseline:
		o, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, nil, err
		}
		o.ClientName = BaselineClientName
		base = redis.NewClient(o)
		for _, c := range cs {
			wg.Go(func() { c.runBaseline(ctx, base, sem) })
		}
	}
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			r.stopping.Store(true)
			for _, c := range cs {
				c.close()
			}
			wg.Wait()
			if base != nil {
				_ = base.Close()
			}
		})
	}
	return cs, closeAll, nil
}

// awaitJoins waits until every client has joined its room.
func (r *run) awaitJoins(ctx context.Context, cs []*client) error {
	t := time.NewTimer(r.cfg.JoinTimeout)
	defer t.Stop()
	for i, c := range cs {
		select {
		case <-c.joined:
		case <-c.done:
			r.errMu.Lock()
			msg := strings.Join(r.errs, "; ")
			r.errMu.Unlock()
			return fmt.Errorf("client %d of %d could not join job %s: %s", i+1, len(cs), c.job.id, msg)
		case <-t.C:
			return fmt.Errorf("only %d of %d clients joined within %s", i, len(cs), r.cfg.JoinTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func wsURL(server string) (*url.URL, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("--server: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("--server %q: want http://host:port", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/ws"
	return u, nil
}

// runWS watches the job over GET /v1/ws?job&token&since, reconnecting with
// since after a 4008 close.
func (c *client) runWS(ctx context.Context, d *websocket.Dialer, base *url.URL, sem chan struct{}) {
	defer close(c.done)
	for {
		u := *base
		u.RawQuery = url.Values{"job": {c.job.id}, "token": {c.job.token}, "since": {strconv.FormatInt(c.lastSeq, 10)}}.Encode()
		sem <- struct{}{}
		conn, resp, err := d.DialContext(ctx, u.String(), nil)
		<-sem
		if err != nil {
			if !c.r.stopping.Load() {
				status := ""
				if resp != nil {
					status = " (" + resp.Status + ")"
				}
				c.fail("dial: %v%s", err, status)
			}
			return
		}
		if !c.setCloser(func() { _ = conn.Close() }) {
			_ = conn.Close()
			return
		}
		err = c.readWS(conn)
		_ = conn.Close()
		if c.final || c.r.stopping.Load() {
			return
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code == CloseTooSlow {
			c.closed4008++
			if c.r.cfg.NoReconnect {
				return
			}
			c.reconnects++
			continue
		}
		c.fail("read: %v", err)
		return
	}
}

func (c *client) readWS(conn *websocket.Conn) error {
	for {
		_, rd, err := conn.NextReader()
		if err != nil {
			return err
		}
		c.buf.Reset()
		if _, err := c.buf.ReadFrom(rd); err != nil {
			return err
		}
		if c.handle(c.buf.Bytes(), time.Now()) {
			return nil
		}
	}
}

// runBaseline is the seed's design: one Redis pub/sub connection for this
// client, SUBSCRIBEd to its job's channel.
func (c *client) runBaseline(ctx context.Context, rdb *redis.Client, sem chan struct{}) {
	defer close(c.done)
	sem <- struct{}{}
	ps := rdb.Subscribe(ctx, c.job.channel)
	jctx, cancel := context.WithTimeout(ctx, c.r.cfg.JoinTimeout)
	msg, err := ps.Receive(jctx)
	cancel()
	<-sem
	if err != nil {
		_ = ps.Close()
		if !c.r.stopping.Load() {
			c.fail("subscribe: %v", err)
		}
		return
	}
	if _, ok := msg.(*redis.Subscription); !ok {
		_ = ps.Close()
		c.fail("subscribe: unexpected %T", msg)
		return
	}
	if !c.setCloser(func() { _ = ps.Close() }) {
		_ = ps.Close()
		return
	}
	c.lastSeq = 1 // the job's start event, published before the clients
	c.markJoined()
	for {
		m, err := ps.ReceiveMessage(ctx)
		now := time.Now()
		if err != nil {
			if c.r.stopping.Load() || ctx.Err() != nil {
				return
			}
			c.fail("receive: %v", err) // go-redis reconnects and resubscribes; what was sent meanwhile is lost
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if c.handle(unsafe.Slice(unsafe.StringData(m.Payload), len(m.Payload)), now) {
			return
		}
	}
}

// handle counts one frame received at now; it reports whether it was the
// job's terminal event.
func (c *client) handle(msg []byte, now time.Time) bool {
	if bytes.HasPrefix(msg, []byte(`{"type":`)) { // a control frame: subscribed or error
		if bytes.Contains(msg, []byte(`"type":"error"`)) {
			c.fail("error frame: %s", msg)
		} else {
			c.markJoined()
		}
		return false
	}
	seq, t, typ, status, ok := parseEvent(msg)
	if !ok {
		var ev event.Event
		if err := json.Unmarshal(msg, &ev); err != nil || ev.Seq <= 0 {
			c.fail("not an event: %.200s", msg)
			return false
		}
		seq, t, typ, status = ev.Seq, ev.Time, ev.Type, ev.Status
	}
	c.markJoined()
	if seq <= c.lastSeq {
		c.dups++
		return false
	}
	if seq != c.lastSeq+1 {
		c.gaps++
	}
	c.lastSeq = seq
	switch typ {
	case event.TypePhase:
		if ms := c.r.measureStart.Load(); ms != 0 && t.UnixNano() >= ms {
			c.received++
			c.hist.Record(now.Sub(t))
			c.lastRecv = now.UnixNano()
		}
	case event.TypeJob:
		if event.Terminal(status) {
			c.final = true
			return true
		}
	}
	return false
}

// parseEvent reads seq, time, type and status from event JSON as the store
// writes it (job_id, seq, time, type, status first, in this order), without
// decoding the rest; ok is false for anything else.
func parseEvent(b []byte) (seq int64, t time.Time, typ, status string, ok bool) {
	i := bytes.Index(b, []byte(`,"seq":`))
	if i < 0 {
		return
	}
	rest := b[i+len(`,"seq":`):]
	k := 0
	for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
		k++
	}
	seq, err := strconv.ParseInt(string(rest[:k]), 10, 64)
	if err != nil {
		return
	}
	rest = rest[k:]
	str := func(key string) (string, bool) {
		p := `,"` + key + `":"`
		if !bytes.HasPrefix(rest, []byte(p)) {
			return "", false
		}
		rest = rest[len(p):]
		e := bytes.IndexByte(rest, '"')
		if e < 0 {
			return "", false
		}
		v := string(rest[:e])
		rest = rest[e+1:]
		return v, true
	}
	ts, okT := str("time")
	if !okT {
		return
	}
	if t, err = time.Parse(time.RFC3339Nano, ts); err != nil {
		return
	}
	if typ, ok = str("type"); !ok {
		return
	}
	if typ == event.TypeJob {
		status, _ = str("status")
	}
	return seq, t, typ, status, true
}

// selfMemory is this process's memory, after a GC: the subscriber side of
// the baseline.
func selfMemory() NodeMemory {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	nm := NodeMemory{HeapInuse: float64(ms.HeapInuse)}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseFloat(f[1], 64); err == nil {
				nm.RSS = pages * float64(os.Getpagesize())
			}
		}
	}
	return nm
}
