package registry

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/phasehost/phasehost/host/plugin"
)

// FileError is a module file that did not load.
type FileError struct {
	Path string
	Err  error
}

func (e FileError) Error() string { return e.Path + ": " + e.Err.Error() }

// LoadDir loads every *.wasm in dir (or the one file dir names) into r. When
// only is non-empty, files whose manifest names none of those plugins are
// skipped without compiling. Files that fail are returned, not fatal.
func (r *Registry) LoadDir(ctx context.Context, e *plugin.Engine, dir string, only ...string) ([]*plugin.Plugin, []FileError, error) {
	files, err := wasmFiles(dir)
	if err != nil {
		return nil, nil, err
	}
	want := map[string]bool{}
	for _, n := range only {
		want[n] = true
	}
	var loaded []*plugin.Plugin
	var failed []FileError
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			failed = append(failed, FileError{f, err})
			continue
		}
		if len(want) > 0 {
			if m, err := plugin.ReadManifest(b); err == nil && !want[m.Name] {
				continue
			}
		}
		p, err := e.Load(ctx, b)
		if err != nil {
			failed = append(failed, FileError{f, err})
			continue
		}
		if old, err := r.Add(p); err != nil {
			failed = append(failed, FileError{f, err})
			_ = p.Close(ctx)
			continue
		} else if old != nil {
			old.Retire() // closed once the runs and jobs using it are done
		}
		loaded = append(loaded, p)
	}
	return loaded, failed, nil
}

func wasmFiles(dir string) ([]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	if !st.IsDir() {
		return []string{dir}, nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.wasm"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	return files, nil
}
