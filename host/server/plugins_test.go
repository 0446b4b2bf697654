package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/host/registry"
	"github.com/phasehost/phasehost/host/server"
	"github.com/phasehost/phasehost/host/wasmbin"
	"github.com/phasehost/phasehost/sdk/go/abi"
)

const wasmType = "application/wasm"

func readModule(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(modules + rel)
	require.NoError(t, err)
	return b
}

// repack returns the module at rel with its manifest changed by edit.
func repack(t *testing.T, rel string, edit func(*manifest.Manifest)) []byte {
	t.Helper()
	b := readModule(t, rel)
	secs, err := wasmbin.CustomSections(b, abi.ManifestSection)
	require.NoError(t, err)
	m, err := manifest.ParseJSON(secs[0])
	require.NoError(t, err)
	edit(m)
	out, err := wasmbin.SetCustomSection(b, abi.ManifestSection, m.JSON())
	require.NoError(t, err)
	return out
}

// newPluginEnv is a server whose registry the test can reach.
func newPluginEnv(t *testing.T, mod func(*server.Config)) (*env, *registry.Registry) {
	t.Helper()
	var reg *registry.Registry
	e := newEnv(t, func(c *server.Config) {
		reg = c.Registry
		if mod != nil {
			mod(c)
		}
	})
	return e, reg
}

type pluginEntry struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Stage   string `json:"stage"`
	SHA256  string `json:"sha256"`
	Size    int    `json:"size"`
	Phases  []any  `json:"phases"`
	Limits  struct {
		TimeoutMS int64 `json:"timeout_ms"`
	} `json:"limits"`
}

type apiError struct {
	Error struct {
		Code     string             `json:"code"`
		Message  string             `json:"message"`
		Problems []manifest.Problem `json:"problems"`
	} `json:"error"`
}

func decodeError(t *testing.T, b []byte) apiError {
	t.Helper()
	var ae apiError
	require.NoError(t, json.Unmarshal(b, &ae), "%s", b)
	return ae
}

func (e *env) upload(token string, wasm []byte) (*http.Response, []byte) {
	return e.do("POST", "/v1/plugins", token, bytes.NewReader(wasm), "Content-Type", wasmType)
}

func (e *env) plugins() []pluginEntry {
	resp, b := e.do("GET", "/v1/plugins", "", nil)
	require.Equal(e.t, http.StatusOK, resp.StatusCode, "%s", b)
	var out struct{ Plugins []pluginEntry }
	require.NoError(e.t, json.Unmarshal(b, &out))
	return out.Plugins
}

func (e *env) findPlugin(name, version string) (pluginEntry, bool) {
	for _, p := range e.plugins() {
		if p.Name == name && p.Version == version {
			return p, true
		}
	}
	return pluginEntry{}, false
}

func isClosed(p *plugin.Plugin) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

func waitClosed(t *testing.T, p *plugin.Plugin) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never closed (holds %d, runs %d)", p.Ref(), p.Holds(), p.InFlight())
	}
}

func (e *env) waitProgress(s submitted) {
	e.t.Helper()
	eventually(e.t, func() bool {
		return e.state(s).Stages[0].SourcePhase == "CANCEL_SPIN_PROGRESS"
	}, 10*time.Second, 5*time.Millisecond)
}

func TestPluginUploadIsListedAndUsable(t *testing.T) {
	e, _ := newPluginEnv(t, nil)
	wasm := repack(t, "valid/ok.wasm", func(m *manifest.Manifest) { m.Version = "1.1.0" })
	resp, b := e.upload("operator", wasm)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", b)
	var got pluginEntry
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, "ok", got.Name)
	assert.Equal(t, "1.1.0", got.Version)
	assert.Equal(t, len(wasm), got.Size)
	assert.Len(t, got.SHA256, 64)

	listed, ok := e.findPlugin("ok", "1.1.0")
	require.True(t, ok, "uploaded plugin not listed")
	assert.Equal(t, got, listed, "the upload answers with the plugin's GET /v1/plugins entry")
	_, ok = e.findPlugin("ok", "1.0.0")
	assert.True(t, ok, "another version stays")

	for _, spec := range []string{"ok@1.1.0", "ok"} { // "ok" is now the highest: 1.1.0
		s := e.submit(spec)
		j := e.waitStatus(s, "succeeded", "failed")
		require.Equal(t, "succeeded", j.Status, "%s: %s", spec, j.Error)
		assert.Equal(t, "1.1.0", j.Stages[0].Version)
	}
}

