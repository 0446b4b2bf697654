package cluster_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/cluster"
	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/host/registry"
	"github.com/phasehost/phasehost/host/wasmbin"
	"github.com/phasehost/phasehost/internal/redistest"
	"github.com/phasehost/phasehost/sdk/go/abi"
)

// Tests of the cluster's shared pins and of its recovery of missed
// announcements: nodes (a Cluster each, with its own engine and registry, on
// its own control connection) of one private redis-server.

const (
	testBeat = 50 * time.Millisecond
	testTTL  = 500 * time.Millisecond
	within   = time.Second // how soon an announced change reaches the other nodes
	// resyncWithin bounds how long a resync takes to converge: resyncs come
	// every 100ms or so here, but may load modules, slow on a busy machine
	// under -race.
	resyncWithin = 5 * time.Second
	poll         = 10 * time.Millisecond
)

// okModule is testdata's ok.wasm as version v; desc makes different bytes
// of the same version.
func okModule(t *testing.T, v, desc string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/modules/valid/ok.wasm")
	require.NoError(t, err)
	secs, err := wasmbin.CustomSections(b, abi.ManifestSection)
	require.NoError(t, err)
	m, err := manifest.ParseJSON(secs[0])
	require.NoError(t, err)
	m.Version = v
	if desc != "" {
		m.Description = desc
	}
	out, err := wasmbin.SetCustomSection(b, abi.ManifestSection, m.JSON())
	require.NoError(t, err)
	return out
}

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// logs keeps the messages a node logs.
type logs struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logs) WithGroup(string) slog.Handler      { return l }

// count counts the messages that start with prefix.
func (l *logs) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

type node struct {
	t    *testing.T
	cl   *cluster.Cluster
	eng  *plugin.Engine
	reg  *registry.Registry
	logs *logs
}

