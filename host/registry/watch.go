package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/plugin"
)

// WatchOptions configures a Watcher. The zero value is usable.
type WatchOptions struct {
	// Debounce is how long a file must be quiet before it is (re)loaded
	// (default 200ms).
	Debounce time.Duration
	// Retries is how many times a file that does not load is tried again,
	// while its content keeps changing (a file still being written), before
	// it is given up (default 5). A file that fails twice with the same
	// content is refused at once.
	Retries int
	Logger  *slog.Logger
}

// Watcher keeps a registry in step with a directory of *.wasm files: a new
// or changed file is loaded, a removed one unloads the plugin it provided.
// A file that does not load is logged with every problem and never displaces
// a working plugin. A plugin is unloaded by removing it from the registry and
// retiring it: jobs that resolved it finish on it.
//
// Scan loads the directory once; Run watches it until its context ends.
type Watcher struct {
	reg    *Registry
	engine *plugin.Engine
	dir    string
	opts   WatchOptions
	log    *slog.Logger

	mu    sync.Mutex
	files map[string]*watched // by path
}

// watched is what one file provided, or last failed with.
type watched struct {
	p        *plugin.Plugin // nil: nothing loaded from it
	sha      string         // of the content p came from
	failSha  string         // of the content that last failed to load
	failErr  error          // why it failed
	reported bool           // failErr has been handed out to be logged
	tries    int            // failed loads since the content last loaded
}

// NewWatcher returns a Watcher loading dir's modules with e into r.
func NewWatcher(r *Registry, e *plugin.Engine, dir string, opts WatchOptions) *Watcher {
	if opts.Debounce <= 0 {
		opts.Debounce = 200 * time.Millisecond
	}
	if opts.Retries <= 0 {
		opts.Retries = 5
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Watcher{reg: r, engine: e, dir: dir, opts: opts, log: log.With(slog.String("plugins_dir", dir)), files: map[string]*watched{}}
}

// Files returns which plugin (name@version) came from which file, by path.
func (w *Watcher) Files() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]string{}
	for path, f := range w.files {
		if f.p != nil {
			out[path] = f.p.Ref()
		}
	}
	return out
}

// Scan brings the registry in step with the directory now: every file whose
// content changed since it was last loaded is loaded, and plugins whose file
// is gone are unloaded. It returns what it loaded and the files that failed.
func (w *Watcher) Scan(ctx context.Context) ([]*plugin.Plugin, []FileError, error) {
	loaded, failed, _, err := w.scan(ctx, true)
	return loaded, failed, err
}

// scan is Scan; unless final, files that may still be being written are
// returned in retry rather than failed.
func (w *Watcher) scan(ctx context.Context, final bool) (loaded []*plugin.Plugin, failed []FileError, retry []string, err error) {
	files, err := wasmFiles(w.dir)
	if err != nil {
		return nil, nil, nil, err
	}
	pre := w.prepare(ctx, files)
	present := map[string]bool{}
	for _, path := range files {
		present[path] = true
		p, err, again := w.sync(ctx, path, final, pre[path])
		switch {
		case again:
			retry = append(retry, path)
		case err != nil:
			failed = append(failed, FileError{path, err})
		case p != nil:
			loaded = append(loaded, p)
		}
	}
	w.mu.Lock()
	var gone []string
	for path := range w.files {
		if !present[path] {
			gone = append(gone, path)
		}
	}
	w.mu.Unlock()
	sort.Strings(gone)
	for _, path := range gone {
		w.sync(ctx, path, true, nil)
	}
	for _, c := range pre { // compiled, then not used (the file changed again)
		if c.p != nil && !c.used {
			_ = c.p.Close(context.WithoutCancel(ctx))
		}
	}
	return loaded, failed, retry, nil
}

// compiled is a file's module loaded ahead of sync, by prepare.
type compiled struct {
	sha  string
	p    *plugin.Plugin
	err  error
	used bool // sync took p
}

// prepare loads, concurrently (one per CPU), the files whose content is not
// what the registry has from them, so that a scan of several modules (a
// node starting) takes about the time of the largest rather than the sum.
// sync then uses a prepared load when the file still has that content.
func (w *Watcher) prepare(ctx context.Context, files []string) map[string]*compiled {
	if len(files) < 2 {
		return nil
	}
	out := map[string]*compiled{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(runtime.GOMAXPROCS(0), 1))
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // sync reports it
		}
		sum := sha256.Sum256(b)
		c := &compiled{sha: hex.EncodeToString(sum[:])}
		w.mu.Lock()
		f := w.files[path]
		skip := f != nil && (f.sha == c.sha || f.failSha == c.sha)
		w.mu.Unlock()
		if skip {
			continue
		}
		out[path] = c
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c.p, c.err = w.engine.Load(ctx, b)
		})
	}
	wg.Wait()
	return out
}

