package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/metrics"
	"github.com/phasehost/phasehost/host/server"
	"github.com/phasehost/phasehost/host/store"
)

// newWSEnv is newEnv with the WebSocket metrics registered and cfg applied.
func newWSEnv(t *testing.T, mod func(*server.WSConfig)) *env {
	return newWSEnvOn(t, memoryEngine, mod)
}

// newWSEnvOn is newWSEnv on engine.
func newWSEnvOn(t *testing.T, engine string, mod func(*server.WSConfig)) *env {
	return newEnvOn(t, engine, func(c *server.Config) {
		c.WebSocket.Metrics = metrics.NewHub(c.Gatherer.(*prometheus.Registry))
		if mod != nil {
			mod(&c.WebSocket)
		}
	})
}

// wsMsg is any frame the server sends: an event or a reply.
type wsMsg struct {
	Type    string `json:"type"`
	JobID   string `json:"job_id"`
	Seq     int64  `json:"seq"`
	Status  string `json:"status"`
	Phase   string `json:"phase"`
	Done    *int64 `json:"done"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (m wsMsg) isEvent() bool {
	return m.Type == event.TypeJob || m.Type == event.TypeStage || m.Type == event.TypePhase
}

func (m wsMsg) final() bool { return m.Type == event.TypeJob && event.Terminal(m.Status) }

func wsURL(base, query string) string {
	return "ws" + strings.TrimPrefix(base, "http") + "/v1/ws?" + query
}

// dialWS opens a WebSocket to base (e.url) with query; it fails the test unless the upgrade succeeds.
func dialWS(t *testing.T, base, query string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(wsURL(base, query), nil)
	if resp != nil && resp.Body != nil {
		defer resp.Body.Close()
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func jobQuery(s submitted, since int64) string {
	return "job=" + s.ID + "&token=" + url.QueryEscape(s.Token) + "&since=" + strconv.FormatInt(since, 10)
}

// readWS reads frames until stop says so; it fails on a read error.
func readWS(t *testing.T, c *websocket.Conn, stop func(wsMsg) bool) []wsMsg {
	t.Helper()
	var out []wsMsg
	for {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
		_, b, err := c.ReadMessage()
		require.NoError(t, err, "after %d frames", len(out))
		var m wsMsg
		require.NoError(t, json.Unmarshal(b, &m), "%s", b)
		out = append(out, m)
		if stop(m) {
			return out
		}
	}
}

// readUntil reads frames until stop says so of all read so far.
func readUntil(t *testing.T, c *websocket.Conn, stop func([]wsMsg) bool) []wsMsg {
	t.Helper()
	var all []wsMsg
	readWS(t, c, func(m wsMsg) bool {
		all = append(all, m)
		return stop(all)
	})
	return all
}

// eventsOf keeps the events of job id.
func eventsOf(ms []wsMsg, id string) []wsMsg {
	var out []wsMsg
	for _, m := range ms {
		if m.isEvent() && m.JobID == id {
			out = append(out, m)
		}
	}
	return out
}

// assertSeqs checks that evs are exactly seqs from..to.
func assertSeqs(t *testing.T, evs []wsMsg, from, to int64) {
	t.Helper()
	require.Len(t, evs, int(to-from+1), "events %d..%d", from, to)
	for i, m := range evs {
		require.Equal(t, from+int64(i), m.Seq, "event %d", i)
	}
}

func progressAtLeast(n int64) func(wsMsg) bool {
	return func(m wsMsg) bool { return m.Phase == "PROGRESS" && m.Done != nil && *m.Done >= n }
}

func (e *env) cancel(s submitted) {
	e.t.Helper()
	resp, b := e.do("DELETE", "/v1/jobs/"+s.ID, s.Token, nil)
	require.Equal(e.t, http.StatusAccepted, resp.StatusCode, "%s", b)
}

func sendFrame(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	require.NoError(t, c.WriteJSON(v))
}

func TestWSHistoryThenLive(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newWSEnvOn(t, engine, nil)
		s := e.submit("cancel")
		eventually(t, func() bool { return e.state(s).Seq >= 5 }, 10*time.Second, 5*time.Millisecond)
		at := e.state(s).Seq

		c := dialWS(t, e.url, jobQuery(s, 0))
		first := readWS(t, c, func(m wsMsg) bool { return m.Seq >= at+3 }) // history, then live ones
		e.cancel(s)
		rest := readWS(t, c, wsMsg.final)
		j := e.waitStatus(s, "cancelled")
		all := append(first, rest...)
		assertSeqs(t, all, 1, j.Seq)
		assert.Equal(t, event.StatusQueued, all[0].Status)
		assert.Equal(t, event.StatusCancelled, all[len(all)-1].Status)

		// The session stays open after the job ended: it answers a frame.
		sendFrame(t, c, map[string]any{"op": "subscribe", "job": "nope", "token": "x"})
		reply := readWS(t, c, func(wsMsg) bool { return true })
		assert.Equal(t, "error", reply[0].Type)
		// The room leaves the index first; its goroutine then closes the
		// store subscription.
		eventually(t, func() bool {
			st := e.srv.WatchStats()
			return st.Rooms == 0 && st.Subscriptions == 0
		}, 5*time.Second, 5*time.Millisecond, "rooms and subscriptions after the job ended")
	})
}

func TestWSSinceResume(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newWSEnvOn(t, engine, nil)
		t.Run("finished job", func(t *testing.T) {
			s := e.submit("ok")
			j := e.waitStatus(s, "succeeded")
			require.Greater(t, j.Seq, int64(5))
			c := dialWS(t, e.url, jobQuery(s, 4))
			assertSeqs(t, readWS(t, c, wsMsg.final), 5, j.Seq)
		})
		t.Run("mid job", func(t *testing.T) {
			s := e.submit("cancel")
			c := dialWS(t, e.url, jobQuery(s, 0))
			first := readWS(t, c, progressAtLeast(3))
			require.NoError(t, c.Close())
			last := first[len(first)-1].Seq
			eventually(t, func() bool { return e.state(s).Seq >= last+3 }, 10*time.Second, 5*time.Millisecond)

			c2 := dialWS(t, e.url, jobQuery(s, last))
			mid := readWS(t, c2, progressAtLeast(*first[len(first)-1].Done+5))
			e.cancel(s)
			rest := readWS(t, c2, wsMsg.final)
			j := e.waitStatus(s, "cancelled")
			assertSeqs(t, append(append(first, mid...), rest...), 1, j.Seq)
		})
	})
}

func TestWSSubscribeFrames(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newWSEnvOn(t, engine, nil)
		a, b := e.submit("cancel"), e.submit("cancel")
		c := dialWS(t, e.url, "")

		sendFrame(t, c, map[string]any{"op": "subscribe", "job": a.ID, "token": a.Token, "since": 0})
		sendFrame(t, c, map[string]any{"op": "subscribe", "job": b.ID, "token": b.Token})
		got := readUntil(t, c, func(all []wsMsg) bool {
			return len(eventsOf(all, a.ID)) >= 4 && len(eventsOf(all, b.ID)) >= 4
		})
		replies := map[string]wsMsg{}
		for _, m := range got {
			if m.Type == "subscribed" {
				replies[m.JobID] = m
			}
		}
		require.Len(t, replies, 2)
		for _, s := range []submitted{a, b} {
			assert.Positive(t, replies[s.ID].Seq)
			assert.Equal(t, s.ID, replies[s.ID].JobID)
		}
		require.Equal(t, 2, e.srv.WatchStats().Rooms)

		sendFrame(t, c, map[string]any{"op": "unsubscribe", "job": a.ID})
		eventually(t, func() bool { return e.srv.WatchStats().Rooms == 1 }, 5*time.Second, 5*time.Millisecond)
		e.cancel(a)
		e.waitStatus(a, "cancelled")
		e.cancel(b)
		got = append(got, readWS(t, c, func(m wsMsg) bool { return m.JobID == b.ID && m.final() })...)
		jb := e.waitStatus(b, "cancelled")

		evA, evB := eventsOf(got, a.ID), eventsOf(got, b.ID)
		assertSeqs(t, evB, 1, jb.Seq)
		require.NotEmpty(t, evA)
		assertSeqs(t, evA, 1, evA[len(evA)-1].Seq) // a prefix, without a gap
		assert.False(t, evA[len(evA)-1].final(), "no event of an unsubscribed job after the unsubscribe")
		for _, s := range []submitted{a, b} { // each reply precedes its job's events
			for _, m := range got {
				if m.JobID == s.ID {
					assert.Equal(t, "subscribed", m.Type, "%+v", m)
					break
				}
			}
		}

		// Subscribing again to the finished job replays its history.
		ja := e.state(a)
		sendFrame(t, c, map[string]any{"op": "subscribe", "job": a.ID, "token": a.Token, "since": ja.Seq - 2})
		again := readWS(t, c, func(m wsMsg) bool { return m.JobID == a.ID && m.final() })
		require.Equal(t, "subscribed", again[0].Type)
		assert.Equal(t, ja.Seq, again[0].Seq)
		assertSeqs(t, again[1:], ja.Seq-1, ja.Seq)
	})
}

func TestWSFrameErrors(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newWSEnvOn(t, engine, nil)
		s := e.submit("cancel")
		other := e.submit("ok")
		c := dialWS(t, e.url, jobQuery(s, 0))
		readWS(t, c, func(m wsMsg) bool { return m.Seq >= 2 })
		for _, tc := range []struct {
			name  string
			frame string
			code  string
		}{
			{"not json", `{"op":`, "bad_request"},
			{"unknown field", `{"op":"subscribe","job":"x","tokn":"y"}`, "bad_request"},
			{"unknown op", `{"op":"watch","job":"` + other.ID + `"}`, "bad_request"},
			{"no job", `{"op":"subscribe","token":"y"}`, "bad_request"},
			{"negative since", `{"op":"subscribe","job":"` + other.ID + `","token":"` + other.Token + `","since":-1}`, "bad_request"},
			{"missing token", `{"op":"subscribe","job":"` + other.ID + `"}`, "unauthorized"},
			{"wrong token", `{"op":"subscribe","job":"` + other.ID + `","token":"AAAA"}`, "forbidden"},
			{"other job's token", `{"op":"subscribe","job":"` + other.ID + `","token":"` + s.Token + `"}`, "forbidden"},
			{"unknown job", `{"op":"subscribe","job":"nope","token":"operator"}`, "job_not_found"},
			{"already subscribed", `{"op":"subscribe","job":"` + s.ID + `","token":"` + s.Token + `"}`, "bad_request"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte(tc.frame)))
				ms := readWS(t, c, func(m wsMsg) bool { return !m.isEvent() })
				r := ms[len(ms)-1]
				assert.Equal(t, "error", r.Type)
				assert.Equal(t, tc.code, r.Code, "%+v", r)
				assert.NotEmpty(t, r.Message)
			})
		}
		// The operator token opens any job.
		sendFrame(t, c, map[string]any{"op": "subscribe", "job": other.ID, "token": "operator"})
		ms := readWS(t, c, func(m wsMsg) bool { return m.Type == "subscribed" })
		assert.Equal(t, other.ID, ms[len(ms)-1].JobID)

		// A frame over MaxMessageSize closes the session with 1009.
		require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","job":"`+strings.Repeat("x", 5000)+`"}`)))
		var ce *websocket.CloseError
		for {
			_, _, err := c.ReadMessage()
			if err != nil {
				require.ErrorAs(t, err, &ce)
				break
			}
		}
		assert.Equal(t, websocket.CloseMessageTooBig, ce.Code)
		e.cancel(s)
	})
}

