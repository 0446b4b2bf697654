package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/host/registry"
	"github.com/phasehost/phasehost/host/server"
	"github.com/phasehost/phasehost/host/store"
)

// remoteEnv is an in-process phasehost with the ok and cancel test modules.
type remoteEnv struct {
	url string
	srv *server.Server
}

func newRemoteEnv(t *testing.T) *remoteEnv {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	engine, err := plugin.NewEngine(plugin.Options{Policy: plugin.Policy{CancelGrace: 2 * time.Second}, Logger: quiet})
	require.NoError(t, err)
	reg := registry.New()
	for _, f := range []string{"valid/ok.wasm", "valid/cancel.wasm"} {
		loaded, failed, err := reg.LoadDir(ctx, engine, filepath.Join(modules, f))
		require.NoError(t, err)
		require.Empty(t, failed)
		require.Len(t, loaded, 1)
	}
	st := store.NewMemory(store.Options{})
	srv, err := server.New(server.Config{
		Store: st, Registry: reg, Engine: engine, Logger: quiet,
		Secret: []byte("test secret"), OperatorToken: "operator", Workers: 2, QueueSize: 8,
	})
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		assert.NoError(t, srv.Shutdown(sctx))
		hs.Close()
		_ = st.Close()
		_ = engine.Close(ctx)
	})
	return &remoteEnv{url: hs.URL, srv: srv}
}

// syncBuffer is a stdout that a running command writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines counts complete lines.
func (s *syncBuffer) lines() int { return strings.Count(s.String(), "\n") }

// seqsOf parses JSON lines of events and returns their seqs and the last.
func seqsOf(t *testing.T, out string) ([]int64, map[string]any) {
	t.Helper()
	var seqs []int64
	var last map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &ev), l)
		seqs = append(seqs, int64(ev["seq"].(float64)))
		last = ev
	}
	return seqs, last
}

func assertSeqs(t *testing.T, seqs []int64, from int64) {
	t.Helper()
	require.NotEmpty(t, seqs)
	for i, s := range seqs {
		require.Equal(t, from+int64(i), s, "seqs %v: no gap, no duplicate", seqs)
	}
}

func inputFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "in.json")
	require.NoError(t, os.WriteFile(p, []byte(`{"a":1}`), 0o644))
	return p
}

func TestSubmitWatchSucceeds(t *testing.T) {
	e := newRemoteEnv(t)
	r := phasectl(t, "submit", "--server", e.url, "--pipeline", "ok", "--input", inputFile(t), "--watch")
	require.Equal(t, ExitOK, r.code, r.stderr)
	seqs, last := seqsOf(t, r.stdout)
	assertSeqs(t, seqs, 1)
	assert.Equal(t, "job", last["type"])
	assert.Equal(t, "succeeded", last["status"])
	assert.Contains(t, r.stderr, `"token"`, "the submit answer is on stderr with --watch")

	// Without --watch: the answer on stdout; then watch it, and from --since.
	r = phasectl(t, "submit", "--server", e.url, "--pipeline", "ok", "--input", inputFile(t))
	require.Equal(t, ExitOK, r.code, r.stderr)
	var a submitAnswer
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &a), r.stdout)
	assert.Equal(t, "queued", a.Status)
	require.NotEmpty(t, a.ID)
	require.NotEmpty(t, a.Token)
	r = phasectl(t, "watch", "--server", e.url, "--token", a.Token, a.ID)
	require.Equal(t, ExitOK, r.code, r.stderr)
	all, _ := seqsOf(t, r.stdout)
	assertSeqs(t, all, 1)
	r = phasectl(t, "watch", "--server", e.url, "--token", a.Token, "--since", "3", a.ID)
	require.Equal(t, ExitOK, r.code, r.stderr)
	rest, last := seqsOf(t, r.stdout)
	assertSeqs(t, rest, 4)
	assert.Equal(t, all[len(all)-1], rest[len(rest)-1])
	assert.Equal(t, "succeeded", last["status"])

	// Nothing after --since: the outcome only.
	r = phasectl(t, "watch", "--server", e.url, "--token", a.Token, "--since", "1000", a.ID)
	assert.Equal(t, ExitOK, r.code, r.stderr)
	assert.Empty(t, r.stdout)
}

// dropProxy forwards TCP to a server and can cut every connection.
type dropProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newDropProxy(t *testing.T, target string) *dropProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &dropProxy{ln: ln}
	addr := strings.TrimPrefix(target, "http://")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.dropAll() })
	return p
}

