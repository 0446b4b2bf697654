package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/metrics"
	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/host/registry"
	"github.com/phasehost/phasehost/host/server"
	"github.com/phasehost/phasehost/host/store"
	"github.com/phasehost/phasehost/internal/redistest"
	"github.com/phasehost/phasehost/schemas"
)

const modules = "../../testdata/modules/"

var quiet = slog.New(slog.DiscardHandler)

// recordingStore keeps every published event, to validate them all.
type recordingStore struct {
	store.Store
	mu     sync.Mutex
	events []event.Event
}

func (r *recordingStore) Publish(ctx context.Context, ev event.Event) (event.Event, error) {
	out, err := r.Store.Publish(ctx, ev)
	if err == nil {
		r.mu.Lock()
		r.events = append(r.events, out)
		r.mu.Unlock()
	}
	return out, err
}

// Ready passes the inner store's readiness probe through, when it has one.
func (r *recordingStore) Ready(ctx context.Context) error {
	if rd, ok := r.Store.(interface{ Ready(context.Context) error }); ok {
		return rd.Ready(ctx)
	}
	return nil
}

// The engines the API suite runs on.
const (
	memoryEngine = "memory"
	redisEngine  = "redis"
)

// engines lists the engines to test: memory, and redis when redis-server is
// installed (under CI=true it must be: redistest then fails instead).
func engines(t *testing.T) []string {
	if _, err := exec.LookPath("redis-server"); err != nil && os.Getenv("CI") != "true" {
		t.Logf("redis-server not found: testing the memory engine only (install: %s)", redistest.InstallHint)
		return []string{memoryEngine}
	}
	return []string{memoryEngine, redisEngine}
}

// forEngines runs fn as a subtest per engine.
func forEngines(t *testing.T, fn func(t *testing.T, engine string)) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) { fn(t, engine) })
	}
}

type env struct {
	t      *testing.T
	url    string
	srv    *server.Server
	store  *recordingStore
	redis  *redistest.Server // the redis engine's server; nil on memory
	rstore *store.Redis      // the redis engine's store; nil on memory
	shared bool              // other nodes share the store: validateAll checks seqs increase, not 1..N
}

// newEnv is a server on the memory engine.
func newEnv(t *testing.T, mod func(*server.Config)) *env {
	t.Helper()
	return newEnvOn(t, memoryEngine, mod)
}

// newEnvOn is a server on engine, with a redis-server of its own for redis.
func newEnvOn(t *testing.T, engine string, mod func(*server.Config)) *env {
	t.Helper()
	var rs *redistest.Server
	if engine == redisEngine {
		rs = redistest.Start(t)
	}
	return newNode(t, rs, mod)
}

// testLinger is the Redis store's linger in tests: short, so that
// unsubscribes can be observed quickly.
const testLinger = 200 * time.Millisecond

// newNode is a server on the memory engine (rs nil) or on the Redis of rs,
// which other nodes may share.
func newNode(t *testing.T, rs *redistest.Server, mod func(*server.Config)) *env {
	t.Helper()
	ctx := context.Background()
	engine, err := plugin.NewEngine(plugin.Options{Policy: plugin.Policy{CancelGrace: 2 * time.Second}, Logger: quiet})
	require.NoError(t, err)
	reg := registry.New()
	for _, f := range []string{"valid/ok.wasm", "valid/cancel.wasm", "hostile/trap.wasm"} {
		loaded, failed, err := reg.LoadDir(ctx, engine, modules+f)
		require.NoError(t, err)
		require.Empty(t, failed)
		require.Len(t, loaded, 1)
	}
	preg := prometheus.NewRegistry()
	var inner store.Store = store.NewMemory(store.Options{})
	var rstore *store.Redis
	if rs != nil {
		rstore, err = store.OpenRedis(ctx, rs.URL(), store.RedisOptions{
			Linger: testLinger, ProbeTimeout: 500 * time.Millisecond, Logger: quiet, Metrics: metrics.NewRedis(preg),
		})
		require.NoError(t, err)
		inner = rstore
	}
	st := &recordingStore{Store: inner}
	cfg := server.Config{
		Store: st, Registry: reg, Engine: engine, Logger: quiet,
		Metrics: metrics.New(preg), ServerMetrics: metrics.NewServer(preg), Gatherer: preg,
		Secret: []byte("test secret"), OperatorToken: "operator",
		Workers: 4, QueueSize: 16, MaxBodyBytes: 4096, Heartbeat: 50 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := server.New(cfg)
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	e := &env{t: t, url: hs.URL, srv: srv, store: st, redis: rs, rstore: rstore}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		assert.NoError(t, srv.Shutdown(sctx))
		hs.Close()
		e.validateAll()
		_ = st.Close()
		_ = engine.Close(ctx)
	})
	return e
}

