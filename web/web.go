// Package web is the browser side of Phasehost, embedded in the binary: the
// dashboard served at / (plain HTML, CSS and JS, no build step) and the
// JavaScript client served at /v1/client.js (an ES module; see README.md),
// plus the example input document served at /v1/example.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sync"
	"time"

	"github.com/phasehost/phasehost/internal/example"
)

//go:embed static
var static embed.FS

// files maps each URL path Handler serves to its file under static/.
var files = map[string]string{
	"/":              "index.html",
	"/dashboard.js":  "dashboard.js",
	"/dashboard.css": "dashboard.css",
	"/v1/client.js":  "client.js",
}

// ExamplePath is where Handler serves the example input document.
const ExamplePath = "/v1/example"

// Paths lists the URL paths Handler serves (GET), sorted.
func Paths() []string {
	return []string{"/", "/dashboard.css", "/dashboard.js", "/v1/client.js", ExamplePath}
}

// Static returns the embedded files (index.html, dashboard.js,
// dashboard.css, client.js).
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded: cannot happen
	}
	return sub
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

func newAsset(body []byte, ctype string) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

var assets = sync.OnceValues(func() (map[string]asset, error) {
	out := map[string]asset{}
	for p, name := range files {
		b, err := fs.ReadFile(Static(), name)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		out[p] = newAsset(b, contentTypes[path.Ext(name)])
	}
	doc, err := example.Bracket()
	if err != nil {
		return nil, fmt.Errorf("web: example: %w", err)
	}
	out[ExamplePath] = newAsset(doc, "application/json")
	return out, nil
})

// Example returns the example input document (examples/bracket.json).
func Example() ([]byte, error) {
	a, err := assets()
	if err != nil {
		return nil, err
	}
	return bytes.Clone(a[ExamplePath].body), nil
}

// Handler serves Paths: each with its content type, an ETag and
// Cache-Control: no-cache (revalidated, answered 304 when unchanged). Any
// other path is 404.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		all, err := assets()
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		a, ok := all[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("ETag", a.etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}