func (p *dropProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *dropProxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// A watch whose connection drops mid-job (twice) resumes with since: no gap,
// no duplicate; cancel then makes it exit 1 with the job cancelled.
func TestWatchResumesAfterDropAndCancelExits1(t *testing.T) {
	e := newRemoteEnv(t)
	proxy := newDropProxy(t, e.url)
	r := phasectl(t, "submit", "--server", e.url, "--pipeline", "cancel", "--input", inputFile(t))
	require.Equal(t, ExitOK, r.code, r.stderr)
	var a submitAnswer
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &a))

	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(context.Background(), []string{"watch", "--server", proxy.url(), "--token", a.Token, a.ID},
			Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	}()
	waitLines := func(n int) {
		t.Helper()
		require.Eventually(t, func() bool { return out.lines() >= n }, 20*time.Second, 5*time.Millisecond,
			"%d lines of %d: %s", out.lines(), n, errb.String())
	}
	waitLines(5)
	for range 2 {
		proxy.dropAll()
		waitLines(out.lines() + 5)
	}

	r = phasectl(t, "cancel", "--server", e.url, "--token", a.Token, a.ID)
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"cancel_requested":true`)
	select {
	case code := <-done:
		assert.Equal(t, ExitFailed, code, errb.String())
	case <-time.After(20 * time.Second):
		t.Fatal("watch did not end after cancel")
	}
	assert.Contains(t, errb.String(), "cancelled")
	seqs, last := seqsOf(t, out.String())
	assertSeqs(t, seqs, 1)
	assert.Equal(t, "job", last["type"])
	assert.Equal(t, "cancelled", last["status"])

	// Cancelling a finished job: 409, exit 1 with the server's message.
	r = phasectl(t, "cancel", "--server", e.url, "--token", a.Token, a.ID)
	assert.Equal(t, ExitFailed, r.code)
	assert.Contains(t, r.stderr, "job_finished")
}

func TestRemoteRefusalsExit2WithServerMessage(t *testing.T) {
	e := newRemoteEnv(t)
	r := phasectl(t, "submit", "--server", e.url, "--pipeline", "ok", "--input", inputFile(t))
	require.Equal(t, ExitOK, r.code, r.stderr)
	var a submitAnswer
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &a))

	r = phasectl(t, "watch", "--server", e.url, "--token", "not-the-token", a.ID)
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "token not valid for this resource")
	assert.Contains(t, r.stderr, "forbidden")
	assert.Empty(t, r.stdout)

	r = phasectl(t, "cancel", "--server", e.url, "--token", "not-the-token", a.ID)
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "forbidden")

	r = phasectl(t, "submit", "--server", e.url, "--pipeline", "nope", "--input", inputFile(t))
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "unknown_plugin")
	assert.Contains(t, r.stderr, `"nope"`)

	r = phasectl(t, "watch", "--server", e.url, a.ID)
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "--token")

	r = phasectl(t, "plugins")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "PHASECTL_SERVER")
}

func TestPluginsListsOkAndCancel(t *testing.T) {
	e := newRemoteEnv(t)
	var out, errb bytes.Buffer
	// --server from PHASECTL_SERVER.
	code := Main(context.Background(), []string{"plugins"}, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			if k == "PHASECTL_SERVER" {
				return e.url
			}
			return ""
		}})
	require.Equal(t, ExitOK, code, errb.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	assert.Equal(t, []string{"NAME", "VERSION", "STAGE", "ACTIVE", "PHASES"}, strings.Fields(lines[0]))
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	require.Contains(t, rows, "ok")
	require.Contains(t, rows, "cancel")
	assert.Equal(t, "active", rows["ok"][3])
	assert.Equal(t, "3", rows["ok"][4], "ok declares 3 phases")

	r := phasectl(t, "plugins", "--server", e.url, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var doc struct {
		Plugins []struct{ Name string }
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc))
	var names []string
	for _, p := range doc.Plugins {
		names = append(names, p.Name)
	}
	assert.ElementsMatch(t, []string{"ok", "cancel"}, names)
}

// A server that closes with 4008 or drops the connection, and replays an
// event already sent: watchEvents resumes with since, 4008 at once, and
// hands each seq over once.
func TestWatchEventsResumesAfter4008AndDrop(t *testing.T) {
	var mu sync.Mutex
	var sinces []string
	conns := 0
	up := websocket.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sinces = append(sinces, r.URL.Query().Get("since"))
		n := conns
		conns++
		mu.Unlock()
		assert.Equal(t, "Bearer tok", r.Header.Get("Authorization"))
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
		send := func(seq int64, typ, status string) {
			b, _ := json.Marshal(event.Event{JobID: "j", Seq: seq, Type: typ, Status: status})
			_ = c.WriteMessage(websocket.TextMessage, b)
		}
		send(max(since, 1), event.TypePhase, "") // a duplicate, except on the first connection
		for s := since + 1; s <= since+3; s++ {
			send(s, event.TypePhase, "")
		}
		switch n {
		case 0:
			_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(closeSlowConsumer, "slow consumer"))
		case 1: // dropped: no close frame
		default:
			send(since+4, event.TypeJob, event.StatusSucceeded)
			_, _, _ = c.ReadMessage()
		}
	}))
	defer hs.Close()
	c, err := newClient(hs.URL)
	require.NoError(t, err)
	var seqs []int64
	final, err := c.watchEvents(context.Background(), "j", "tok", 0, watchOptions{MinBackoff: time.Millisecond},
		func(ev event.Event) error { seqs = append(seqs, ev.Seq); return nil })
	require.NoError(t, err)
	assert.Equal(t, event.StatusSucceeded, final.Status)
	assertSeqs(t, seqs, 1)
	assert.Equal(t, int64(10), final.Seq)
	assert.Equal(t, []string{"0", "3", "6"}, sinces)
}

// On a terminal: one bar per stage on stderr, the result on stdout.
func TestSubmitWatchBarsOnTerminal(t *testing.T) {
	e := newRemoteEnv(t)
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"submit", "--server", e.url, "--pipeline", "ok,ok", "--input", inputFile(t), "-w"},
		Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, StderrIsTerminal: true})
	require.Equal(t, ExitOK, code, errb.String())
	assert.JSONEq(t, `{"ok":true,"input_len":25}`, strings.TrimSpace(out.String()), "the second ok reads the first one's output")
	assert.Equal(t, 2, strings.Count(errb.String(), "ok@1.0.0"), errb.String())
	assert.Contains(t, errb.String(), "100 %")
}
