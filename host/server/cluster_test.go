package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/cluster"
	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/server"
	"github.com/phasehost/phasehost/internal/redistest"
)

// Tests of the cluster (host/cluster, nodes.go): nodes of one private
// redis-server share uploaded plugins and list each other.

const (
	testBeat = 100 * time.Millisecond
	testTTL  = 600 * time.Millisecond
)

// clusterNode is a node of rs whose cluster has joined. stop ends its
// heartbeat and subscription as a crash would (its heartbeat stays until the
// TTL). logs, when not nil, records its log.
type clusterNode struct {
	*env
	cl   *cluster.Cluster
	stop context.CancelFunc
}

func newClusterNode(t *testing.T, rs *redistest.Server, logs *logRecorder) clusterNode {
	t.Helper()
	return newClusterNodeWith(t, rs, logs, nil)
}

// newClusterNodeWith is newClusterNode with its cluster's options edited by
// mod.
func newClusterNodeWith(t *testing.T, rs *redistest.Server, logs *logRecorder, mod func(*cluster.Options)) clusterNode {
	t.Helper()
	var cl *cluster.Cluster
	e := newNode(t, rs, func(c *server.Config) {
		log := quiet
		if logs != nil {
			log = slog.New(logs)
			c.Logger = log
		}
		var err error
		listener, ok := c.Store.(*recordingStore).Store.(cluster.Listener)
		require.True(t, ok, "the Redis store carries the control channel")
		opts := cluster.Options{
			Engine: c.Engine, Registry: c.Registry, Logger: log, Addr: "test", Version: "test",
			HeartbeatInterval: testBeat, HeartbeatTTL: testTTL, Listener: listener,
		}
		if mod != nil {
			mod(&opts)
		}
		cl, err = cluster.Open(context.Background(), rs.URL(), opts)
		require.NoError(t, err)
		c.Cluster = cl
	})
	e.shared = true
	ctx, stop := context.WithCancel(context.Background())
	require.NoError(t, cl.Start(ctx))
	t.Cleanup(func() {
		stop()
		assert.NoError(t, cl.Close())
	})
	return clusterNode{env: e, cl: cl, stop: stop}
}

func (e *env) has(name, version string) bool {
	_, ok := e.findPlugin(name, version)
	return ok
}

