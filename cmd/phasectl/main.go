// Command phasectl is the Phasehost command line; see `phasectl --help`.
package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/phasehost/phasehost/internal/ctl"
)

func main() {
	cache := ""
	if dir, err := os.UserCacheDir(); err == nil && os.Getenv("PHASECTL_NO_CACHE") == "" {
		cache = filepath.Join(dir, "phasehost", "wazero")
	}
	if v := os.Getenv("PHASECTL_CACHE_DIR"); v != "" {
		cache = v
	}
	st, err := os.Stderr.Stat()
	tty := err == nil && st.Mode()&os.ModeCharDevice != 0
	os.Exit(ctl.Main(context.Background(), os.Args[1:], ctl.Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		StderrIsTerminal: tty, CacheDir: cache, Getenv: os.Getenv,
	}))
}
