package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/pipeline"
	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/host/registry"
)

func newRunCmd(env Env) *cobra.Command {
	var dir, pipe, inputPath, eventsPath, outPath, cacheDir, jobID string
	var verbose, noProgress bool
	cmd := &cobra.Command{
		Use:   "run --plugins DIR --pipeline a,b,c --input FILE [--events FILE|-] [-o FILE]",
		Short: "Run a pipeline in-process",
		Long: `run loads the plugins the pipeline names from DIR (a directory of .wasm
files, or one file), runs the stages in order with each stage's output as the
next one's input, and writes the last stage's output as JSON to stdout or -o.

--events writes every event as one JSON line (to a file, or - for stdout; with
--events - and no -o the output is only in the final job event's "result").
On a terminal, stderr shows one progress bar per stage. Ctrl-C cancels the job.

Exit status: 0 the job succeeded, 1 it failed (or was cancelled), 2 bad usage
or a plugin that does not load.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			entries := splitPipeline(pipe)
			if len(entries) == 0 {
				return exit(ExitUsage, "--pipeline: name at least one plugin, e.g. assembly4,material,topology")
			}
			input, err := readInput(env, inputPath)
			if err != nil {
				return err
			}
			e, err := newEngine(env, cacheDir, verbose)
			if err != nil {
				return err
			}
			defer e.Close(context.WithoutCancel(ctx))
			stages, err := loadPipeline(ctx, env, e, dir, entries)
			if err != nil {
				return err
			}

			var eventsOut io.Writer
			if eventsPath == "-" {
				eventsOut = env.Stdout
			} else if eventsPath != "" {
				f, err := os.Create(eventsPath)
				if err != nil {
					return exit(ExitUsage, "--events: %v", err)
				}
				defer f.Close()
				eventsOut = f
			}
			var bars *progressBars
			if env.StderrIsTerminal && !noProgress {
				bars = newProgressBars(env.Stderr, stageRefs(stages))
			}
			pub := &localPublisher{events: eventsOut, bars: bars}
			runner := pipeline.NewRunner(pub, nil)

			cancel := make(chan struct{})
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, os.Interrupt)
			defer signal.Stop(sigs)
			go func() {
				if _, ok := <-sigs; ok {
					close(cancel)
				}
			}()

			if err := runner.Queued(ctx, jobID); err != nil {
				return exit(ExitFailed, "%v", err)
			}
			outcome, err := runner.Run(ctx, pipeline.Job{ID: jobID, Stages: stages, Input: input, Cancel: cancel})
			bars.finish()
			if err == nil {
				err = pub.flush()
			}
			if err != nil {
				return exit(ExitFailed, "%v", err)
			}
			if outcome.Status != event.StatusSucceeded {
				return exit(ExitFailed, "job %s: %v", outcome.Status, outcome.Err)
			}
			switch {
			case outPath != "" && outPath != "-":
				if err := writeFileAtomic(outPath, append(outcome.Result, '\n')); err != nil {
					return exit(ExitFailed, "-o: %v", err)
				}
			case eventsPath == "-" && outPath == "":
				// The result is in the final job event on stdout already.
			default:
				if _, err := env.Stdout.Write(append(outcome.Result, '\n')); err != nil {
					return exit(ExitFailed, "writing output: %v", err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "plugins", "bin/plugins", "directory of plugin modules (.wasm), or one module")
	f.StringVar(&pipe, "pipeline", "", "comma-separated stages: name, name@1.2.0 or name@<range>")
	f.StringVar(&inputPath, "input", "", "input document (JSON file, - for stdin)")
	f.StringVar(&eventsPath, "events", "", "write events as JSON lines to FILE (- for stdout)")
	f.StringVarP(&outPath, "output", "o", "", "write the output JSON to FILE instead of stdout")
	f.StringVar(&cacheDir, "cache-dir", env.CacheDir, "compilation cache directory (empty: in memory)")
	f.StringVar(&jobID, "job-id", "local", "job id used in events and logs")
	f.BoolVarP(&verbose, "verbose", "v", false, "log plugin output and debug lines on stderr")
	f.BoolVar(&noProgress, "no-progress", false, "no progress bars even on a terminal")
	_ = cmd.MarkFlagRequired("pipeline")
	_ = cmd.MarkFlagRequired("input")
	return cmd
}

func splitPipeline(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func readInput(env Env, path string) (json.RawMessage, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(env.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, exit(ExitUsage, "--input: %v", err)
	}
	if !json.Valid(b) {
		return nil, exit(ExitUsage, "--input %s: not a JSON document", path)
	}
	return b, nil
}

// loadPipeline loads what the entries name from dir and resolves each entry.
func loadPipeline(ctx context.Context, env Env, e *plugin.Engine, dir string, entries []string) ([]*plugin.Plugin, error) {
	reg := registry.New()
	var names []string
	for _, en := range entries {
		name, _, _ := strings.Cut(en, "@")
		names = append(names, name)
	}
	_, failed, err := reg.LoadDir(ctx, e, dir, names...)
	if err != nil {
		return nil, exit(ExitUsage, "--plugins: %v", err)
	}
	for _, f := range failed {
		_ = refused(env, f.Path, f.Err)
	}
	var stages []*plugin.Plugin
	for _, en := range entries {
		p, err := reg.Resolve(en)
		if err != nil {
			if errors.Is(err, registry.ErrNotFound) && len(failed) > 0 {
				return nil, exit(ExitUsage, "pipeline entry %q: %v (and %d module(s) in %s did not load, above)", en, err, len(failed), dir)
			}
			return nil, exit(ExitUsage, "pipeline entry %q: %v", en, err)
		}
		stages = append(stages, p)
	}
	return stages, nil
}

// localPublisher numbers events, writes them as JSON lines and drives the bars.
type localPublisher struct {
	mu     sync.Mutex
	seq    int64
	events io.Writer
	buf    *bufio.Writer
	bars   *progressBars
	err    error
}

var _ pipeline.Publisher = (*localPublisher)(nil)

func (p *localPublisher) Publish(_ context.Context, ev event.Event) (event.Event, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	ev.Seq = p.seq
	if p.events != nil && p.err == nil {
		if p.buf == nil {
			p.buf = bufio.NewWriterSize(p.events, 64<<10)
		}
		b, err := json.Marshal(ev)
		if err == nil {
			b = append(b, '\n')
			_, err = p.buf.Write(b)
		}
		if err != nil {
			p.err = fmt.Errorf("writing events: %w", err)
		}
	}
	p.bars.update(ev)
	return ev, p.err
}

func (p *localPublisher) flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.buf != nil && p.err == nil {
		if err := p.buf.Flush(); err != nil {
			p.err = fmt.Errorf("writing events: %w", err)
		}
	}
	return p.err
}
