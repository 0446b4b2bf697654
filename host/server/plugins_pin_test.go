package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/manifest"
)

type activeAnswer struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Pinned  bool   `json:"pinned"`
}

func (e *env) pin(token, name, body string) (*http.Response, []byte) {
	return e.do("PUT", "/v1/plugins/"+name+"/active", token, strings.NewReader(body), "Content-Type", "application/json")
}

// listedFlags returns version -> "active"/"active,pinned"/"" for name.
func (e *env) listedFlags(name string) map[string]string {
	resp, b := e.do("GET", "/v1/plugins", "", nil)
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
	var out struct {
		Plugins []struct {
			Name, Version  string
			Active, Pinned bool
		}
	}
	require.NoError(e.t, json.Unmarshal(b, &out))
	flags := map[string]string{}
	for _, p := range out.Plugins {
		if p.Name != name {
			continue
		}
		var f []string
		if p.Active {
			f = append(f, "active")
		}
		if p.Pinned {
			f = append(f, "pinned")
		}
		flags[p.Version] = strings.Join(f, ",")
	}
	return flags
}

// Roll forward by upload, roll back by pin, unpin back to the highest: new
// jobs run the version active when they are submitted.
func TestPluginPinRollback(t *testing.T) {
	e, _ := newPluginEnv(t, nil)
	resp, b := e.upload("operator", repack(t, "valid/ok.wasm", func(m *manifest.Manifest) { m.Version = "1.1.0" }))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", b)
	ranVersion := func() string {
		s := e.submit("ok")
		j := e.waitStatus(s, "succeeded", "failed")
		require.Equal(t, "succeeded", j.Status, j.Error)
		return j.Stages[0].Version
	}
	assert.Equal(t, "1.1.0", ranVersion())
	assert.Equal(t, map[string]string{"1.1.0": "active", "1.0.0": ""}, e.listedFlags("ok"))

	// Rollback.
	resp, b = e.pin("operator", "ok", `{"version":"1.0.0"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	var a activeAnswer
	require.NoError(t, json.Unmarshal(b, &a))
	assert.Equal(t, activeAnswer{Name: "ok", Version: "1.0.0", Pinned: true}, a)
	assert.Equal(t, "1.0.0", ranVersion())
	assert.Equal(t, map[string]string{"1.1.0": "", "1.0.0": "active,pinned"}, e.listedFlags("ok"))

	// A version not loaded: 404 naming the loaded ones; the pin stays.
	resp, b = e.pin("operator", "ok", `{"version":"9.9.9"}`)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", b)
	ae := decodeError(t, b)
	assert.Equal(t, "plugin_not_found", ae.Error.Code)
	assert.Equal(t, "plugin not found: ok has no version 9.9.9 (loaded: 1.1.0, 1.0.0)", ae.Error.Message)
	resp, b = e.pin("operator", "nope", `{"version":"1.0.0"}`)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", b)
	assert.Equal(t, "1.0.0", ranVersion())

	// Auth and body.
	resp, _ = e.pin("", "ok", `{"version":"1.1.0"}`)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = e.pin("wrong", "ok", `{"version":"1.1.0"}`)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = e.do("DELETE", "/v1/plugins/ok/active", "", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, b = e.pin("operator", "ok", `{"version":`)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", b)

	// Unpin with null: back to the highest.
	resp, b = e.pin("operator", "ok", `{"version":null}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	require.NoError(t, json.Unmarshal(b, &a))
	assert.Equal(t, activeAnswer{Name: "ok", Version: "1.1.0"}, a)
	assert.Equal(t, "1.1.0", ranVersion())

	// Pin again, unpin with DELETE.
	resp, b = e.pin("operator", "ok", `{"version":"1.0.0"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	resp, b = e.do("DELETE", "/v1/plugins/ok/active", "operator", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	assert.Equal(t, map[string]string{"1.1.0": "active", "1.0.0": ""}, e.listedFlags("ok"))
	assert.Equal(t, "1.1.0", ranVersion())
	resp, b = e.do("DELETE", "/v1/plugins/nope/active", "operator", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", b)
}