// validateAll checks every event published against schemas/event.schema.json
// and that each job's seqs are 1..N.
func (e *env) validateAll() {
	t := e.t
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.Event()))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource("event.schema.json", doc))
	sch, err := c.Compile("event.schema.json")
	require.NoError(t, err)
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	next := map[string]int64{}
	for _, ev := range e.store.events {
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		require.NoError(t, err)
		assert.NoError(t, sch.Validate(inst), "%s", b)
		if e.shared { // other nodes publish some of the job's events
			assert.Greater(t, ev.Seq, next[ev.JobID], "seq of job %s", ev.JobID)
			next[ev.JobID] = ev.Seq
			continue
		}
		next[ev.JobID]++
		assert.Equal(t, next[ev.JobID], ev.Seq, "seq of job %s", ev.JobID)
	}
}

type submitted struct {
	ID, Token, Status string
}

func (e *env) do(method, path, token string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	req, err := http.NewRequest(method, e.url+path, body)
	require.NoError(e.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp, b
}

func (e *env) submit(pipeline ...string) submitted {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"pipeline": pipeline, "input": map[string]any{"a": 1}})
	resp, b := e.do("POST", "/v1/jobs", "", bytes.NewReader(body))
	require.Equal(e.t, http.StatusAccepted, resp.StatusCode, "%s", b)
	var s submitted
	require.NoError(e.t, json.Unmarshal(b, &s))
	require.NotEmpty(e.t, s.ID)
	require.NotEmpty(e.t, s.Token)
	require.Equal(e.t, "queued", s.Status)
	return s
}

// eventually is require.Eventually with the condition run on the test's own
// goroutine: testify runs it on another, where a require inside it (e.state
// and e.do have them) cannot stop the test, which then waits out the
// timeout and reports only that the condition was never satisfied.
func eventually(t testing.TB, cond func() bool, waitFor, tick time.Duration, msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			require.Fail(t, "condition never satisfied", msgAndArgs...)
		}
		time.Sleep(tick)
	}
}

func (e *env) state(s submitted) store.Job {
	resp, b := e.do("GET", "/v1/jobs/"+s.ID, s.Token, nil)
	require.Equal(e.t, http.StatusOK, resp.StatusCode, "%s", b)
	var j store.Job
	require.NoError(e.t, json.Unmarshal(b, &j))
	return j
}

func (e *env) waitStatus(s submitted, want ...string) store.Job {
	e.t.Helper()
	var j store.Job
	eventually(e.t, func() bool {
		j = e.state(s)
		for _, w := range want {
			if j.Status == w {
				return true
			}
		}
		return false
	}, 20*time.Second, 10*time.Millisecond, "job %s never reached %v", s.ID, want)
	return j
}

type sseEvent struct {
	id, typ string
	ev      event.Event
}

// openSSE opens the event stream; read reads events until stop says so or the stream ends.
func (e *env) openSSE(s submitted, query string, hdr ...string) *http.Response {
	req, err := http.NewRequest("GET", e.url+"/v1/jobs/"+s.ID+"/events?token="+s.Token+query, nil)
	require.NoError(e.t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
	require.Equal(e.t, "text/event-stream", resp.Header.Get("Content-Type"))
	return resp
}

func readSSE(t *testing.T, r io.Reader, stop func(sseEvent) bool) (evs []sseEvent, heartbeats int) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur sseEvent
	var data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ":"):
			heartbeats++
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		case line == "" && data != "":
			require.NoError(t, json.Unmarshal([]byte(data), &cur.ev))
			evs = append(evs, cur)
			if stop != nil && stop(cur) {
				return evs, heartbeats
			}
			cur, data = sseEvent{}, ""
		}
	}
	return evs, heartbeats
}