// newNode is a started node of rs whose registry holds ok@1.0.0 of its own
// (as from its --plugins directory). mod edits its options.
func newNode(t *testing.T, rs *redistest.Server, mod func(*cluster.Options)) *node {
	t.Helper()
	ctx := context.Background()
	eng, err := plugin.NewEngine(plugin.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	n := &node{t: t, eng: eng, reg: registry.New(), logs: &logs{}}
	n.load(okModule(t, "1.0.0", ""))
	opts := cluster.Options{Engine: eng, Registry: n.reg, Logger: slog.New(n.logs),
		HeartbeatInterval: testBeat, HeartbeatTTL: testTTL}
	if mod != nil {
		mod(&opts)
	}
	n.cl, err = cluster.Open(ctx, rs.URL(), opts)
	require.NoError(t, err)
	sctx, stop := context.WithCancel(ctx)
	require.NoError(t, n.cl.Start(sctx))
	t.Cleanup(func() {
		stop()
		assert.NoError(t, n.cl.Close())
		_ = eng.Close(ctx)
	})
	return n
}

// load loads wasm into the node's registry only.
func (n *node) load(wasm []byte) *plugin.Plugin {
	n.t.Helper()
	p, err := n.eng.Load(context.Background(), wasm)
	require.NoError(n.t, err)
	_, err = n.reg.Add(p)
	require.NoError(n.t, err)
	return p
}

// upload is what POST /v1/plugins does on a shared node: load, then publish.
func (n *node) upload(wasm []byte) {
	n.t.Helper()
	p := n.load(wasm)
	require.NoError(n.t, n.cl.Publish(context.Background(), p, wasm))
}

// pin is what PUT /v1/plugins/ok/active does: pin here, then publish
// (version "": unpin).
func (n *node) pin(version string) {
	n.t.Helper()
	ctx := context.Background()
	if version == "" {
		n.reg.Unpin("ok")
		require.NoError(n.t, n.cl.PublishUnpin(ctx, "ok"))
		return
	}
	require.NoError(n.t, n.reg.Pin("ok", version))
	require.NoError(n.t, n.cl.PublishPin(ctx, "ok", version))
}

// has reports whether the node has ok@version as the module wasm.
func (n *node) has(version string, wasm []byte) bool {
	p, err := n.reg.Resolve("ok@" + version)
	return err == nil && p.SHA256() == shaOf(wasm)
}

func (n *node) hasVersion(version string) bool {
	_, err := n.reg.Resolve("ok@" + version)
	return err == nil
}

// active is the version "ok" resolves to, "+pinned" when pinned.
func (n *node) active() string {
	v, pinned := n.reg.Active("ok")
	if pinned {
		return v + "+pinned"
	}
	return v
}

func (n *node) activeIs(want string) func() bool {
	return func() bool { return n.active() == want }
}

func rawRedis(t *testing.T, rs *redistest.Server) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestPinsAreShared: a pin on A is applied by B; a node started later
// applies it when it starts; an unpin on B is applied by A and C; removing
// the published version that is pinned unpins it everywhere.
func TestPinsAreShared(t *testing.T) {
	rs := redistest.Start(t)
	raw := rawRedis(t, rs)
	ctx := context.Background()
	a := newNode(t, rs, nil)
	b := newNode(t, rs, nil)

	v11 := okModule(t, "1.1.0", "")
	a.upload(v11)
	require.Eventually(t, func() bool { return b.has("1.1.0", v11) }, within, poll)
	require.Equal(t, "1.1.0", b.active())

	a.pin("1.0.0")
	require.Eventually(t, b.activeIs("1.0.0+pinned"), within, poll, "B applies A's pin")
	assert.Equal(t, "1.0.0+pinned", a.active())
	assert.Equal(t, "1.0.0", raw.HGet(ctx, "phasehost:pins", "ok").Val())

	c := newNode(t, rs, nil)
	assert.Equal(t, "1.0.0+pinned", c.active(), "a node started later applies the pin at start")

	b.pin("")
	require.Eventually(t, func() bool { return a.active() == "1.1.0" && c.active() == "1.1.0" }, within, poll, "A and C apply B's unpin")
	assert.False(t, raw.HExists(ctx, "phasehost:pins", "ok").Val())

	// Pin the published 1.1.0, then unpublish it: the pin goes everywhere,
	// also where that version stays (C's own copy).
	c.load(okModule(t, "1.2.0", "C's own"))
	a.pin("1.1.0")
	require.Eventually(t, func() bool { return b.active() == "1.1.0+pinned" && c.active() == "1.1.0+pinned" }, within, poll)
	_, ok := a.reg.Remove("ok", "1.1.0")
	require.True(t, ok)
	ok, err := a.cl.Unpublish(ctx, "ok", "1.1.0")
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool {
		return !b.hasVersion("1.1.0") && b.active() == "1.0.0" && c.active() == "1.2.0" && !c.hasVersion("1.1.0")
	}, within, poll)
	assert.Equal(t, "1.0.0", a.active())
	assert.False(t, raw.HExists(ctx, "phasehost:pins", "ok").Val())
}

// TestPinOfAVersionNotLoaded: a node lacking the pinned version warns, lets
// the bare name resolve to its highest version, and pins it as soon as that
// version arrives.
func TestPinOfAVersionNotLoaded(t *testing.T) {
	rs := redistest.Start(t)
	a := newNode(t, rs, nil)
	b := newNode(t, rs, nil)
	b.load(okModule(t, "0.9.0", ""))
	b.pin("0.9.0") // B's own pin, which A's replaces

	v12 := okModule(t, "1.2.0", "")
	a.load(v12) // on A only, not published
	a.pin("1.2.0")
	const warning = "cluster: pinned version not loaded on this node"
	require.Eventually(t, func() bool { return b.logs.count(warning) == 1 }, within, poll)
	assert.Equal(t, "1.0.0", b.active(), "as if unpinned meanwhile")

	// A node started now warns too.
	c := newNode(t, rs, nil)
	assert.Equal(t, 1, c.logs.count(warning))
	assert.Equal(t, "1.0.0", c.active())

	// 1.2.0 is published: B and C load it and pin it.
	require.NoError(t, a.cl.Publish(context.Background(), a.find(t, "1.2.0"), v12))
	require.Eventually(t, func() bool { return b.active() == "1.2.0+pinned" && c.active() == "1.2.0+pinned" }, within, poll)
	assert.Equal(t, 1, b.logs.count(warning), "warned once")
}

