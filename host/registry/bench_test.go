package registry

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/internal/refplugins"
)

// BenchmarkRestartToReady measures what a restarted phasehost does before it
// is ready: a new Engine, and the plugins directory (the three reference
// plugins) scanned and loaded, as cmd/phasehost does. "no-cache" compiles
// everything (no --cache-dir); "cache-dir" finds the compiled code of a
// previous process on disk.
func BenchmarkRestartToReady(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	for name, wasm := range refplugins.Modules(b) {
		require.NoError(b, os.WriteFile(filepath.Join(dir, name+".wasm"), wasm, 0o644))
	}
	restart := func(b *testing.B, cacheDir string) {
		e, err := plugin.NewEngine(plugin.Options{CacheDir: cacheDir})
		require.NoError(b, err)
		loaded, failed, err := NewWatcher(New(), e, dir, WatchOptions{Logger: slog.New(slog.DiscardHandler)}).Scan(ctx)
		require.NoError(b, err)
		require.Empty(b, failed)
		require.Len(b, loaded, 3)
		require.NoError(b, e.Close(ctx))
	}
	b.Run("no-cache", func(b *testing.B) {
		for b.Loop() {
			restart(b, "")
		}
	})
	b.Run("cache-dir", func(b *testing.B) {
		cache := b.TempDir()
		restart(b, cache) // the previous process
		b.ResetTimer()
		for b.Loop() {
			restart(b, cache)
		}
	})
}
