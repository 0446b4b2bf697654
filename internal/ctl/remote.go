package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/phasehost/phasehost/host/event"
)

// Commands that speak to a running phasehost: submit, watch, cancel, plugins.

const remoteExit = `

Exit status: 0 the job succeeded, 1 it failed or was cancelled (or the server
could not be reached), 2 bad usage or a request the server refused (bad token,
unknown job or plugin), with the server's message on stderr.`

func newRemoteCmds(env Env) []*cobra.Command {
	return []*cobra.Command{newSubmitCmd(env), newWatchCmd(env), newCancelCmd(env), newPluginsCmd(env), newNodesCmd(env)}
}

// serverFlag adds --server, defaulting to $PHASECTL_SERVER.
func serverFlag(cmd *cobra.Command, env Env, server *string) {
	def := ""
	if env.Getenv != nil {
		def = env.Getenv("PHASECTL_SERVER")
	}
	cmd.Flags().StringVar(server, "server", def, "phasehost URL, e.g. http://localhost:8080 (default $PHASECTL_SERVER)")
}

// watchFlags are the output flags of watch and submit --watch.
type watchFlags struct {
	events     string
	noProgress bool
	since      int64
}

func (w *watchFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&w.events, "events", "", "- writes every event as a JSON line on stdout, even on a terminal")
	cmd.Flags().BoolVar(&w.noProgress, "no-progress", false, "no progress bars even on a terminal (events as JSON lines)")
}

func newSubmitCmd(env Env) *cobra.Command {
	var server, pipe, inputPath string
	var watch bool
	var wf watchFlags
	cmd := &cobra.Command{
		Use:   "submit --server URL --pipeline a,b,c --input FILE [--watch] [--events -]",
		Short: "Submit a job to a phasehost",
		Long: `submit posts a job (POST /v1/jobs) and prints the server's answer as JSON:
{"id", "token", "status"}. The token is what watch and cancel need.

With --watch it then follows the job as watch does; the answer goes to stderr
so that stdout holds only the events (or, with progress bars, the result).` + remoteExit,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			entries := splitPipeline(pipe)
			if len(entries) == 0 {
				return exit(ExitUsage, "--pipeline: name at least one plugin, e.g. assembly4,material,topology")
			}
			if err := wf.check(); err != nil {
				return err
			}
			input, err := readInput(env, inputPath)
			if err != nil {
				return err
			}
			c, err := newClient(server)
			if err != nil {
				return err
			}
			a, err := c.submit(ctx, entries, input)
			if err != nil {
				return exitFor(err)
			}
			b, _ := json.Marshal(a)
			if !watch {
				fmt.Fprintf(env.Stdout, "%s\n", b)
				return nil
			}
			fmt.Fprintf(env.Stderr, "%s\n", b)
			return watchJob(ctx, env, c, a.ID, a.Token, wf)
		},
	}
	serverFlag(cmd, env, &server)
	f := cmd.Flags()
	f.StringVar(&pipe, "pipeline", "", "comma-separated stages: name, name@1.2.0 or name@<range>")
	f.StringVar(&inputPath, "input", "", "input document (JSON file, - for stdin)")
	f.BoolVarP(&watch, "watch", "w", false, "follow the job until it ends, as watch does")
	wf.add(cmd)
	_ = cmd.MarkFlagRequired("pipeline")
	_ = cmd.MarkFlagRequired("input")
	return cmd
}

func (w *watchFlags) check() error {
	if w.events != "" && w.events != "-" {
		return exit(ExitUsage, "--events: only - (stdout) is supported by remote watching, not %q", w.events)
	}
	if w.since < 0 {
		return exit(ExitUsage, "--since: %d is not a seq", w.since)
	}
	return nil
}

func newWatchCmd(env Env) *cobra.Command {
	var server, token string
	var wf watchFlags
	cmd := &cobra.Command{
		Use:   "watch --server URL --token T [--since N] JOB_ID",
		Short: "Follow a job's events until it ends",
		Long: `watch follows a job over the WebSocket GET /v1/ws from the event after
--since (0: from the first). A dropped connection, or one the server closed
as too slow (4008), is reopened with since = the last seq received, after a
growing backoff: every event is shown once, in seq order.

On a terminal, stderr shows one progress bar per stage and stdout gets the
job's result; otherwise (or with --events -) stdout gets every event as one
JSON line.` + remoteExit,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := wf.check(); err != nil {
				return err
			}
			if token == "" {
				return exit(ExitUsage, "--token: the job's token (from submit) is required")
			}
			c, err := newClient(server)
			if err != nil {
				return err
			}
			return watchJob(cmd.Context(), env, c, args[0], token, wf)
		},
	}
	serverFlag(cmd, env, &server)
	cmd.Flags().StringVar(&token, "token", "", "the job's token (from submit)")
	cmd.Flags().Int64Var(&wf.since, "since", 0, "show events after this seq")
	wf.add(cmd)
	return cmd
}

