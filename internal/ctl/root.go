// Package ctl is the phasectl command line: plugin tooling (pack, validate,
// inspect, gen), local pipeline runs, and example inputs.
package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitFailed = 1 // the job failed, or a module was refused
	ExitUsage  = 2 // bad usage, or a plugin that does not load
)

// exitError carries an exit code; its message (if any) is printed on stderr.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func exit(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// silentExit exits with code after the command has already said why.
func silentExit(code int) error { return &exitError{code: code} }

// Env is what the command line may read of its environment.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// StderrIsTerminal enables progress bars.
	StderrIsTerminal bool
	// CacheDir is the default compilation cache directory ("" for none).
	CacheDir string
	// Getenv reads PHASECTL_* / PHASEHOST_* settings.
	Getenv func(string) string
}

// Main runs phasectl with args and returns the process exit code.
func Main(ctx context.Context, args []string, env Env) int {
	root := newRoot(env)
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(env.Stderr, "phasectl:", ee.err)
		}
		return ee.code
	}
	// cobra's own errors: unknown flags, wrong argument counts.
	fmt.Fprintln(env.Stderr, "phasectl:", err)
	return ExitUsage
}

func newRoot(env Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "phasectl",
		Short: "Build, check and run Phasehost stage plugins",
		Long: `phasectl is the Phasehost command line.

Plugin authors pack, validate, inspect and generate code for plugins, and run
pipelines locally (run); example makes pipeline inputs. Against a running
phasehost (--server or PHASECTL_SERVER): submit, watch, cancel, plugins, nodes;
with the operator token (--token or PHASECTL_TOKEN): plugins upload, pin, unpin,
remove. bench load-tests a node on Redis.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newPluginCmd(env), newRunCmd(env), newExampleCmd(env), newBenchCmd(env))
	root.AddCommand(newRemoteCmds(env)...)
	return root
}

// logger returns a text logger on stderr at the given level.
func logger(env Env, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
}
