package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/cluster"
	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/internal/redistest"
)

// Tests of pins on a cluster (plugins_pin.go, host/cluster): a pin or unpin
// on one node is applied by every node.

// resyncWithin bounds how long a resync every 100ms takes to converge: it
// loads modules, slow on a busy machine under -race.
const resyncWithin = 5 * time.Second

// pinnedOn is a condition: "ok" resolves on e to version, pinned or not.
func (e *env) pinnedOn(version string, pinned bool) func() bool {
	want := "active"
	if pinned {
		want = "active,pinned"
	}
	return func() bool { return e.listedFlags("ok")[version] == want }
}

// ranOn is the version a job of the bare name "ok" runs on e.
func (e *env) ranOn() string {
	e.t.Helper()
	s := e.submit("ok")
	j := e.waitStatus(s, "succeeded", "failed")
	require.Equal(e.t, "succeeded", j.Status, j.Error)
	return j.Stages[0].Version
}

// TestClusterPinsFollow: a pin on A is applied by B within a second and by a
// node started later when it starts; unpins (DELETE or null) on any node are
// applied by all.
func TestClusterPinsFollow(t *testing.T) {
	rs := redistest.Start(t)
	raw := rawRedis(t, rs)
	ctx := context.Background()
	a := newClusterNode(t, rs, nil)
	b := newClusterNode(t, rs, nil)
	resp, body := a.upload("operator", repack(t, "valid/ok.wasm", func(m *manifest.Manifest) { m.Version = "1.1.0" }))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	eventually(t, b.pinnedOn("1.1.0", false), time.Second, 10*time.Millisecond)

	resp, body = a.pin("operator", "ok", `{"version":"1.0.0"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var ans activeAnswer
	require.NoError(t, json.Unmarshal(body, &ans))
	assert.Equal(t, activeAnswer{Name: "ok", Version: "1.0.0", Pinned: true}, ans)
	eventually(t, b.pinnedOn("1.0.0", true), time.Second, 10*time.Millisecond, "B applies A's pin")
	assert.Equal(t, "1.0.0", b.ranOn())
	assert.Equal(t, "1.0.0", raw.HGet(ctx, "phasehost:pins", "ok").Val())

	c := newClusterNode(t, rs, nil)
	assert.True(t, c.pinnedOn("1.0.0", true)(), "a node started later applies the pin at start: %v", c.listedFlags("ok"))

	resp, body = b.do("DELETE", "/v1/plugins/ok/active", "operator", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	eventually(t, func() bool { return a.pinnedOn("1.1.0", false)() && c.pinnedOn("1.1.0", false)() }, time.Second, 10*time.Millisecond)
	assert.False(t, raw.HExists(ctx, "phasehost:pins", "ok").Val())
	assert.Equal(t, "1.1.0", a.ranOn())

	resp, body = c.pin("operator", "ok", `{"version":"1.0.0"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	eventually(t, func() bool { return a.pinnedOn("1.0.0", true)() && b.pinnedOn("1.0.0", true)() }, time.Second, 10*time.Millisecond)
	resp, body = a.pin("operator", "ok", `{"version":null}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	eventually(t, func() bool { return b.pinnedOn("1.1.0", false)() && c.pinnedOn("1.1.0", false)() }, time.Second, 10*time.Millisecond)

	// A pin that fails here is not published.
	resp, body = a.pin("operator", "ok", `{"version":"9.9.9"}`)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", body)
	assert.False(t, raw.HExists(ctx, "phasehost:pins", "ok").Val())
}

// TestClusterPinPublishFailure: a pin that cannot be published is logged and
// answered as on a lone node.
func TestClusterPinPublishFailure(t *testing.T) {
	rs := redistest.Start(t)
	logs := &logRecorder{}
	a := newClusterNode(t, rs, logs)
	require.NoError(t, a.cl.Close()) // its Redis client is closed: nothing can be published
	resp, body := a.pin("operator", "ok", `{"version":"1.0.0"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var ans activeAnswer
	require.NoError(t, json.Unmarshal(body, &ans))
	assert.Equal(t, activeAnswer{Name: "ok", Version: "1.0.0", Pinned: true}, ans)
	assert.Equal(t, 1, logs.count("plugin pin not published to the cluster"))
	resp, body = a.do("DELETE", "/v1/plugins/ok/active", "operator", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Equal(t, 1, logs.count("plugin unpin not published to the cluster"))
}

// TestClusterResyncAfterMissedAnnouncements: a node that missed announcements
// (here: changes written to Redis without any) converges at its next resync.
func TestClusterResyncAfterMissedAnnouncements(t *testing.T) {
	rs := redistest.Start(t)
	raw := rawRedis(t, rs)
	ctx := context.Background()
	b := newClusterNodeWith(t, rs, nil, func(o *cluster.Options) { o.ResyncInterval = 100 * time.Millisecond })

	wasm := repack(t, "valid/ok.wasm", func(m *manifest.Manifest) { m.Version = "2.0.0" })
	sha := shaOf(wasm)
	require.NoError(t, raw.Set(ctx, "phasehost:module:{"+sha+"}", wasm, 0).Err())
	require.NoError(t, raw.HSet(ctx, "phasehost:plugins", "ok@2.0.0", sha).Err())
	eventually(t, func() bool { return b.has("ok", "2.0.0") }, resyncWithin, 10*time.Millisecond)

	require.NoError(t, raw.HSet(ctx, "phasehost:pins", "ok", "1.0.0").Err())
	eventually(t, b.pinnedOn("1.0.0", true), resyncWithin, 10*time.Millisecond)
	assert.Equal(t, "1.0.0", b.ranOn())

	require.NoError(t, raw.Del(ctx, "phasehost:plugins", "phasehost:pins").Err())
	eventually(t, func() bool { return !b.has("ok", "2.0.0") && b.pinnedOn("1.0.0", false)() }, resyncWithin, 10*time.Millisecond)
	assert.True(t, b.has("cancel", "1.0.0"), "the node's own plugins stay")
}