func TestPluginUploadInvalidListsEveryProblemAndDisplacesNothing(t *testing.T) {
	e, _ := newPluginEnv(t, nil)
	before, ok := e.findPlugin("ok", "1.0.0")
	require.True(t, ok)

	resp, b := e.upload("operator", readModule(t, "invalid/many_problems.wasm"))
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "%s", b)
	ae := decodeError(t, b)
	assert.Equal(t, "invalid_plugin", ae.Error.Code)
	assert.Contains(t, ae.Error.Message, "11 problems")
	require.Len(t, ae.Error.Problems, 11, "%s", b)
	for _, p := range ae.Error.Problems {
		assert.NotEmpty(t, p.Message)
	}
	// Every problem the loader reports, as it reports them.
	_, lerr := mustEngine(t).Load(context.Background(), readModule(t, "invalid/many_problems.wasm"))
	inv, isInv := asInvalid(lerr)
	require.True(t, isInv)
	assert.Equal(t, inv.Problems, ae.Error.Problems)

	// A broken module with the name and version of a working one does not replace it.
	broken := repack(t, "valid/ok.wasm", func(m *manifest.Manifest) { m.Phases[0].MapsTo = "LIBRARY_LOAD_START" })
	resp, b = e.upload("operator", broken)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "%s", b)
	ae = decodeError(t, b)
	require.Len(t, ae.Error.Problems, 1)
	assert.Contains(t, ae.Error.Problems[0].Path, "maps_to")

	after, ok := e.findPlugin("ok", "1.0.0")
	require.True(t, ok)
	assert.Equal(t, before, after, "the working version still serves")
	_, listed := e.findPlugin("Many Problems", "1.x")
	assert.False(t, listed)
	s := e.submit("ok@1.0.0")
	assert.Equal(t, "succeeded", e.waitStatus(s, "succeeded", "failed").Status)

	resp, b = e.upload("operator", []byte("not wasm at all"))
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "%s", b)
	assert.NotEmpty(t, decodeError(t, b).Error.Problems)
}

func mustEngine(t *testing.T) *plugin.Engine {
	t.Helper()
	eng, err := plugin.NewEngine(plugin.Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = eng.Close(context.Background()) })
	return eng
}

func asInvalid(err error) (*manifest.InvalidError, bool) {
	inv, ok := err.(*manifest.InvalidError)
	return inv, ok
}

func TestPluginAdminNeedsTheOperatorToken(t *testing.T) {
	e, _ := newPluginEnv(t, nil)
	wasm := repack(t, "valid/ok.wasm", func(m *manifest.Manifest) { m.Version = "3.0.0" })
	for _, tc := range []struct {
		name, token string
		status      int
		code        string
	}{
		{"missing", "", http.StatusUnauthorized, "unauthorized"},
		{"wrong", "operatorx", http.StatusForbidden, "forbidden"},
		{"job token", e.submit("ok").Token, http.StatusForbidden, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.upload(tc.token, wasm)
			require.Equal(t, tc.status, resp.StatusCode, "%s", b)
			assert.Equal(t, tc.code, decodeError(t, b).Error.Code)
			resp, b = e.do("DELETE", "/v1/plugins/ok/1.0.0", tc.token, nil)
			require.Equal(t, tc.status, resp.StatusCode, "%s", b)
			assert.Equal(t, tc.code, decodeError(t, b).Error.Code)
		})
	}
	// Bearer only: not ?token=, which ends up in access logs.
	resp, b := e.do("POST", "/v1/plugins?token=operator", "", bytes.NewReader(wasm), "Content-Type", wasmType)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s", b)
	_, ok := e.findPlugin("ok", "3.0.0")
	assert.False(t, ok)
	_, ok = e.findPlugin("ok", "1.0.0")
	assert.True(t, ok)

	resp, b = e.do("POST", "/v1/plugins", "operator", bytes.NewReader(wasm), "Content-Type", "application/json")
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, "%s", b)
	resp, b = e.do("POST", "/v1/plugins", "operator", bytes.NewReader(wasm), "Content-Type", "application/octet-stream")
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", b)
	resp, b = e.do("POST", "/v1/plugins", "operator", http.NoBody, "Content-Type", wasmType)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", b)
}