func TestWSUpgradeRefusals(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newWSEnvOn(t, engine, func(c *server.WSConfig) { c.AllowedOrigins = []string{"https://app.example.com"} })
		s := e.submit("ok")
		other := e.submit("ok")
		e.waitStatus(s, "succeeded")
		for _, tc := range []struct {
			name, query string
			hdr         http.Header
			status      int
			code        string
		}{
			{"missing token", "job=" + s.ID, nil, 401, "unauthorized"},
			{"wrong token", "job=" + s.ID + "&token=AAAA", nil, 403, "forbidden"},
			{"other job's token", "job=" + s.ID + "&token=" + url.QueryEscape(other.Token), nil, 403, "forbidden"},
			{"unknown job", "job=nope&token=operator", nil, 404, "job_not_found"},
			{"bad since", "job=" + s.ID + "&token=" + url.QueryEscape(s.Token) + "&since=x", nil, 400, "bad_request"},
			{"foreign origin", jobQuery(s, 0), http.Header{"Origin": {"https://evil.example.com"}}, 403, "forbidden"},
			{"foreign origin without job", "", http.Header{"Origin": {"http://evil.example.com"}}, 403, "forbidden"},
			{"bearer token", "job=" + s.ID, http.Header{"Authorization": {"Bearer " + s.Token}}, 101, ""},
			{"allowed origin", jobQuery(s, 0), http.Header{"Origin": {"https://app.example.com"}}, 101, ""},
			{"same host", jobQuery(s, 0), http.Header{"Origin": {e.url}}, 101, ""},
			{"no origin (not a browser)", jobQuery(s, 0), nil, 101, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, resp, err := websocket.DefaultDialer.Dial(wsURL(e.url, tc.query), tc.hdr)
				require.NotNil(t, resp)
				defer resp.Body.Close()
				assert.Equal(t, tc.status, resp.StatusCode)
				if tc.status != 101 {
					require.ErrorIs(t, err, websocket.ErrBadHandshake)
					var eb struct{ Error struct{ Code string } }
					require.NoError(t, json.NewDecoder(resp.Body).Decode(&eb))
					assert.Equal(t, tc.code, eb.Error.Code)
					return
				}
				require.NoError(t, err)
				defer c.Close()
				ms := readWS(t, c, wsMsg.final)
				assert.Equal(t, int64(1), ms[0].Seq)
			})
		}
		resp, b := e.do("GET", "/v1/ws", "", nil) // not an upgrade
		assert.Equal(t, 400, resp.StatusCode)
		assertError(t, b, "bad_request")
	})
}

