package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// Operator commands: plugins upload, pin, unpin, remove (behind the server's
// operator token) and nodes.

const operatorExit = `

Exit status: 0 done, 1 the server could not be reached or failed, 2 bad usage
or a request the server refused (missing or bad operator token, plugin
administration disabled, unknown plugin or version), with the server's message
on stderr.`

// uploadTimeout bounds an upload: the server validates and compiles the
// module before it answers.
const uploadTimeout = 5 * time.Minute

// tokenFlag adds --token. Its default, $PHASECTL_TOKEN, is read when the
// command runs (operatorClient), so that --help never shows the secret.
func tokenFlag(cmd *cobra.Command, token *string) {
	cmd.Flags().StringVar(token, "token", "", "the server's operator token, its --operator-token (default $PHASECTL_TOKEN)")
}

// operatorClient makes the client of an operator command and returns the
// operator token: *token, or else $PHASECTL_TOKEN.
func operatorClient(env Env, server string, token *string) (*client, error) {
	if *token == "" && env.Getenv != nil {
		*token = env.Getenv("PHASECTL_TOKEN")
	}
	if *token == "" {
		return nil, exit(ExitUsage, "--token: the server's operator token is required (or set PHASECTL_TOKEN)")
	}
	return newClient(server)
}

// addPluginAdminCmds adds upload, pin, unpin and remove to the plugins command.
func addPluginAdminCmds(plugins *cobra.Command, env Env) {
	plugins.AddCommand(newUploadCmd(env), newPinCmd(env), newUnpinCmd(env), newRemoveCmd(env))
}

// uploadedPlugin is the part of the answer of POST /v1/plugins that upload
// prints.
type uploadedPlugin struct {
	Name    string            `json:"name"`
	Version string            `json:"version"`
	Stage   string            `json:"stage"`
	Phases  []json.RawMessage `json:"phases"`
	SHA256  string            `json:"sha256"`
	Size    int               `json:"size"`
}

func (c *client) upload(ctx context.Context, token string, wasm []byte) (uploadedPlugin, []byte, error) {
	var p uploadedPlugin
	b, err := c.send(ctx, http.MethodPost, "/v1/plugins", token, "application/wasm", bytes.NewReader(wasm), &p)
	return p, b, err
}