func (n *node) find(t *testing.T, version string) *plugin.Plugin {
	p, err := n.reg.Resolve("ok@" + version)
	require.NoError(t, err)
	return p
}

// TestConcurrentPinsConverge: A and B pin different versions at the same
// time, over and over; every time, both end with the pin Redis stored last.
func TestConcurrentPinsConverge(t *testing.T) {
	rs := redistest.Start(t)
	raw := rawRedis(t, rs)
	ctx := context.Background()
	a := newNode(t, rs, nil)
	b := newNode(t, rs, nil)
	a.upload(okModule(t, "1.1.0", ""))
	require.Eventually(t, func() bool { return b.hasVersion("1.1.0") }, within, poll)

	for i := range 20 {
		va, vb := "1.0.0", "1.1.0"
		if i%2 == 1 {
			va, vb = vb, va
		}
		var wg sync.WaitGroup
		wg.Go(func() { a.pin(va) })
		wg.Go(func() { b.pin(vb) })
		wg.Wait()
		stored := raw.HGet(ctx, "phasehost:pins", "ok").Val()
		require.Eventually(t, func() bool {
			return a.active() == stored+"+pinned" && b.active() == stored+"+pinned"
		}, within, poll, "round %d: stored %s, A %s, B %s", i, stored, a.active(), b.active())
	}
}

// publishQuietly writes ok@version into Redis as Publish does, but without
// the announcement (as if it was lost); bump also counts it in
// PREFIX:control:seq, as a lost announcement would be.
func publishQuietly(t *testing.T, raw *redis.Client, wasm []byte, version string, bump bool) {
	t.Helper()
	ctx := context.Background()
	sha := shaOf(wasm)
	require.NoError(t, raw.Set(ctx, "phasehost:module:{"+sha+"}", wasm, 0).Err())
	require.NoError(t, raw.HSet(ctx, "phasehost:plugins", "ok@"+version, sha).Err())
	if bump {
		require.NoError(t, raw.Incr(ctx, "phasehost:control:seq").Err())
	}
}

// TestResyncCatchesUpWithoutAnnouncements: a node that missed announcements
// (changes written to Redis without them) catches up at its next periodic
// resync: plugins added, replaced and removed, pins set and cleared; its own
// plugins stay.
func TestResyncCatchesUpWithoutAnnouncements(t *testing.T) {
	rs := redistest.Start(t)
	raw := rawRedis(t, rs)
	ctx := context.Background()
	b := newNode(t, rs, func(o *cluster.Options) { o.ResyncInterval = 100 * time.Millisecond })

	v14 := okModule(t, "1.4.0", "")
	publishQuietly(t, raw, v14, "1.4.0", false)
	require.Eventually(t, func() bool { return b.has("1.4.0", v14) }, resyncWithin, poll, "added")

	require.NoError(t, raw.HSet(ctx, "phasehost:pins", "ok", "1.4.0").Err())
	require.Eventually(t, b.activeIs("1.4.0+pinned"), resyncWithin, poll, "pinned")

	v14b := okModule(t, "1.4.0", "second")
	publishQuietly(t, raw, v14b, "1.4.0", false)
	require.Eventually(t, func() bool { return b.has("1.4.0", v14b) }, resyncWithin, poll, "replaced")
	assert.Equal(t, "1.4.0+pinned", b.active(), "a replacement keeps the pin")

	require.NoError(t, raw.HDel(ctx, "phasehost:pins", "ok").Err())
	require.Eventually(t, b.activeIs("1.4.0"), resyncWithin, poll, "unpinned")

	// Unpublished: removed. ok@1.0.0, B's own, stays, although another node
	// published and unpublished the very same module.
	publishQuietly(t, raw, okModule(t, "1.0.0", ""), "1.0.0", false)
	v15 := okModule(t, "1.5.0", "")
	publishQuietly(t, raw, v15, "1.5.0", false)
	require.Eventually(t, func() bool { return b.has("1.5.0", v15) }, resyncWithin, poll, "a resync after the publication")
	require.NoError(t, raw.HDel(ctx, "phasehost:plugins", "ok@1.4.0", "ok@1.0.0").Err())
	require.Eventually(t, func() bool { return !b.hasVersion("1.4.0") }, resyncWithin, poll, "removed")
	assert.True(t, b.hasVersion("1.0.0"), "B's own stays")
	assert.True(t, b.hasVersion("1.5.0"))
}