// watcher reads one job's events on its own connection until the final one.
type watcher struct {
	c    *websocket.Conn
	evs  []wsMsg
	err  error
	done chan struct{}
}

func watch(c *websocket.Conn) *watcher {
	w := &watcher{c: c, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, b, err := c.ReadMessage()
			if err != nil {
				w.err = err
				return
			}
			var m wsMsg
			if err := json.Unmarshal(b, &m); err != nil {
				w.err = err
				return
			}
			w.evs = append(w.evs, m)
			if m.final() {
				return
			}
		}
	}()
	return w
}

func TestWSManyClientsOneSubscriptionPerJob(t *testing.T) {
	e := newWSEnv(t, nil)
	jobs := []submitted{e.submit("cancel"), e.submit("cancel"), e.submit("cancel")}
	const perJob = 100
	var mu sync.Mutex
	ws := map[string][]*watcher{}
	var wg sync.WaitGroup
	for i := range 3 * perJob {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := jobs[i%3]
			c, resp, err := websocket.DefaultDialer.Dial(wsURL(e.url, jobQuery(s, 0)), nil)
			if resp != nil {
				resp.Body.Close()
			}
			if !assert.NoError(t, err) {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
			w := watch(c)
			mu.Lock()
			ws[s.ID] = append(ws[s.ID], w)
			mu.Unlock()
		}()
	}
	wg.Wait()
	eventually(t, func() bool { return e.srv.WatchStats().Members == 3*perJob }, 20*time.Second, 10*time.Millisecond)
	st := e.srv.WatchStats()
	assert.Equal(t, 3, st.Rooms)
	assert.Equal(t, int64(3), st.Subscriptions, "one store subscription per watched job")
	assert.Equal(t, 3*perJob, st.Conns)
	for _, s := range jobs {
		eventually(t, func() bool { return e.state(s).Seq >= 20 }, 20*time.Second, 5*time.Millisecond)
		e.cancel(s)
	}
	for _, s := range jobs {
		j := e.waitStatus(s, "cancelled")
		require.Len(t, ws[s.ID], perJob)
		for _, w := range ws[s.ID] {
			<-w.done
			require.NoError(t, w.err)
			assertSeqs(t, w.evs, 1, j.Seq)
		}
	}
	eventually(t, func() bool {
		st := e.srv.WatchStats()
		return st.Rooms == 0 && st.Subscriptions == 0 && st.Members == 0
	}, 5*time.Second, 5*time.Millisecond)
	_, b := e.do("GET", "/metrics", "", nil)
	assert.Contains(t, string(b), "phasehost_ws_sessions 300")
	assert.Contains(t, string(b), "phasehost_ws_rooms 0")
	assert.Contains(t, string(b), "phasehost_ws_deliveries_total")
}