// watchJob follows job id to its end, drawing bars or writing JSON lines,
// and returns the exit error of its outcome.
func watchJob(ctx context.Context, env Env, c *client, id, token string, wf watchFlags) error {
	// The job's state: its token is checked (a refusal is the server's
	// message, exit 2) and its stages label the bars.
	st, err := c.job(ctx, id, token)
	if err != nil {
		return exitFor(err)
	}
	useBars := env.StderrIsTerminal && wf.events == "" && !wf.noProgress
	var bars *progressBars
	var out *bufio.Writer
	if useBars {
		labels := make([]string, len(st.Stages))
		for i, s := range st.Stages {
			labels[i] = s.Plugin + "@" + s.Version
			if s.Plugin == "" {
				labels[i] = s.Stage
			}
		}
		bars = newProgressBars(env.Stderr, labels)
		if wf.since > 0 { // resume the bars where the job is
			for i, s := range st.Stages {
				bars.update(event.Event{Type: event.TypeStage, Status: event.StatusRunning, StageIndex: event.Int(i), Percent: event.Float(min(s.Percent, 99.99))})
			}
		}
	} else {
		out = bufio.NewWriter(env.Stdout)
	}
	if event.Terminal(st.Status) && wf.since >= st.Seq {
		// Nothing after since: the outcome is already known.
		bars.finish()
		return outcome(env, id, event.Event{Type: event.TypeJob, Status: st.Status, Error: st.Error}, false)
	}
	final, err := c.watchEvents(ctx, id, token, wf.since, watchOptions{}, func(ev event.Event) error {
		if bars != nil {
			bars.update(ev)
			return nil
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		out.Write(b)
		out.WriteByte('\n')
		return out.Flush()
	})
	bars.finish()
	if err != nil {
		return exitFor(err)
	}
	return outcome(env, id, final, useBars)
}

// outcome is the exit error of a job's terminal event; with bars, the result
// goes to stdout.
func outcome(env Env, id string, final event.Event, printResult bool) error {
	if final.Status == event.StatusSucceeded {
		if printResult && len(final.Result) > 0 {
			fmt.Fprintf(env.Stdout, "%s\n", final.Result)
		}
		return nil
	}
	if final.Error != "" {
		return exit(ExitFailed, "job %s %s: %s", id, final.Status, final.Error)
	}
	return exit(ExitFailed, "job %s %s", id, final.Status)
}

func newCancelCmd(env Env) *cobra.Command {
	var server, token string
	cmd := &cobra.Command{
		Use:   "cancel --server URL --token T JOB_ID",
		Short: "Cancel a job",
		Long: `cancel asks the server to cancel a job (DELETE /v1/jobs/:id) and prints its
answer as JSON: {"id", "status", "cancel_requested"}. A running job ends
cancelled shortly after; watch shows it.

Exit status: 0 the cancel was accepted, 1 the job had already finished (or the
server could not be reached), 2 bad usage or a request the server refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if token == "" {
				return exit(ExitUsage, "--token: the job's token (from submit) is required")
			}
			c, err := newClient(server)
			if err != nil {
				return err
			}
			b, err := c.cancel(cmd.Context(), args[0], token)
			if err != nil {
				return exitFor(err)
			}
			fmt.Fprintf(env.Stdout, "%s\n", strings.TrimSpace(string(b)))
			return nil
		},
	}
	serverFlag(cmd, env, &server)
	cmd.Flags().StringVar(&token, "token", "", "the job's token (or the operator token)")
	return cmd
}

func newPluginsCmd(env Env) *cobra.Command {
	var server string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plugins --server URL [--json]",
		Short: "List the plugins a phasehost has loaded",
		Long: `plugins lists the server's plugins (GET /v1/plugins): name, version, stage,
whether a bare name resolves to the version (active, pinned when an operator
pinned it) and its number of phases. --json prints the server's answer.

Its subcommands change the server's plugins with the operator token (--token
or PHASECTL_TOKEN): upload a module, pin or unpin the version a bare name
resolves to, remove a version.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(server)
			if err != nil {
				return err
			}
			list, raw, err := c.plugins(cmd.Context())
			if err != nil {
				return exitFor(err)
			}
			if asJSON {
				fmt.Fprintf(env.Stdout, "%s\n", strings.TrimSpace(string(raw)))
				return nil
			}
			return pluginTable(env.Stdout, list)
		},
	}
	serverFlag(cmd, env, &server)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the server's JSON answer")
	addPluginAdminCmds(cmd, env) // operator.go
	return cmd
}

func pluginTable(w io.Writer, list []pluginEntry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSTAGE\tACTIVE\tPHASES")
	for _, p := range list {
		active := ""
		switch {
		case p.Pinned:
			active = "pinned"
		case p.Active:
			active = "active"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", p.Name, p.Version, p.Stage, active, len(p.Phases))
	}
	return tw.Flush()
}
