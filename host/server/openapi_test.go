package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/registry"
	"github.com/phasehost/phasehost/host/store"
	"github.com/phasehost/phasehost/schemas"
)

type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	require.NoError(t, json.Unmarshal(OpenAPI(), &doc))
	return doc
}

// testServer is a Server with every optional route (a Gatherer: /metrics).
func testServer(t *testing.T) *Server {
	t.Helper()
	st := store.NewMemory(store.Options{})
	s, err := New(Config{Store: st, Registry: registry.New(), Gatherer: prometheus.NewRegistry(), Workers: 1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Shutdown(t.Context()); _ = st.Close() })
	return s
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// TestOpenAPICoversEveryRoute walks gin's real routes: none is undocumented,
// and no documented path and method is missing from the server.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	s := testServer(t)
	engine, ok := s.handler.(*gin.Engine)
	require.True(t, ok, "the handler is gin's engine")
	var real []string
	for _, r := range engine.Routes() {
		real = append(real, r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}"))
	}
	var documented []string
	methods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	for p, ops := range loadOpenAPI(t).Paths {
		for m := range ops {
			if slices.Contains(methods, m) {
				documented = append(documented, strings.ToUpper(m)+" "+p)
			}
		}
	}
	slices.Sort(real)
	slices.Sort(documented)
	for _, r := range real {
		assert.Contains(t, documented, r, "route not documented in openapi.json")
	}
	for _, d := range documented {
		assert.Contains(t, real, d, "documented in openapi.json but not served")
	}
	assert.Greater(t, len(real), 15)
}

// TestOpenAPISchemasMatchSchemas: the Event and Job components are
// schemas/event.schema.json and schemas/job.schema.json (without $schema
// and $id), and every $ref resolves.
func TestOpenAPISchemasMatchSchemas(t *testing.T) {
	doc := loadOpenAPI(t)
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	for name, raw := range map[string][]byte{"Event": schemas.Event(), "Job": schemas.Job()} {
		var want map[string]any
		require.NoError(t, json.Unmarshal(raw, &want))
		delete(want, "$schema")
		delete(want, "$id")
		var got map[string]any
		require.NoError(t, json.Unmarshal(doc.Components.Schemas[name], &got), name)
		assert.Equal(t, want, got, "components.schemas.%s differs from schemas/", name)
	}
	var all map[string]any
	require.NoError(t, json.Unmarshal(OpenAPI(), &all))
	for _, ref := range regexp.MustCompile(`"\$ref":\s*"([^"]+)"`).FindAllSubmatch(OpenAPI(), -1) {
		node := any(all)
		parts := strings.Split(strings.TrimPrefix(string(ref[1]), "#/"), "/")
		for _, p := range parts {
			m, ok := node.(map[string]any)
			require.True(t, ok, "$ref %s", ref[1])
			node, ok = m[p]
			require.True(t, ok, "$ref %s does not resolve", ref[1])
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	s := testServer(t)
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/v1/openapi.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.True(t, bytes.Equal(OpenAPI(), b))
}