func metricValue(t *testing.T, e *env, name string) float64 {
	_, b := e.do("GET", "/metrics", "", nil)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return f
		}
	}
	return 0
}

func TestWSSlowConsumerClosedOthersUnaffected(t *testing.T) {
	// WriteWait well above the test's run time: the stalled client reads its
	// 4008 only at the end, and a write timing out first would cut it (1006).
	e := newWSEnv(t, func(c *server.WSConfig) { c.MessageBufferSize, c.WriteWait = 128, time.Minute })
	hs := httptest.NewUnstartedServer(e.srv.Handler())
	ln, err := (&net.ListenConfig{Control: smallBuffers}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, hs.Listener.Close())
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)

	s := e.submit("cancel")
	// The stalled client: small socket buffers on both ends (hs), and it stops reading.
	d := websocket.Dialer{NetDialContext: (&net.Dialer{Control: smallBuffers}).DialContext}
	stalled, resp, err := d.Dial(wsURL(hs.URL, jobQuery(s, 0)), nil)
	require.NoError(t, err)
	resp.Body.Close()
	t.Cleanup(func() { _ = stalled.Close() })

	const others = 99
	var ws []*watcher
	for range others {
		ws = append(ws, watch(dialWS(t, e.url, jobQuery(s, 0)))) // same hub, ordinary socket buffers
	}
	eventually(t, func() bool { return metricValue(t, e, "phasehost_ws_slow_closes_total") >= 1 },
		20*time.Second, 10*time.Millisecond, "the stalled client is closed as slow; seq %d, deliveries %v", e.state(s).Seq, metricValue(t, e, "phasehost_ws_deliveries_total"))
	e.cancel(s)
	j := e.waitStatus(s, "cancelled")
	for _, w := range ws {
		<-w.done
		require.NoError(t, w.err)
		assertSeqs(t, w.evs, 1, j.Seq)
	}

	// The stalled client reads again: a prefix of the events, then 4008.
	var got []wsMsg
	var ce *websocket.CloseError
	for {
		require.NoError(t, stalled.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, b, err := stalled.ReadMessage()
		if err != nil {
			require.True(t, errors.As(err, &ce), "%v", err)
			break
		}
		var m wsMsg
		require.NoError(t, json.Unmarshal(b, &m))
		got = append(got, m)
	}
	assert.Equal(t, server.CloseSlowConsumer, ce.Code)
	assert.Equal(t, "slow consumer: reconnect with since", ce.Text)
	require.NotEmpty(t, got)
	last := got[len(got)-1].Seq
	assertSeqs(t, got, 1, last)
	require.Less(t, last, j.Seq)

	// It reconnects with since and loses nothing.
	c := dialWS(t, e.url, jobQuery(s, last))
	assertSeqs(t, readWS(t, c, wsMsg.final), last+1, j.Seq)
	assert.Equal(t, 1.0, metricValue(t, e, "phasehost_ws_slow_closes_total"))
}

