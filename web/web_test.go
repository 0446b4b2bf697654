package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/web"
)

func TestHandlerServesEveryPath(t *testing.T) {
	hs := httptest.NewServer(web.Handler())
	defer hs.Close()
	want := map[string]string{
		"/":              "text/html",
		"/dashboard.js":  "text/javascript",
		"/dashboard.css": "text/css",
		"/v1/client.js":  "text/javascript",
		"/v1/example":    "application/json",
	}
	require.Len(t, web.Paths(), len(want))
	for _, p := range web.Paths() {
		resp, err := http.Get(hs.URL + p)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
		assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), want[p]), "%s: %s", p, resp.Header.Get("Content-Type"))
		assert.NotEmpty(t, b, p)
		etag := resp.Header.Get("ETag")
		require.NotEmpty(t, etag, p)

		req, _ := http.NewRequest(http.MethodGet, hs.URL+p, nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotModified, resp.StatusCode, p)
	}
	resp, err := http.Get(hs.URL + "/nope.js")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestExampleIsTheCommittedFile(t *testing.T) {
	want, err := os.ReadFile("../examples/bracket.json")
	require.NoError(t, err)
	got, err := web.Example()
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}

// The client is an ES module without dependencies: it imports nothing.
func TestClientHasNoImports(t *testing.T) {
	b, err := io.ReadAll(must(web.Static().Open("client.js")))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		assert.False(t, strings.HasPrefix(line, "import "), "client.js imports: %s", line)
	}
	assert.Contains(t, string(b), "export class Client")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