// TestMissedAnnouncementNoticed: with no periodic resync, a node notices at
// its heartbeat that an announcement was published and not heard, and
// resyncs.
func TestMissedAnnouncementNoticed(t *testing.T) {
	rs := redistest.Start(t)
	raw := rawRedis(t, rs)
	b := newNode(t, rs, func(o *cluster.Options) { o.ResyncInterval = -1 })

	v15 := okModule(t, "1.5.0", "")
	publishQuietly(t, raw, v15, "1.5.0", true)
	require.Eventually(t, func() bool { return b.has("1.5.0", v15) }, resyncWithin, poll)
	assert.Equal(t, 1, b.logs.count("cluster: control announcements missed"))
}

// TestRedisLosingItsDataKeepsPlugins: when Redis comes back empty, nodes keep
// what they had from the cluster instead of removing it, and what is
// published afterwards reaches them again.
func TestRedisLosingItsDataKeepsPlugins(t *testing.T) {
	rs := redistest.Start(t)
	raw := rawRedis(t, rs)
	ctx := context.Background()
	a := newNode(t, rs, nil)
	b := newNode(t, rs, func(o *cluster.Options) { o.ResyncInterval = 100 * time.Millisecond })
	v11 := okModule(t, "1.1.0", "")
	a.upload(v11)
	require.Eventually(t, func() bool { return b.has("1.1.0", v11) }, within, poll)

	require.NoError(t, raw.FlushAll(ctx).Err())
	const noticed = "cluster: the cluster's state in Redis is older than what this node heard"
	require.Eventually(t, func() bool { return a.logs.count(noticed) == 1 && b.logs.count(noticed) == 1 }, resyncWithin, poll)
	assert.True(t, b.has("1.1.0", v11), "kept")

	v12 := okModule(t, "1.2.0", "")
	a.upload(v12)
	require.Eventually(t, func() bool { return b.has("1.2.0", v12) }, within, poll)
	a.pin("1.2.0")
	require.Eventually(t, b.activeIs("1.2.0+pinned"), within, poll)
	assert.True(t, b.has("1.1.0", v11), "still kept")
}

// TestResyncDoesNotRetryARefusedModule: a module refused for good (its bytes
// do not hash to its sha256) is logged once, not at every resync.
func TestResyncDoesNotRetryARefusedModule(t *testing.T) {
	rs := redistest.Start(t)
	raw := rawRedis(t, rs)
	ctx := context.Background()
	b := newNode(t, rs, func(o *cluster.Options) { o.ResyncInterval = 50 * time.Millisecond })

	claimed, other := okModule(t, "3.0.0", ""), okModule(t, "3.0.0", "not what was published")
	sha := shaOf(claimed)
	require.NoError(t, raw.Set(ctx, "phasehost:module:{"+sha+"}", other, 0).Err())
	require.NoError(t, raw.HSet(ctx, "phasehost:plugins", "ok@3.0.0", sha).Err())
	require.Eventually(t, func() bool { return b.logs.count("cluster: plugin not loaded") == 1 }, resyncWithin, poll)

	// Two more resyncs: each loads one module published after the previous.
	for _, v := range []string{"3.1.0", "3.2.0"} {
		w := okModule(t, v, "")
		publishQuietly(t, raw, w, v, false)
		require.Eventually(t, func() bool { return b.has(v, w) }, resyncWithin, poll)
	}
	assert.Equal(t, 1, b.logs.count("cluster: plugin not loaded"))
	assert.False(t, b.hasVersion("3.0.0"))

	// An announcement tries it again (it may have been fixed).
	msg, err := json.Marshal(cluster.Announcement{Op: cluster.OpAdd, Name: "ok", Version: "3.0.0", SHA256: sha, Node: "elsewhere"})
	require.NoError(t, err)
	require.NoError(t, raw.Publish(ctx, "phasehost:control", msg).Err())
	require.Eventually(t, func() bool { return b.logs.count("cluster: plugin not loaded") == 2 }, resyncWithin, poll)
}