func TestWSShutdownClosesGoingAway(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newWSEnvOn(t, engine, nil)
		s := e.submit("cancel")
		c := dialWS(t, e.url, jobQuery(s, 0))
		readWS(t, c, progressAtLeast(1))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = e.srv.Shutdown(ctx)
		var ce *websocket.CloseError
		for {
			require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
			if _, _, err := c.ReadMessage(); err != nil {
				require.ErrorAs(t, err, &ce)
				break
			}
		}
		assert.Equal(t, websocket.CloseGoingAway, ce.Code)
		_, resp, err := websocket.DefaultDialer.Dial(wsURL(e.url, jobQuery(s, 0)), nil)
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	})
}

// historyDown is a store whose history cannot be read, as when Redis goes
// down between a session's upgrade and its join.
type historyDown struct{ store.Store }

func (historyDown) History(context.Context, string, int64) ([]event.Event, error) {
	return nil, errors.New("redis: dial tcp 10.1.2.3:6379: connect: connection refused")
}

// TestWSJoinStoreDown: a session opened for one job whose events cannot be
// read is closed with 1013, so that its client reconnects with since; a
// subscribe frame gets an error frame instead, and its session stays open.
// Neither tells the store's address.
func TestWSJoinStoreDown(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.Store = historyDown{c.Store} })
	s := e.submit("ok")
	e.waitStatus(s, "succeeded")

	c := dialWS(t, e.url, jobQuery(s, 0))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, server.CloseTryAgain, ce.Code)
	assert.Equal(t, "job events unavailable for now: reconnect with since", ce.Text)

	other := dialWS(t, e.url, "")
	sendFrame(t, other, map[string]any{"op": "subscribe", "job": s.ID, "token": s.Token})
	reply := readWS(t, other, func(m wsMsg) bool { return m.Type == "error" }) // perhaps after "subscribed"
	last := reply[len(reply)-1]
	assert.Equal(t, "unavailable", last.Code)
	assert.NotContains(t, last.Message, "10.1.2.3")
	sendFrame(t, other, map[string]any{"op": "subscribe", "job": "nope", "token": "x"}) // still open: it answers
	assert.Equal(t, "error", readWS(t, other, func(wsMsg) bool { return true })[0].Type)
}
