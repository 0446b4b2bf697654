// Package refplugins builds the reference plugins (plugins/assembly4,
// material, topology) for tests, the way `make plugins` does: a wasip1
// reactor module with its manifest packed in. Builds go through the go
// command's cache, so only the first test binary of a run pays for them.
package refplugins

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/wasmbin"
	"github.com/phasehost/phasehost/sdk/go/abi"
)

// Names returns the reference plugins, in pipeline order.
func Names() []string { return []string{"assembly4", "material", "topology"} }

var built = sync.OnceValues(build)

// Modules returns the packed .wasm bytes of every reference plugin by name.
func Modules(tb testing.TB) map[string][]byte {
	tb.Helper()
	mods, err := built()
	if err != nil {
		tb.Fatalf("building reference plugins: %v", err)
	}
	return mods
}

// Root returns the repository root (the directory holding go.work).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.work not found above the working directory")
		}
		dir = parent
	}
}

func build() (map[string][]byte, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "phasehost-refplugins-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := map[string][]byte{}
	for _, name := range Names() {
		dir := filepath.Join(root, "plugins", name)
		raw := filepath.Join(tmp, name+".wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", raw, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", name, err, b)
		}
		wasm, err := os.ReadFile(raw)
		if err != nil {
			return nil, err
		}
		yml, err := os.ReadFile(filepath.Join(dir, "plugin.yaml"))
		if err != nil {
			return nil, err
		}
		m, err := manifest.Parse(yml)
		if err != nil {
			return nil, fmt.Errorf("%s/plugin.yaml: %w", name, err)
		}
		packed, err := wasmbin.SetCustomSection(wasm, abi.ManifestSection, m.JSON())
		if err != nil {
			return nil, err
		}
		out[name] = packed
	}
	return out, nil
}