func TestSubmitSucceedsWithResultAndSSE(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newEnvOn(t, engine, nil)
		s := e.submit("ok", "ok@1.0.0")
		j := e.waitStatus(s, "succeeded")
		assert.JSONEq(t, `{"ok":true,"input_len":25}`, string(j.Result)) // the second stage reads the first's output, {"ok":true,"input_len":7}
		assert.Equal(t, []string{"ok", "ok@1.0.0"}, j.Pipeline)
		require.Len(t, j.Stages, 2)
		for _, st := range j.Stages {
			assert.Equal(t, "ok", st.Plugin)
			assert.Equal(t, "1.0.0", st.Version)
			assert.Equal(t, "succeeded", st.Status)
		}
		assert.Equal(t, 100.0, j.JobPercent)

		resp := e.openSSE(s, "")
		defer resp.Body.Close()
		evs, _ := readSSE(t, resp.Body, nil) // the stream ends by itself after the terminal event
		require.Len(t, evs, int(j.Seq))
		for i, se := range evs {
			assert.Equal(t, strconv.Itoa(i+1), se.id)
			assert.Equal(t, int64(i+1), se.ev.Seq)
			assert.Equal(t, se.ev.Type, se.typ)
		}
		last := evs[len(evs)-1].ev
		assert.Equal(t, event.TypeJob, last.Type)
		assert.Equal(t, event.StatusSucceeded, last.Status)
		assert.JSONEq(t, string(j.Result), string(last.Result))
		assert.Equal(t, event.StatusQueued, evs[0].ev.Status)
	})
}

func TestSSEResume(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newEnvOn(t, engine, nil)
		s := e.submit("ok")
		j := e.waitStatus(s, "succeeded")
		require.Greater(t, j.Seq, int64(5))
		for _, tc := range []struct {
			name  string
			query string
			hdr   []string
		}{
			{"Last-Event-ID", "", []string{"Last-Event-ID", "4"}},
			{"since", "&since=4", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp := e.openSSE(s, tc.query, tc.hdr...)
				defer resp.Body.Close()
				evs, _ := readSSE(t, resp.Body, nil)
				require.Len(t, evs, int(j.Seq)-4)
				for i, se := range evs {
					assert.Equal(t, int64(i+5), se.ev.Seq)
				}
			})
		}
	})
}

// A stream opened on a running job, read partly, then resumed from the last
// id it saw: together exactly 1..N.
func TestSSELiveThenResumeMidStream(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newEnvOn(t, engine, nil)
		s := e.submit("cancel")
		resp := e.openSSE(s, "")
		first, _ := readSSE(t, resp.Body, func(se sseEvent) bool { return se.ev.Phase == "PROGRESS" && *se.ev.Done >= 2 })
		resp.Body.Close()
		lastID := first[len(first)-1].id

		resp, b := e.do("DELETE", "/v1/jobs/"+s.ID, s.Token, nil)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", b)
		j := e.waitStatus(s, "cancelled")

		resp2 := e.openSSE(s, "", "Last-Event-ID", lastID)
		defer resp2.Body.Close()
		rest, _ := readSSE(t, resp2.Body, nil)
		all := append(first, rest...)
		require.Len(t, all, int(j.Seq))
		for i, se := range all {
			require.Equal(t, int64(i+1), se.ev.Seq)
		}
		fin := all[len(all)-1].ev
		assert.Equal(t, event.StatusCancelled, fin.Status)
		assert.Contains(t, fin.Error, "cancelled")
	})
}

func TestSSEHeartbeatAndLive(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newEnvOn(t, engine, nil)
		s := e.submit("cancel")
		resp := e.openSSE(s, "")
		defer resp.Body.Close()
		go func() {
			time.Sleep(300 * time.Millisecond) // several heartbeats at 50ms
			e.do("DELETE", "/v1/jobs/"+s.ID, s.Token, nil)
		}()
		evs, beats := readSSE(t, resp.Body, nil)
		assert.Positive(t, beats)
		require.NotEmpty(t, evs)
		for i, se := range evs {
			require.Equal(t, int64(i+1), se.ev.Seq)
		}
		assert.Equal(t, event.StatusCancelled, evs[len(evs)-1].ev.Status)
	})
}

func TestCancelRunningJob(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newEnvOn(t, engine, nil)
		s := e.submit("cancel")
		eventually(t, func() bool {
			j := e.state(s)
			return j.Stages[0].SourcePhase == "CANCEL_SPIN_PROGRESS"
		}, 10*time.Second, 5*time.Millisecond)
		start := time.Now()
		resp, b := e.do("DELETE", "/v1/jobs/"+s.ID, s.Token, nil)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", b)
		j := e.waitStatus(s, "cancelled", "failed", "succeeded")
		assert.Equal(t, "cancelled", j.Status)
		assert.Less(t, time.Since(start), 2*time.Second)
		assert.Equal(t, "cancelled", j.Stages[0].Status)
		assert.Contains(t, j.Error, "cancelled")

		resp, b = e.do("DELETE", "/v1/jobs/"+s.ID, s.Token, nil)
		assert.Equal(t, http.StatusConflict, resp.StatusCode)
		assertError(t, b, "job_finished")
	})
}

