package registry

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/host/wasmbin"
	"github.com/phasehost/phasehost/sdk/go/abi"
)

// repackVersion returns the module b with its manifest's version set to v.
func repackVersion(t *testing.T, b []byte, v string) []byte {
	t.Helper()
	secs, err := wasmbin.CustomSections(b, abi.ManifestSection)
	require.NoError(t, err)
	m, err := manifest.ParseJSON(secs[0])
	require.NoError(t, err)
	m.Version = v
	packed, err := wasmbin.SetCustomSection(b, abi.ManifestSection, m.JSON())
	require.NoError(t, err)
	return packed
}

// loadVersions loads testdata's ok.wasm repacked as each version.
func loadVersions(t *testing.T, e *plugin.Engine, vs ...string) []*plugin.Plugin {
	t.Helper()
	b, err := os.ReadFile("../../testdata/modules/valid/ok.wasm")
	require.NoError(t, err)
	secs, err := wasmbin.CustomSections(b, abi.ManifestSection)
	require.NoError(t, err)
	m, err := manifest.ParseJSON(secs[0])
	require.NoError(t, err)
	var out []*plugin.Plugin
	for _, v := range vs {
		m.Version = v
		packed, err := wasmbin.SetCustomSection(b, abi.ManifestSection, m.JSON())
		require.NoError(t, err)
		p, err := e.Load(context.Background(), packed)
		require.NoError(t, err)
		out = append(out, p)
	}
	return out
}

func TestResolve(t *testing.T) {
	e, err := plugin.NewEngine(plugin.Options{})
	require.NoError(t, err)
	defer e.Close(context.Background())
	r := New()
	for _, p := range loadVersions(t, e, "1.0.0", "1.2.0", "2.0.0-rc.1", "1.10.0") {
		_, err := r.Add(p)
		require.NoError(t, err)
	}
	cases := []struct{ spec, want, err string }{
		{"ok", "2.0.0-rc.1", ""},
		{"ok@1.2.0", "1.2.0", ""},
		{"ok@^1.2", "1.10.0", ""},
		{"ok@~1.2", "1.2.0", ""},
		{"ok@<1.1", "1.0.0", ""},
		{"ok@3.0.0", "", `plugin not found: ok has no version 3.0.0 (loaded: 2.0.0-rc.1, 1.10.0, 1.2.0, 1.0.0)`},
		{"ok@^3", "", `plugin not found: no version of ok matches "^3"`},
		{"ok@not a range", "", `pipeline entry "ok@not a range": "not a range" is neither a version nor a version range`},
		{"nope", "", `plugin not found: no plugin named "nope" (loaded: ok)`},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			p, err := r.Resolve(tc.spec)
			if tc.err != "" {
				require.Error(t, err)
				assert.True(t, strings.HasPrefix(err.Error(), tc.err), err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, p.Version())
		})
	}
	assert.Len(t, r.List(), 4)
	removed, ok := r.Remove("ok", "2.0.0-rc.1")
	require.True(t, ok)
	assert.Equal(t, "2.0.0-rc.1", removed.Version())
	p, err := r.Resolve("ok")
	require.NoError(t, err)
	assert.Equal(t, "1.10.0", p.Version())
	_, ok = r.Remove("ok", "9.9.9")
	assert.False(t, ok)
}

func TestAddReplacesSameVersion(t *testing.T) {
	e, err := plugin.NewEngine(plugin.Options{})
	require.NoError(t, err)
	defer e.Close(context.Background())
	r := New()
	ps := loadVersions(t, e, "1.0.0", "1.0.0")
	old, err := r.Add(ps[0])
	require.NoError(t, err)
	assert.Nil(t, old)
	old, err = r.Add(ps[1])
	require.NoError(t, err)
	assert.Same(t, ps[0], old)
	got, err := r.Resolve("ok@1.0.0")
	require.NoError(t, err)
	assert.Same(t, ps[1], got)
}

// Concurrent adds, removes and resolves; run with -race.
func TestRegistryHammer(t *testing.T) {
	e, err := plugin.NewEngine(plugin.Options{})
	require.NoError(t, err)
	defer e.Close(context.Background())
	var vs []string
	for i := 0; i < 8; i++ {
		vs = append(vs, fmt.Sprintf("1.%d.0", i))
	}
	ps := loadVersions(t, e, vs...)
	r := New()
	_, err = r.Add(ps[0])
	require.NoError(t, err)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				p := ps[(w+i)%len(ps)]
				if p != ps[0] {
					_, _ = r.Add(p)
					r.Remove(p.Name(), p.Version())
				}
				got, err := r.Resolve("ok")
				if err != nil || got == nil {
					t.Errorf("resolve: %v", err)
					return
				}
				_ = r.List()
			}
		}(w)
	}
	wg.Wait()
	got, err := r.Resolve("ok")
	require.NoError(t, err)
	assert.Equal(t, "1.0.0", got.Version(), "every other version was removed again")
}