// Run watches the directory until ctx ends. It scans once after the watch
// is set up, so nothing that happened before is missed.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer fw.Close()
	if err := fw.Add(w.dir); err != nil {
		return err
	}
	w.log.Debug("watching plugins directory")
	_, failed, retry, err := w.scan(ctx, false)
	if err != nil {
		return err
	}
	for _, f := range failed {
		w.logRefused(ctx, f.Path, f.Err)
	}
	due := make(chan string, 16)
	timers := map[string]*time.Timer{}
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()
	schedule := func(path string, d time.Duration) {
		if t, ok := timers[path]; ok {
			t.Reset(d)
			return
		}
		timers[path] = time.AfterFunc(d, func() {
			select {
			case due <- path:
			case <-ctx.Done():
			}
		})
	}
	for _, path := range retry {
		schedule(path, w.opts.Debounce)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if !isModule(ev.Name) || ev.Op == fsnotify.Chmod {
				continue
			}
			w.mu.Lock()
			if f := w.files[ev.Name]; f != nil {
				f.tries = 0 // a new write: a new chance
			}
			w.mu.Unlock()
			schedule(ev.Name, w.opts.Debounce)
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			w.log.Warn("watching plugins directory", slog.String("error", err.Error()))
		case path := <-due:
			if _, err, retry := w.sync(ctx, path, false, nil); retry {
				w.mu.Lock()
				tries := w.files[path].tries
				w.mu.Unlock()
				w.log.Debug("plugin file did not load; trying again", slog.String("file", path), slog.Int("try", tries), slog.String("error", err.Error()))
				schedule(path, w.opts.Debounce<<min(tries, 4))
			} else if err != nil {
				w.logRefused(ctx, path, err)
			}
		}
	}
}

func isModule(path string) bool {
	base := filepath.Base(path)
	return strings.HasSuffix(base, ".wasm") && !strings.HasPrefix(base, ".")
}

// logRefused logs a file that did not load, every problem included.
func (w *Watcher) logRefused(ctx context.Context, path string, err error) {
	attrs := []slog.Attr{slog.String("file", path), slog.String("error", err.Error())}
	if inv, ok := errors.AsType[*manifest.InvalidError](err); ok {
		problems := make([]string, len(inv.Problems))
		for i, p := range inv.Problems {
			problems[i] = p.String()
		}
		attrs = append(attrs, slog.Any("problems", problems))
	}
	w.mu.Lock()
	if f := w.files[path]; f != nil && f.p != nil {
		attrs = append(attrs, slog.String("still_serving", f.p.Ref()))
	}
	w.mu.Unlock()
	w.log.LogAttrs(ctx, slog.LevelError, "plugin file refused", attrs...)
}

// sync brings one file's plugin in step with the file. It returns the plugin
// it loaded (nil when nothing changed or the file is gone), the error of a
// file that did not load, and whether to try that file again later (final:
// never). The watcher's lock is held throughout: files load one at a time.
func (w *Watcher) sync(ctx context.Context, path string, final bool, pre *compiled) (*plugin.Plugin, error, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := w.files[path]
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if f != nil {
			delete(w.files, path)
			w.unloadLocked(path, f)
		}
		return nil, nil, false
	}
	if f == nil {
		f = &watched{}
		w.files[path] = f
	}
	if err != nil {
		f.tries++
		return nil, err, !final && f.tries <= w.opts.Retries
	}
	sum := sha256.Sum256(b)
	sha := hex.EncodeToString(sum[:])
	if f.p != nil && f.sha == sha {
		// Back to (or still) what is loaded: nothing to do, and a failure
		// seen since is forgotten.
		f.failSha, f.failErr, f.reported, f.tries = "", nil, false, 0
		return nil, nil, false
	}
	if f.failSha == sha {
		// This content failed before: not a file being written; loading it
		// again would fail the same way.
		if f.reported {
			return nil, nil, false
		}
		f.reported = true
		return nil, f.failErr, false
	}
	failed := func(err error, retryable bool) (*plugin.Plugin, error, bool) {
		f.failSha, f.failErr = sha, err
		f.tries++
		retry := retryable && !final && f.tries <= w.opts.Retries
		f.reported = !retry
		return nil, err, retry
	}
	var p *plugin.Plugin
	if pre != nil && pre.sha == sha {
		p, err, pre.used = pre.p, pre.err, true
	} else {
		p, err = w.engine.Load(ctx, b)
	}
	if err != nil {
		return failed(err, true)
	}
	replaced, err := w.reg.Add(p)
	if err != nil {
		_ = p.Close(context.WithoutCancel(ctx))
		return failed(err, false)
	}
	old := f.p
	f.p, f.sha, f.failSha, f.failErr, f.tries = p, sha, "", nil, 0
	attrs := []slog.Attr{slog.String("file", path), slog.String("plugin", p.Ref()), slog.String("sha256", p.SHA256())}
	if replaced != nil {
		replaced.Retire()
		attrs = append(attrs, slog.String("replaced_sha256", replaced.SHA256()))
	}
	// The file used to provide another name@version: that one goes.
	if old != nil && old != replaced && w.reg.RemovePlugin(old) {
		old.Retire()
		attrs = append(attrs, slog.String("unloaded", old.Ref()))
	}
	w.log.LogAttrs(ctx, slog.LevelInfo, "plugin loaded from file", attrs...)
	return p, nil, false
}

// unloadLocked unloads what a removed file provided, unless it has been
// replaced since (by another file or an upload).
func (w *Watcher) unloadLocked(path string, f *watched) {
	if f.p == nil || !w.reg.RemovePlugin(f.p) {
		return
	}
	f.p.Retire()
	w.log.Info("plugin unloaded: its file was removed", slog.String("file", path), slog.String("plugin", f.p.Ref()),
		slog.Int("holds", f.p.Holds()), slog.Int("runs", f.p.InFlight()))
}