func TestCancelQueuedJobAndQueueFull(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newEnvOn(t, engine, func(c *server.Config) { c.Workers, c.QueueSize = 1, 1 })
		busy := e.submit("cancel")
		e.waitStatus(busy, "running")
		queued := e.submit("ok")
		body := `{"pipeline":["ok"]}`
		resp, b := e.do("POST", "/v1/jobs", "", strings.NewReader(body))
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assertError(t, b, "queue_full")

		resp, b = e.do("DELETE", "/v1/jobs/"+queued.ID, queued.Token, nil)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", b)
		assert.Contains(t, string(b), `"status":"cancelled"`)
		j := e.state(queued)
		assert.Equal(t, "cancelled", j.Status)
		assert.Equal(t, int64(2), j.Seq) // queued, cancelled: it never ran

		e.do("DELETE", "/v1/jobs/"+busy.ID, busy.Token, nil)
		e.waitStatus(busy, "cancelled")
		// The queue has room again.
		e.waitStatus(e.submit("ok"), "succeeded")
	})
}

func TestTrapFailsOnlyItsJob(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newEnvOn(t, engine, nil)
		var oks []submitted
		for range 3 {
			oks = append(oks, e.submit("ok"))
		}
		bad := e.submit("ok", "trap")
		for range 3 {
			oks = append(oks, e.submit("ok"))
		}
		j := e.waitStatus(bad, "failed", "succeeded", "cancelled")
		assert.Equal(t, "failed", j.Status)
		assert.Contains(t, j.Error, "trap")
		assert.Equal(t, "succeeded", j.Stages[0].Status)
		assert.Equal(t, "failed", j.Stages[1].Status)
		assert.NotEmpty(t, j.Stages[1].Error)
		assert.Empty(t, j.Result)
		for _, s := range oks {
			assert.Equal(t, "succeeded", e.waitStatus(s, "succeeded", "failed").Status)
		}
	})
}

func assertError(t *testing.T, body []byte, code string) string {
	t.Helper()
	var eb struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal(body, &eb), "%s", body)
	assert.Equal(t, code, eb.Error.Code, "%s", body)
	assert.NotEmpty(t, eb.Error.Message)
	return eb.Error.Message
}

func TestSubmitErrors(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newEnvOn(t, engine, nil)
		for _, tc := range []struct {
			name, body string
			status     int
			code, msg  string
		}{
			{"not json", `{"pipeline":`, 400, "bad_request", "body is not a valid job"},
			{"wrong type", `{"pipeline":"ok"}`, 400, "bad_request", "body is not a valid job"},
			{"unknown field", `{"pipeline":["ok"],"stages":1}`, 400, "bad_request", `unknown field "stages"`},
			{"trailing data", `{"pipeline":["ok"]} {}`, 400, "bad_request", "after the JSON body"},
			{"empty pipeline", `{"pipeline":[]}`, 400, "bad_request", "pipeline: name at least one plugin"},
			{"unknown plugin", `{"pipeline":["ok","nope"]}`, 422, "unknown_plugin", `pipeline[1] "nope"`},
			{"unknown version", `{"pipeline":["ok@9.9.9"]}`, 422, "unknown_plugin", `pipeline[0] "ok@9.9.9"`},
			{"bad range", `{"pipeline":["ok@~~x"]}`, 422, "unknown_plugin", `pipeline[0] "ok@~~x"`},
			{"too large", `{"pipeline":["ok"],"input":"` + strings.Repeat("x", 5000) + `"}`, 413, "body_too_large", "4096"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, b := e.do("POST", "/v1/jobs", "", strings.NewReader(tc.body))
				assert.Equal(t, tc.status, resp.StatusCode, "%s", b)
				assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
				assert.Contains(t, assertError(t, b, tc.code), tc.msg)
			})
		}
		jobs, err := e.store.List(context.Background(), 0)
		require.NoError(t, err)
		assert.Empty(t, jobs, "a refused submission stores nothing")
	})
}

