package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/store"
	"github.com/phasehost/phasehost/host/wasmbin"
	"github.com/phasehost/phasehost/internal/redistest"
	"github.com/phasehost/phasehost/sdk/go/abi"
)

// TestTwoNodes runs two phasehost processes on one Redis, as an operator
// would: a plugin version uploaded to one is served by both, a job started
// before the upload finishes on the old version and one started after runs
// the new one, and a node killed (SIGKILL) mid-job leaves its job to the
// other, where it ends once.
func TestTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	rs := redistest.Start(t)
	bin := buildServer(t)
	plugins := t.TempDir()
	slow, err := os.ReadFile("../../testdata/modules/valid/slow.wasm")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(plugins, "slow.wasm"), slow, 0o644))

	a := startNode(t, bin, rs, "node-a", plugins)
	b := startNode(t, bin, rs, "node-b", plugins)

	// A long job on v1, then v2 uploaded to A.
	before := a.submitSlow(2500)
	a.waitRunning(before)
	v2 := withVersion(t, slow, "2.0.0")
	uploaded := time.Now()
	resp, body := a.do("POST", "/v1/plugins", "operator", bytes.NewReader(v2))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	require.Eventually(t, func() bool { return b.serves("slow", "2.0.0") }, 10*time.Second, 5*time.Millisecond)
	t.Logf("v2 served by the other node %s after the upload", time.Since(uploaded).Round(time.Millisecond))

	after := b.submitSlow(200)
	// Watched on B while it runs on either node: every event, in order, live.
	watched := b.watchSSE(before)
	for _, c := range []struct {
		job     submitted
		version string
	}{{before, "1.0.0"}, {after, "2.0.0"}} {
		j := b.wait(c.job)
		require.Equal(t, "succeeded", j.Status, "%s", j.Error)
		assert.Equal(t, c.version, j.Stages[0].Version)
		for _, ev := range history(t, rs, c.job.ID) {
			if ev.Plugin != "" {
				require.Equal(t, c.version, ev.Version, "event %d of the job", ev.Seq)
			}
		}
	}

	evs := <-watched
	hist := history(t, rs, before.ID)
	require.Len(t, evs, len(hist), "SSE on B delivers the whole job")
	for i, ev := range evs {
		require.Equal(t, int64(i+1), ev.Seq)
	}
	assert.Equal(t, event.StatusSucceeded, evs[len(evs)-1].Status)

	// Kill the node running a job; the other takes it over after the lease.
	job := a.submitSlow(4000)
	a.waitRunning(job)
	var victim, survivor *node
	require.Eventually(t, func() bool {
		running := a.runningJobs()
		switch {
		case running["node-a"] == 1 && running["node-b"] == 0:
			victim, survivor = a, b
		case running["node-b"] == 1 && running["node-a"] == 0:
			victim, survivor = b, a
		default:
			return false
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "one node runs the job")
	t.Logf("killing %s mid-job", victim.id)
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	_ = victim.cmd.Wait()

	j := survivor.wait(job)
	require.Equal(t, "succeeded", j.Status, "%s", j.Error)
	hist = history(t, rs, job.ID)
	ends, starts := 0, []string{}
	for i, ev := range hist {
		require.Equal(t, int64(i+1), ev.Seq, "seqs 1..N")
		if ev.Type == event.TypeJob && event.Terminal(ev.Status) {
			ends++
		}
		if ev.Type == event.TypeJob && ev.Status == event.StatusRunning {
			starts = append(starts, ev.Message)
		}
	}
	assert.Equal(t, 1, ends, "the job ends once")
	require.Len(t, starts, 2, "run on the killed node, then on the other")
	assert.Contains(t, starts[1], "attempt 2, on node "+survivor.id)
	assert.Zero(t, rawRedis(t, rs).XLen(context.Background(), "phasehost:queue").Val(), "the entry is acknowledged")
}

// buildServer builds this package's binary.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "phasehost")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

type node struct {
	t   *testing.T
	id  string
	url string
	cmd *exec.Cmd
}

type submitted struct{ ID, Token string }

// startNode starts a phasehost process on rs and waits until it is ready.
func startNode(t *testing.T, bin string, rs *redistest.Server, id, plugins string) *node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	logf, err := os.Create(filepath.Join(t.TempDir(), id+".log"))
	require.NoError(t, err)
	cmd := exec.Command(bin, "--addr", addr, "--redis", rs.URL(), "--node-id", id, "--plugins", plugins,
		"--watch=false", "--secret", "shared secret", "--operator-token", "operator",
		"--job-lease", "2s", "--shutdown-timeout", "5s", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "PHASEHOST_CACHE_DIR=") // nothing from the environment
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	n := &node{t: t, id: id, url: "http://" + addr, cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("log of %s:\n%s", id, b)
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get(n.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "%s ready", id)
	return n
}

func (n *node) do(method, path, token string, body io.Reader) (*http.Response, []byte) {
	n.t.Helper()
	req, err := http.NewRequest(method, n.url+path, body)
	require.NoError(n.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(n.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(n.t, err)
	return resp, b
}

// submitSlow submits a job of the slow test module of about rounds rounds
// of spinning (each about a millisecond).
func (n *node) submitSlow(rounds int) submitted {
	n.t.Helper()
	body, _ := json.Marshal(map[string]any{"pipeline": []string{"slow"},
		"input": map[string]string{"pad": strings.Repeat("x", rounds)}})
	resp, b := n.do("POST", "/v1/jobs", "", bytes.NewReader(body))
	require.Equal(n.t, http.StatusAccepted, resp.StatusCode, "%s", b)
	var s submitted
	require.NoError(n.t, json.Unmarshal(b, &s))
	return s
}

func (n *node) state(s submitted) store.Job {
	n.t.Helper()
	resp, b := n.do("GET", "/v1/jobs/"+s.ID, s.Token, nil)
	require.Equal(n.t, http.StatusOK, resp.StatusCode, "%s", b)
	var j store.Job
	require.NoError(n.t, json.Unmarshal(b, &j))
	return j
}

func (n *node) waitRunning(s submitted) {
	n.t.Helper()
	require.Eventually(n.t, func() bool { return n.state(s).Stages[0].Percent > 0 }, 20*time.Second, 10*time.Millisecond)
}

func (n *node) wait(s submitted) store.Job {
	n.t.Helper()
	var j store.Job
	require.Eventually(n.t, func() bool {
		j = n.state(s)
		return event.Terminal(j.Status)
	}, 60*time.Second, 20*time.Millisecond, "job %s ends", s.ID)
	return j
}

func (n *node) serves(name, version string) bool {
	resp, b := n.do("GET", "/v1/plugins", "", nil)
	if resp.StatusCode != http.StatusOK {
		return false
	}
	var out struct {
		Plugins []struct{ Name, Version string }
	}
	require.NoError(n.t, json.Unmarshal(b, &out))
	for _, p := range out.Plugins {
		if p.Name == name && p.Version == version {
			return true
		}
	}
	return false
}

// watchSSE reads the job's SSE stream from this node until its final event;
// the events arrive on the channel.
func (n *node) watchSSE(s submitted) <-chan []event.Event {
	req, err := http.NewRequest("GET", n.url+"/v1/jobs/"+s.ID+"/events", nil)
	require.NoError(n.t, err)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(n.t, err)
	require.Equal(n.t, http.StatusOK, resp.StatusCode)
	out := make(chan []event.Event, 1)
	go func() {
		defer resp.Body.Close()
		var evs []event.Event
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev event.Event
			if json.Unmarshal([]byte(data), &ev) != nil {
				continue
			}
			evs = append(evs, ev)
			if ev.Type == event.TypeJob && event.Terminal(ev.Status) {
				break
			}
		}
		out <- evs
	}()
	return out
}

// runningJobs is GET /v1/nodes' running_jobs by node.
func (n *node) runningJobs() map[string]int {
	resp, b := n.do("GET", "/v1/nodes", "", nil)
	require.Equal(n.t, http.StatusOK, resp.StatusCode, "%s", b)
	var out struct {
		Nodes []struct {
			ID          string
			RunningJobs int `json:"running_jobs"`
		}
	}
	require.NoError(n.t, json.Unmarshal(b, &out))
	m := map[string]int{}
	for _, x := range out.Nodes {
		m[x.ID] = x.RunningJobs
	}
	return m
}

// withVersion is module wasm with its manifest's version changed.
func withVersion(t *testing.T, wasm []byte, version string) []byte {
	t.Helper()
	secs, err := wasmbin.CustomSections(wasm, abi.ManifestSection)
	require.NoError(t, err)
	m, err := manifest.ParseJSON(secs[0])
	require.NoError(t, err)
	m.Version = version
	out, err := wasmbin.SetCustomSection(wasm, abi.ManifestSection, m.JSON())
	require.NoError(t, err)
	return out
}

func rawRedis(t *testing.T, rs *redistest.Server) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// history reads the job's events from its Redis stream.
func history(t *testing.T, rs *redistest.Server, id string) []event.Event {
	t.Helper()
	msgs, err := rawRedis(t, rs).XRange(context.Background(), fmt.Sprintf("phasehost:events:{%s}", id), "-", "+").Result()
	require.NoError(t, err)
	var out []event.Event
	for _, m := range msgs {
		var ev event.Event
		require.NoError(t, json.Unmarshal([]byte(m.Values["e"].(string)), &ev))
		out = append(out, ev)
	}
	return out
}