func (e *env) nodeIDs() []string {
	e.t.Helper()
	resp, b := e.do("GET", "/v1/nodes", "", nil)
	require.Equal(e.t, http.StatusOK, resp.StatusCode, "%s", b)
	var out struct{ Nodes []cluster.Node }
	require.NoError(e.t, json.Unmarshal(b, &out), "%s", b)
	ids := []string{}
	for _, n := range out.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestClusterPluginsFollowUploads: an upload on A is served by B within a
// second; a node started later loads it at start; a removal on A removes it
// from B.
func TestClusterPluginsFollowUploads(t *testing.T) {
	rs := redistest.Start(t)
	raw := rawRedis(t, rs)
	a := newClusterNode(t, rs, nil)
	b := newClusterNode(t, rs, nil)

	wasm := repack(t, "valid/ok.wasm", func(m *manifest.Manifest) { m.Version = "1.1.0" })
	resp, body := a.upload("operator", wasm)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	eventually(t, func() bool { return b.has("ok", "1.1.0") }, time.Second, 10*time.Millisecond, "B loads A's upload")
	s := b.submit("ok@1.1.0")
	j := b.waitStatus(s, "succeeded", "failed")
	require.Equal(t, "succeeded", j.Status, "%s", j.Error)
	assert.Equal(t, "1.1.0", j.Stages[0].Version)

	ctx := context.Background()
	sha := shaOf(wasm)
	assert.Equal(t, sha, raw.HGet(ctx, "phasehost:plugins", "ok@1.1.0").Val())
	stored, err := raw.Get(ctx, "phasehost:module:{"+sha+"}").Bytes()
	require.NoError(t, err)
	assert.Equal(t, wasm, stored)

	// A node started after the upload loads it at start.
	c := newClusterNode(t, rs, nil)
	assert.True(t, c.has("ok", "1.1.0"), "loaded at start")

	// Removal on A.
	resp, body = a.do("DELETE", "/v1/plugins/ok/1.1.0", "operator", nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
	eventually(t, func() bool { return !b.has("ok", "1.1.0") && !c.has("ok", "1.1.0") }, time.Second, 10*time.Millisecond)
	assert.False(t, raw.HExists(ctx, "phasehost:plugins", "ok@1.1.0").Val())
	resp, body = b.do("POST", "/v1/jobs", "", strings.NewReader(`{"pipeline":["ok@1.1.0"],"input":{}}`))
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "%s", body)
	assert.True(t, b.has("ok", "1.0.0"), "B's own plugins stay")

	// A replacement of the same name and version (new bytes) replaces it
	// everywhere; a node started later gets the latest.
	v2 := repack(t, "valid/ok.wasm", func(m *manifest.Manifest) { m.Version = "1.2.0" })
	v2b := repack(t, "valid/ok.wasm", func(m *manifest.Manifest) { m.Version = "1.2.0"; m.Description = "second" })
	for _, w := range [][]byte{v2, v2b} {
		resp, body = a.upload("operator", w)
		require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	}
	eventually(t, func() bool {
		p, ok := b.findPlugin("ok", "1.2.0")
		return ok && p.SHA256 == shaOf(v2b)
	}, time.Second, 10*time.Millisecond)
	d := newClusterNode(t, rs, nil)
	p, ok := d.findPlugin("ok", "1.2.0")
	require.True(t, ok)
	assert.Equal(t, shaOf(v2b), p.SHA256)
}

// TestClusterRefusesTamperedModule: a module whose bytes in Redis do not hash
// to its published sha256 is refused, with a logged error, whether announced
// or found at start.
func TestClusterRefusesTamperedModule(t *testing.T) {
	rs := redistest.Start(t)
	raw := rawRedis(t, rs)
	logs := &logRecorder{}
	a := newClusterNode(t, rs, logs)

	claimed := repack(t, "valid/ok.wasm", func(m *manifest.Manifest) { m.Version = "3.0.0" })
	other := repack(t, "valid/ok.wasm", func(m *manifest.Manifest) { m.Version = "3.0.0"; m.Description = "not what was published" })
	sha := shaOf(claimed)
	ctx := context.Background()
	require.NoError(t, raw.Set(ctx, "phasehost:module:{"+sha+"}", other, 0).Err())
	require.NoError(t, raw.HSet(ctx, "phasehost:plugins", "ok@3.0.0", sha).Err())
	msg, _ := json.Marshal(cluster.Announcement{Op: cluster.OpAdd, Name: "ok", Version: "3.0.0", SHA256: sha, Node: "elsewhere"})
	require.NoError(t, raw.Publish(ctx, "phasehost:control", msg).Err())

	eventually(t, func() bool { return logs.count("cluster: plugin not loaded") == 1 }, time.Second, 10*time.Millisecond)
	assert.False(t, a.has("ok", "3.0.0"))

	laterLogs := &logRecorder{}
	later := newClusterNode(t, rs, laterLogs)
	assert.Equal(t, 1, laterLogs.count("cluster: plugin not loaded"), "refused at start too")
	assert.False(t, later.has("ok", "3.0.0"))
}

// TestClusterNodes: GET /v1/nodes on either node lists both; a node that
// stops without leaving disappears after its heartbeat's TTL, one that
// closes at once.
func TestClusterNodes(t *testing.T) {
	rs := redistest.Start(t)
	a := newClusterNode(t, rs, nil)
	b := newClusterNode(t, rs, nil)
	both := []string{a.cl.ID(), b.cl.ID()}
	// Each node's store subscription and control channel share one pub/sub connection.
	assert.Equal(t, 2, pubsubConns(t, rawRedis(t, rs)), "one pub/sub connection per node")
	assert.ElementsMatch(t, both, a.nodeIDs())
	assert.ElementsMatch(t, both, b.nodeIDs())

	resp, body := a.do("GET", "/v1/nodes", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct {
		Node  string
		Nodes []cluster.Node
	}
	require.NoError(t, json.Unmarshal(body, &out))
	assert.Equal(t, a.cl.ID(), out.Node)
	for _, n := range out.Nodes {
		assert.Equal(t, n.ID == a.cl.ID(), n.Self)
		assert.Equal(t, "test", n.Version)
		assert.Equal(t, 3, n.Plugins)
		assert.False(t, n.Started.IsZero())
	}

	// A running job shows in its node's heartbeat.
	s := a.submit("cancel")
	eventually(t, func() bool {
		for _, n := range b.nodes() {
			if n.ID == a.cl.ID() && n.RunningJobs == 1 {
				return true
			}
		}
		return false
	}, 2*time.Second, 20*time.Millisecond)
	a.cancel(s)

	b.stop() // as a crash: the heartbeat stays until its TTL
	stopped := time.Now()
	assert.Contains(t, a.nodeIDs(), b.cl.ID())
	eventually(t, func() bool { return len(a.nodeIDs()) == 1 }, testTTL+time.Second, 20*time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(stopped), testTTL-2*testBeat, "gone after its TTL, not before")

	c := newClusterNode(t, rs, nil)
	assert.Len(t, a.nodeIDs(), 2)
	require.NoError(t, c.cl.Close())
	assert.Equal(t, []string{a.cl.ID()}, a.nodeIDs(), "a node that closes leaves at once")
}

func (e *env) nodes() []cluster.Node {
	e.t.Helper()
	_, b := e.do("GET", "/v1/nodes", "", nil)
	var out struct{ Nodes []cluster.Node }
	require.NoError(e.t, json.Unmarshal(b, &out))
	return out.Nodes
}

// TestNodesMemoryEngine: alone, the node lists itself.
func TestNodesMemoryEngine(t *testing.T) {
	e := newEnv(t, nil)
	ns := e.nodes()
	require.Len(t, ns, 1)
	assert.True(t, ns[0].Self)
	assert.NotEmpty(t, ns[0].ID)
	assert.Equal(t, 3, ns[0].Plugins)
}