func TestTokens(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newEnvOn(t, engine, nil)
		s := e.submit("ok")
		other := e.submit("ok")
		e.waitStatus(s, "succeeded")
		for _, path := range []string{"/v1/jobs/" + s.ID, "/v1/jobs/" + s.ID + "/events"} {
			for _, tc := range []struct {
				name, token, query string
				status             int
				code               string
			}{
				{"missing", "", "", 401, "unauthorized"},
				{"wrong", "AAAA", "", 403, "forbidden"},
				{"other job's", other.Token, "", 403, "forbidden"},
				{"wrong in query", "", "?token=nope", 403, "forbidden"},
				{"right in query", "", "?token=" + s.Token, 200, ""},
				{"right", s.Token, "", 200, ""},
				{"operator", "operator", "", 200, ""},
			} {
				t.Run(path+" "+tc.name, func(t *testing.T) {
					resp, b := e.do("GET", path+tc.query, tc.token, nil)
					assert.Equal(t, tc.status, resp.StatusCode, "%s", b)
					if tc.code != "" {
						assertError(t, b, tc.code)
					}
				})
			}
		}
		assert.Equal(t, e.srv.Token(s.ID), s.Token)
		resp, b := e.do("DELETE", "/v1/jobs/"+s.ID, other.Token, nil)
		assert.Equal(t, 403, resp.StatusCode)
		assertError(t, b, "forbidden")

		resp, b = e.do("GET", "/v1/jobs", "", nil)
		assert.Equal(t, 401, resp.StatusCode)
		assertError(t, b, "unauthorized")
		resp, b = e.do("GET", "/v1/jobs", s.Token, nil)
		assert.Equal(t, 403, resp.StatusCode)
		assertError(t, b, "forbidden")
		resp, b = e.do("GET", "/v1/jobs?limit=1", "operator", nil)
		require.Equal(t, 200, resp.StatusCode, "%s", b)
		var list struct{ Jobs []store.Job }
		require.NoError(t, json.Unmarshal(b, &list))
		assert.Len(t, list.Jobs, 1)

		resp, b = e.do("GET", "/v1/jobs/nope", "operator", nil)
		assert.Equal(t, 404, resp.StatusCode)
		assertError(t, b, "job_not_found")
	})
}

func TestPluginsHealthMetrics(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newEnvOn(t, engine, nil)
		resp, b := e.do("GET", "/v1/plugins", "", nil)
		require.Equal(t, 200, resp.StatusCode)
		var pl struct {
			Plugins []struct {
				Name, Version, Stage, SHA256 string
				Phases                       []map[string]any
				Limits                       map[string]int64
			}
		}
		require.NoError(t, json.Unmarshal(b, &pl))
		var names []string
		for _, p := range pl.Plugins {
			names = append(names, p.Name+"@"+p.Version)
			assert.Len(t, p.SHA256, 64)
			assert.NotEmpty(t, p.Phases)
			assert.Positive(t, p.Limits["timeout_ms"])
		}
		assert.Equal(t, []string{"cancel@1.0.0", "ok@1.0.0", "trap@1.0.0"}, names)

		for _, p := range []string{"/healthz", "/readyz"} {
			resp, _ := e.do("GET", p, "", nil)
			assert.Equal(t, 200, resp.StatusCode, p)
		}
		e.waitStatus(e.submit("ok"), "succeeded")
		resp, b = e.do("GET", "/metrics", "", nil)
		require.Equal(t, 200, resp.StatusCode)
		assert.Contains(t, string(b), `phasehost_jobs_finished_total{status="succeeded"} 1`)
		assert.Contains(t, string(b), `phasehost_events_published_total{type="phase"} 6`)

		resp, b = e.do("GET", "/v1/nope", "", nil)
		assert.Equal(t, 404, resp.StatusCode)
		assertError(t, b, "not_found")
	})
}

func TestShutdownCancelsRunningAndRefusesNew(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		e := newEnvOn(t, engine, nil)
		s := e.submit("cancel")
		e.waitStatus(s, "running")
		resp := e.openSSE(s, "")
		defer resp.Body.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := e.srv.Shutdown(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		j := e.state(s)
		assert.Equal(t, "cancelled", j.Status)
		_, _ = readSSE(t, resp.Body, nil) // the stream ends
		r, b := e.do("POST", "/v1/jobs", "", strings.NewReader(`{"pipeline":["ok"]}`))
		assert.Equal(t, http.StatusServiceUnavailable, r.StatusCode)
		assertError(t, b, "shutting_down")
		r, _ = e.do("GET", "/readyz", "", nil)
		assert.Equal(t, http.StatusServiceUnavailable, r.StatusCode)
	})
}