func newUploadCmd(env Env) *cobra.Command {
	var server, token string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "upload --server URL --token T FILE.wasm",
		Short: "Upload a plugin module to a phasehost (operator)",
		Long: `upload sends a packed module (POST /v1/plugins, application/wasm) with the
server's operator token. The server validates and compiles it completely before
its registry changes: a module it refuses never displaces a working version.
A module of a name and version already loaded replaces it; jobs that hold the
old one keep it. On a cluster (--redis) the other nodes load it too.

On success it prints the loaded plugin: name@version, its phases, size and
sha256 (--json: the server's answer). A refused module prints every problem,
one per line on stderr as "FILE: field.path: message", as plugin validate does,
and exits 1.

Exit status: 0 loaded, 1 the module was refused (invalid_plugin) or the server
could not be reached or failed, 2 bad usage or a request the server refused
(missing or bad operator token, plugin administration disabled, module too
large), with the server's message on stderr.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			wasm, err := os.ReadFile(file)
			if err != nil {
				return exit(ExitUsage, "%v", err)
			}
			c, err := operatorClient(env, server, &token)
			if err != nil {
				return err
			}
			c.http.Timeout = uploadTimeout
			p, raw, err := c.upload(cmd.Context(), token, wasm)
			if ae, ok := errors.AsType[*apiError](err); ok && ae.Code == "invalid_plugin" {
				fmt.Fprintf(env.Stderr, "%s: refused by the server (invalid_plugin): %s\n", file, ae.Message)
				for _, pr := range ae.Problems {
					if pr.Path == "" {
						fmt.Fprintf(env.Stderr, "%s: %s\n", file, pr.Message)
						continue
					}
					fmt.Fprintf(env.Stderr, "%s: %s: %s\n", file, pr.Path, pr.Message)
				}
				return silentExit(ExitFailed)
			}
			if err != nil {
				return exitFor(err)
			}
			if asJSON {
				fmt.Fprintf(env.Stdout, "%s\n", strings.TrimSpace(string(raw)))
				return nil
			}
			fmt.Fprintf(env.Stdout, "uploaded %s@%s (stage %s, %d phases, %d bytes, sha256 %s)\n",
				p.Name, p.Version, p.Stage, len(p.Phases), p.Size, p.SHA256)
			return nil
		},
	}
	serverFlag(cmd, env, &server)
	tokenFlag(cmd, &token)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the server's JSON answer")
	return cmd
}

// activeAnswer is the answer of PUT and DELETE /v1/plugins/:name/active.
type activeAnswer struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Pinned  bool   `json:"pinned"`
}

func activePath(name string) string { return "/v1/plugins/" + url.PathEscape(name) + "/active" }

func (c *client) pin(ctx context.Context, token, name, version string) (activeAnswer, error) {
	var a activeAnswer
	_, err := c.do(ctx, http.MethodPut, activePath(name), token, map[string]string{"version": version}, &a)
	return a, err
}

func (c *client) unpin(ctx context.Context, token, name string) (activeAnswer, error) {
	var a activeAnswer
	_, err := c.do(ctx, http.MethodDelete, activePath(name), token, nil, &a)
	return a, err
}

func (c *client) remove(ctx context.Context, token, name, version string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/plugins/"+url.PathEscape(name)+"/"+url.PathEscape(version), token, nil, nil)
	return err
}

// printActive prints the version a bare name now resolves to.
func printActive(w io.Writer, a activeAnswer) {
	how := "the highest version loaded"
	if a.Pinned {
		how = "pinned"
	}
	fmt.Fprintf(w, "%s: new jobs run %s@%s (%s)\n", a.Name, a.Name, a.Version, how)
}

func newPinCmd(env Env) *cobra.Command {
	var server, token string
	cmd := &cobra.Command{
		Use:   "pin --server URL --token T NAME VERSION",
		Short: "Pin the version a bare plugin name resolves to (operator)",
		Long: `pin makes new jobs that name the plugin without a version (or with a range
that admits it) run VERSION, even when a higher one is loaded: a rollback
(PUT /v1/plugins/NAME/active). Jobs already accepted keep the version they
resolved. On a cluster (--redis) every node applies the pin. unpin undoes it.

It prints the version new jobs now run. VERSION must be loaded (see plugins).` + operatorExit,
		Args: cobra.ExactArgs(2),
		RunE: setActive(env, &server, &token, func(ctx context.Context, c *client, args []string) (activeAnswer, error) {
			return c.pin(ctx, token, args[0], args[1])
		}),
	}
	serverFlag(cmd, env, &server)
	tokenFlag(cmd, &token)
	return cmd
}

// setActive is the RunE of pin and unpin: call changes the active version,
// and the answer is printed.
func setActive(env Env, server, token *string, call func(context.Context, *client, []string) (activeAnswer, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := operatorClient(env, *server, token)
		if err != nil {
			return err
		}
		a, err := call(cmd.Context(), c, args)
		if err != nil {
			return exitFor(err)
		}
		printActive(env.Stdout, a)
		return nil
	}
}

func newUnpinCmd(env Env) *cobra.Command {
	var server, token string
	cmd := &cobra.Command{
		Use:   "unpin --server URL --token T NAME",
		Short: "Unpin a plugin: its highest version serves new jobs again (operator)",
		Long: `unpin removes an operator's pin of NAME (DELETE /v1/plugins/NAME/active): a
bare name resolves to the highest version loaded again. Unpinning a plugin that
is not pinned changes nothing. On a cluster (--redis) every node applies it.

It prints the version new jobs now run.` + operatorExit,
		Args: cobra.ExactArgs(1),
		RunE: setActive(env, &server, &token, func(ctx context.Context, c *client, args []string) (activeAnswer, error) {
			return c.unpin(ctx, token, args[0])
		}),
	}
	serverFlag(cmd, env, &server)
	tokenFlag(cmd, &token)
	return cmd
}

func newRemoveCmd(env Env) *cobra.Command {
	var server, token string
	cmd := &cobra.Command{
		Use:   "remove --server URL --token T NAME VERSION",
		Short: "Remove a plugin version from a phasehost (operator)",
		Long: `remove unloads one version of a plugin (DELETE /v1/plugins/NAME/VERSION).
New jobs can no longer resolve it; jobs that already did (running or queued)
carry on with it, and its compiled code is freed when the last of them ends. On
a cluster (--redis) every node removes it.` + operatorExit,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version := args[0], args[1]
			if version == "active" { // that route is unpin
				return exit(ExitUsage, "%q is not a version: to unpin, use plugins unpin %s", version, name)
			}
			c, err := operatorClient(env, server, &token)
			if err != nil {
				return err
			}
			if err := c.remove(cmd.Context(), token, name, version); err != nil {
				return exitFor(err)
			}
			fmt.Fprintf(env.Stdout, "removed %s@%s\n", name, version)
			return nil
		},
	}
	serverFlag(cmd, env, &server)
	tokenFlag(cmd, &token)
	return cmd
}

// nodeEntry is one node of GET /v1/nodes.
type nodeEntry struct {
	ID          string    `json:"id"`
	Addr        string    `json:"addr"`
	Started     time.Time `json:"started"`
	Updated     time.Time `json:"updated"`
	Version     string    `json:"version"`
	Plugins     int       `json:"plugins"`
	RunningJobs int       `json:"running_jobs"`
	Self        bool      `json:"self"`
}

func (c *client) nodes(ctx context.Context) ([]nodeEntry, []byte, error) {
	var out struct {
		Nodes []nodeEntry `json:"nodes"`
	}
	b, err := c.do(ctx, http.MethodGet, "/v1/nodes", "", nil, &out)
	return out.Nodes, b, err
}

func newNodesCmd(env Env) *cobra.Command {
	var server string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "nodes --server URL [--json]",
		Short: "List the live nodes of a phasehost cluster",
		Long: `nodes lists the live nodes (GET /v1/nodes): with --redis, every node whose
heartbeat is live; on the memory engine, the node alone. Columns: the node
answering ("*"), id, --addr, version, plugin versions loaded, jobs running,
start time (UTC) and the age of its last heartbeat. --json prints the server's
answer.

Exit status: 0 listed, 1 the server could not be reached or failed (e.g. its
Redis), 2 bad usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(server)
			if err != nil {
				return err
			}
			list, raw, err := c.nodes(cmd.Context())
			if err != nil {
				return exitFor(err)
			}
			if asJSON {
				fmt.Fprintf(env.Stdout, "%s\n", strings.TrimSpace(string(raw)))
				return nil
			}
			return nodeTable(env.Stdout, list, time.Now())
		},
	}
	serverFlag(cmd, env, &server)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the server's JSON answer")
	return cmd
}

func nodeTable(w io.Writer, list []nodeEntry, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, " \tID\tADDR\tVERSION\tPLUGINS\tRUNNING\tSTARTED\tHEARTBEAT")
	for _, n := range list {
		self := ""
		if n.Self {
			self = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", self, orDash(n.ID), orDash(n.Addr), orDash(n.Version),
			n.Plugins, n.RunningJobs, n.Started.UTC().Format(time.RFC3339), heartbeatAge(now, n.Updated))
	}
	return tw.Flush()
}

// heartbeatAge is how long ago t was, e.g. "1.2s ago" (never negative: the
// clocks of nodes differ a little).
func heartbeatAge(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := max(now.Sub(t), 0)
	if d < time.Minute {
		return fmt.Sprintf("%.1fs ago", d.Seconds())
	}
	return d.Round(time.Second).String() + " ago"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
