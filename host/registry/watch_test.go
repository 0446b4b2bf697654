package registry

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/plugin"
)

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func TestWatchDirectory(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := plugin.NewEngine(plugin.Options{})
	require.NoError(t, err)
	defer e.Close(context.Background())
	okWasm, err := os.ReadFile("../../testdata/modules/valid/ok.wasm")
	require.NoError(t, err)
	badWasm, err := os.ReadFile("../../testdata/modules/invalid/bad_phase_name.wasm")
	require.NoError(t, err)

	dir := t.TempDir()
	logs := &logBuf{}
	r := New()
	w := NewWatcher(r, e, dir, WatchOptions{Debounce: 50 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	loaded, failed, err := w.Scan(ctx)
	require.NoError(t, err)
	assert.Empty(t, loaded)
	assert.Empty(t, failed)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	path := filepath.Join(dir, "ok.wasm")
	resolve := func() *plugin.Plugin {
		p, _ := r.Resolve("ok")
		return p
	}

	// Copied in: loaded, and the file is tracked. Written in two halves with
	// a pause, as a slow copy would: the half-written module is retried, not
	// refused.
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "watching plugins directory") }, 10*time.Second, time.Millisecond)
	writeFile(t, path, okWasm[:len(okWasm)/2])
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "trying again") }, 10*time.Second, time.Millisecond)
	writeFile(t, path, okWasm)
	require.Eventually(t, func() bool { return resolve() != nil }, 10*time.Second, time.Millisecond)
	assert.NotContains(t, logs.String(), "plugin file refused")
	first := resolve()
	assert.Equal(t, map[string]string{path: "ok@1.0.0"}, w.Files())

	// Overwritten with a module that fails validation: logged with every
	// problem, the old one keeps serving.
	mark := len(logs.String())
	since := func() string { return logs.String()[mark:] }
	writeFile(t, path, badWasm)
	require.Eventually(t, func() bool { return strings.Contains(since(), "plugin file refused") }, 10*time.Second, 10*time.Millisecond)
	assert.Contains(t, since(), `"problems":["phases[`)
	assert.Contains(t, since(), `"still_serving":"ok@1.0.0"`)
	assert.Same(t, first, resolve())
	assert.False(t, first.Retired())

	// The same content again (a touch) is not logged twice.
	n := strings.Count(since(), "plugin file refused")
	writeFile(t, path, badWasm)
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, n, strings.Count(since(), "plugin file refused"))

	// A working module again, now version 1.1.0: the file's ok@1.0.0 goes
	// (nothing holds it: closed at once).
	writeFile(t, path, repackVersion(t, okWasm, "1.1.0"))
	require.Eventually(t, func() bool { p := resolve(); return p != nil && p.Version() == "1.1.0" }, 10*time.Second, 10*time.Millisecond)
	second := resolve()
	assert.True(t, first.Retired())
	assert.True(t, closed(first))
	_, err = r.Resolve("ok@1.0.0")
	require.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, map[string]string{path: "ok@1.1.0"}, w.Files())

	// Removed while a job holds it: unloaded at once, closed once released.
	held, err := r.Acquire("ok")
	require.NoError(t, err)
	require.Same(t, second, held)
	require.NoError(t, os.Remove(path))
	require.Eventually(t, func() bool { return resolve() == nil }, 10*time.Second, 10*time.Millisecond)
	assert.Empty(t, w.Files())
	assert.True(t, second.Retired())
	assert.False(t, closed(second), "closed while held")
	held.Release()
	assert.True(t, closed(second))
}

// A file that provides another name@version when rewritten unloads the one it
// provided before; Scan picks up changes made while nothing watched.
func TestWatchScanVersionChange(t *testing.T) {
	ctx := context.Background()
	e, err := plugin.NewEngine(plugin.Options{})
	require.NoError(t, err)
	defer e.Close(ctx)
	dir := t.TempDir()
	r := New()
	w := NewWatcher(r, e, dir, WatchOptions{})
	okWasm, err := os.ReadFile("../../testdata/modules/valid/ok.wasm")
	require.NoError(t, err)
	path := filepath.Join(dir, "ok.wasm")
	writeFile(t, path, okWasm)
	writeFile(t, filepath.Join(dir, "bad.wasm"), []byte("\x00asm junk"))
	loaded, failed, err := w.Scan(ctx)
	require.NoError(t, err)
	require.Len(t, loaded, 1)
	require.Len(t, failed, 1)
	assert.Equal(t, filepath.Join(dir, "bad.wasm"), failed[0].Path)
	// Rescanning unchanged files loads nothing and reports nothing again.
	loaded, failed, err = w.Scan(ctx)
	require.NoError(t, err)
	assert.Empty(t, loaded)
	assert.Empty(t, failed)

	writeFile(t, path, repackVersion(t, okWasm, "1.1.0"))
	loaded, _, err = w.Scan(ctx)
	require.NoError(t, err)
	require.Len(t, loaded, 1)
	assert.Equal(t, "ok@1.1.0", loaded[0].Ref())
	var refs []string
	for _, p := range r.List() {
		refs = append(refs, p.Ref())
	}
	assert.Equal(t, []string{"ok@1.1.0"}, refs)
	assert.Equal(t, map[string]string{path: "ok@1.1.0"}, w.Files())

	require.NoError(t, os.Remove(path))
	_, _, err = w.Scan(ctx)
	require.NoError(t, err)
	assert.Empty(t, r.List())
}