func TestPluginAdminDisabledWithoutOperatorToken(t *testing.T) {
	e, _ := newPluginEnv(t, func(c *server.Config) { c.OperatorToken = "" })
	for _, token := range []string{"", "anything"} {
		resp, b := e.upload(token, readModule(t, "valid/ok.wasm"))
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s", b)
		ae := decodeError(t, b)
		assert.Equal(t, "plugin_admin_disabled", ae.Error.Code)
		assert.Contains(t, ae.Error.Message, "plugin admin disabled")
		resp, b = e.do("DELETE", "/v1/plugins/ok/1.0.0", token, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s", b)
	}
	_, ok := e.findPlugin("ok", "1.0.0")
	assert.True(t, ok)
}

func TestPluginUploadTooLarge(t *testing.T) {
	small, err := plugin.NewEngine(plugin.Options{Policy: plugin.Policy{MaxModuleBytes: 1024}, Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = small.Close(context.Background()) }) // after the server's cleanup
	e, _ := newPluginEnv(t, func(c *server.Config) { c.Engine = small })
	wasm := repack(t, "valid/ok.wasm", func(m *manifest.Manifest) { m.Version = "1.5.0" })
	require.Greater(t, len(wasm), 1024)

	resp, b := e.upload("operator", wasm) // Content-Length says it
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s", b)
	assert.Equal(t, "body_too_large", decodeError(t, b).Error.Code)

	// Chunked, no length announced: cut off while reading.
	resp, b = e.do("POST", "/v1/plugins", "operator", io.MultiReader(bytes.NewReader(wasm)), "Content-Type", wasmType)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s", b)
	_, ok := e.findPlugin("ok", "1.5.0")
	assert.False(t, ok)
}

func TestPluginDeleteAbsent(t *testing.T) {
	e, _ := newPluginEnv(t, nil)
	for _, path := range []string{"/v1/plugins/nope/1.0.0", "/v1/plugins/ok/9.9.9"} {
		resp, b := e.do("DELETE", path, "operator", nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", b)
		assert.Equal(t, "plugin_not_found", decodeError(t, b).Error.Code)
	}
}

// Removing a plugin that a running job uses and a queued job holds: both
// carry on with it, new jobs cannot resolve it, and its code is closed only
// once the last of them has ended.
func TestPluginDeleteWhileJobsUseIt(t *testing.T) {
	e, reg := newPluginEnv(t, func(c *server.Config) { c.Workers = 1 })
	cancelP, err := reg.Resolve("cancel@1.0.0")
	require.NoError(t, err)
	okP, err := reg.Resolve("ok@1.0.0")
	require.NoError(t, err)

	running := e.submit("cancel")
	e.waitProgress(running)
	queued := e.submit("ok@1.0.0") // one worker: waits behind the running job

	for _, path := range []string{"/v1/plugins/cancel/1.0.0", "/v1/plugins/ok/1.0.0"} {
		resp, b := e.do("DELETE", path, "operator", nil)
		require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", b)
		assert.Empty(t, b)
	}
	_, ok := e.findPlugin("cancel", "1.0.0")
	assert.False(t, ok, "still listed after removal")
	resp, b := e.do("DELETE", "/v1/plugins/cancel/1.0.0", "operator", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", b)
	body, _ := json.Marshal(map[string]any{"pipeline": []string{"cancel"}})
	resp, b = e.do("POST", "/v1/jobs", "", bytes.NewReader(body))
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "%s", b)
	assert.Equal(t, "unknown_plugin", decodeError(t, b).Error.Code)

	// The running job carries on: it still publishes progress.
	at := e.state(running).Seq
	eventually(t, func() bool { return e.state(running).Seq > at+2 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, "running", e.state(running).Status)
	assert.Equal(t, "queued", e.state(queued).Status)
	assert.False(t, isClosed(cancelP), "closed under a running job")
	assert.False(t, isClosed(okP), "closed under a queued job")
	assert.True(t, cancelP.Retired())

	resp, b = e.do("DELETE", "/v1/jobs/"+running.ID, running.Token, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", b)
	j := e.waitStatus(running, "cancelled", "failed", "succeeded")
	assert.Equal(t, "cancelled", j.Status, "the running job ends by its cancellation, not by its plugin going: %s", j.Error)
	waitClosed(t, cancelP)

	// The queued job starts after its plugin was removed and still runs it.
	j = e.waitStatus(queued, "succeeded", "failed")
	require.Equal(t, "succeeded", j.Status, j.Error)
	waitClosed(t, okP)
	assert.Equal(t, 0, okP.Holds())
}

// Uploading a module with the name and version of one in use replaces it for
// new jobs; the job running the old code finishes on it, and the old code is
// closed after.
func TestPluginReplaceWhileRunning(t *testing.T) {
	e, reg := newPluginEnv(t, nil)
	old, err := reg.Resolve("cancel@1.0.0")
	require.NoError(t, err)
	running := e.submit("cancel")
	e.waitProgress(running)

	resp, b := e.upload("operator", readModule(t, "valid/cancel.wasm"))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", b)
	cur, err := reg.Resolve("cancel@1.0.0")
	require.NoError(t, err)
	require.NotSame(t, old, cur)
	assert.True(t, old.Retired())
	assert.False(t, isClosed(old))

	second := e.submit("cancel")
	e.waitProgress(second)
	for _, s := range []submitted{running, second} {
		resp, b := e.do("DELETE", "/v1/jobs/"+s.ID, s.Token, nil)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", b)
		assert.Equal(t, "cancelled", e.waitStatus(s, "cancelled", "failed", "succeeded").Status)
	}
	waitClosed(t, old)
	assert.False(t, isClosed(cur), "the registered version stays open")
	assert.Equal(t, 0, cur.Holds())
}
