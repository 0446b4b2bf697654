package ctl

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// okV2 packs the ok test module as ok@2.0.0 and returns its path.
func okV2(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	m, err := os.ReadFile(filepath.Join(modules, "valid/ok.manifest.json"))
	require.NoError(t, err)
	m = bytes.Replace(m, []byte(`"version": "1.0.0"`), []byte(`"version": "2.0.0"`), 1)
	mp, out := filepath.Join(dir, "ok2.manifest.json"), filepath.Join(dir, "ok2.wasm")
	require.NoError(t, os.WriteFile(mp, m, 0o644))
	r := phasectl(t, "plugin", "pack", "--manifest", mp, "--module", filepath.Join(modules, "valid/ok.wasm"), "-o", out)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "ok@2.0.0")
	return out
}

// pluginRows lists the server's plugins with phasectl plugins: the ACTIVE
// column ("", "active" or "pinned") by name@version.
func pluginRows(t *testing.T, e *remoteEnv) map[string]string {
	t.Helper()
	r := phasectl(t, "plugins", "--server", e.url)
	require.Equal(t, ExitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Equal(t, []string{"NAME", "VERSION", "STAGE", "ACTIVE", "PHASES"}, strings.Fields(lines[0]))
	rows := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		switch len(f) {
		case 4: // ACTIVE empty
			rows[f[0]+"@"+f[1]] = ""
		case 5:
			rows[f[0]+"@"+f[1]] = f[3]
		default:
			t.Fatalf("plugins row %q", l)
		}
	}
	return rows
}

// Upload a second version, pin the first, unpin, remove: each prints what the
// server answered and plugins shows it.
func TestPluginsUploadPinUnpinRemove(t *testing.T) {
	e := newRemoteEnv(t)
	v2 := okV2(t)
	wasm, err := os.ReadFile(v2)
	require.NoError(t, err)
	sum := sha256.Sum256(wasm)

	r := phasectl(t, "plugins", "upload", "--server", e.url, "--token", "operator", v2)
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "uploaded ok@2.0.0 (stage test, 3 phases, "+strconv.Itoa(len(wasm))+" bytes, sha256 "+hex.EncodeToString(sum[:])+")\n", r.stdout)
	assert.Empty(t, r.stderr)
	assert.Equal(t, map[string]string{"ok@1.0.0": "", "ok@2.0.0": "active", "cancel@1.0.0": "active"}, pluginRows(t, e))

	// --json: the server's answer; the token from PHASECTL_TOKEN; the flags
	// before the subcommand.
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"plugins", "--server", e.url, "upload", "--json", v2},
		Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
			if k == "PHASECTL_TOKEN" {
				return "operator"
			}
			return ""
		}})
	require.Equal(t, ExitOK, code, errb.String())
	var up struct{ Name, Version, SHA256 string }
	require.NoError(t, json.Unmarshal(out.Bytes(), &up), out.String())
	assert.Equal(t, "ok", up.Name)
	assert.Equal(t, "2.0.0", up.Version)
	assert.Equal(t, hex.EncodeToString(sum[:]), up.SHA256)

	r = phasectl(t, "plugins", "pin", "--server", e.url, "--token", "operator", "ok", "1.0.0")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "ok: new jobs run ok@1.0.0 (pinned)\n", r.stdout)
	assert.Equal(t, map[string]string{"ok@1.0.0": "pinned", "ok@2.0.0": "", "cancel@1.0.0": "active"}, pluginRows(t, e))

	// A version that is not loaded: the server's message, exit 2, no change.
	r = phasectl(t, "plugins", "pin", "--server", e.url, "--token", "operator", "ok", "9.9.9")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "plugin_not_found")
	assert.Contains(t, r.stderr, "9.9.9")
	assert.Empty(t, r.stdout)
	assert.Equal(t, "pinned", pluginRows(t, e)["ok@1.0.0"])

	r = phasectl(t, "plugins", "unpin", "--server", e.url, "--token", "operator", "ok")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "ok: new jobs run ok@2.0.0 (the highest version loaded)\n", r.stdout)
	assert.Equal(t, map[string]string{"ok@1.0.0": "", "ok@2.0.0": "active", "cancel@1.0.0": "active"}, pluginRows(t, e))

	r = phasectl(t, "plugins", "remove", "--server", e.url, "--token", "operator", "ok", "2.0.0")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "removed ok@2.0.0\n", r.stdout)
	assert.Equal(t, map[string]string{"ok@1.0.0": "active", "cancel@1.0.0": "active"}, pluginRows(t, e))

	r = phasectl(t, "plugins", "remove", "--server", e.url, "--token", "operator", "ok", "2.0.0")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "plugin_not_found")
	assert.Contains(t, r.stderr, "ok@2.0.0 is not loaded")

	r = phasectl(t, "plugins", "unpin", "--server", e.url, "--token", "operator", "nope")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "plugin_not_found")

	// "active" would be the unpin route.
	r = phasectl(t, "plugins", "remove", "--server", e.url, "--token", "operator", "ok", "active")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "plugins unpin ok")
}

// Every invalid test module is refused by the server with the same problems,
// one per line, as plugin validate prints; exit 1, nothing loaded.
func TestPluginsUploadInvalidPrintsEveryProblem(t *testing.T) {
	e := newRemoteEnv(t)
	files, err := filepath.Glob(filepath.Join(modules, "invalid", "*.wasm"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	before := pluginRows(t, e)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			v := phasectl(t, "plugin", "validate", f)
			require.Equal(t, ExitFailed, v.code, v.stderr)
			want := strings.Split(strings.TrimSpace(v.stderr), "\n")[1:] // after "FILE: ... refused, N problem(s):"
			require.NotEmpty(t, want, v.stderr)

			r := phasectl(t, "plugins", "upload", "--server", e.url, "--token", "operator", f)
			assert.Equal(t, ExitFailed, r.code, r.stderr)
			assert.Empty(t, r.stdout)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			require.NotEmpty(t, lines)
			assert.True(t, strings.HasPrefix(lines[0], f+": refused by the server (invalid_plugin): "), lines[0])
			assert.Contains(t, lines[0], "problem")
			assert.Equal(t, want, lines[1:])
		})
	}
	assert.Equal(t, before, pluginRows(t, e), "a refused module changes nothing")

	// The eleven problems of many_problems, each on its own line.
	f := filepath.Join(modules, "invalid", "many_problems.wasm")
	r := phasectl(t, "plugins", "upload", "--server", e.url, "--token", "operator", f)
	assert.Equal(t, ExitFailed, r.code)
	assert.Equal(t, 1+11, strings.Count(r.stderr, "\n"), r.stderr)
	assert.Contains(t, r.stderr, "11 problems\n")
	assert.Contains(t, r.stderr, f+": version: \"1.x\" is not a semantic version")
	assert.Contains(t, r.stderr, f+": exports.run: missing")
}

// Without the operator token, or with a wrong one: exit 2, the server's
// message, nothing changed.
func TestOperatorCommandsNeedTheToken(t *testing.T) {
	e := newRemoteEnv(t)
	v2 := okV2(t)
	before := pluginRows(t, e)
	cmds := map[string][]string{
		"upload": {"plugins", "upload", "--server", e.url, v2},
		"pin":    {"plugins", "pin", "--server", e.url, "ok", "1.0.0"},
		"unpin":  {"plugins", "unpin", "--server", e.url, "ok"},
		"remove": {"plugins", "remove", "--server", e.url, "ok", "1.0.0"},
	}
	what := map[string]string{
		"upload": "uploading a plugin needs the operator token",
		"pin":    "pinning a plugin version needs the operator token",
		"unpin":  "unpinning a plugin version needs the operator token",
		"remove": "removing a plugin needs the operator token",
	}
	for name, args := range cmds {
		t.Run(name, func(t *testing.T) {
			r := phasectl(t, args...)
			assert.Equal(t, ExitUsage, r.code)
			assert.Contains(t, r.stderr, "--token")
			assert.Contains(t, r.stderr, "PHASECTL_TOKEN")
			assert.Empty(t, r.stdout)

			r = phasectl(t, append(args, "--token", "not-the-token")...)
			assert.Equal(t, ExitUsage, r.code)
			assert.Contains(t, r.stderr, what[name])
			assert.Contains(t, r.stderr, "forbidden, HTTP 403")
			assert.Empty(t, r.stdout)
		})
	}
	assert.Equal(t, before, pluginRows(t, e))

	// Bad usage: argument counts, a file that is not there.
	for _, args := range [][]string{
		{"plugins", "upload", "--server", e.url, "--token", "operator"},
		{"plugins", "pin", "--server", e.url, "--token", "operator", "ok"},
		{"plugins", "remove", "--server", e.url, "--token", "operator", "ok"},
		{"plugins", "unpin", "--server", e.url, "--token", "operator"},
		{"plugins", "upload", "--server", e.url, "--token", "operator", filepath.Join(t.TempDir(), "none.wasm")},
		{"plugins", "upload", "--token", "operator", v2},
		{"nodes", "extra", "--server", e.url},
	} {
		r := phasectl(t, args...)
		assert.Equal(t, ExitUsage, r.code, "%v: %s", args, r.stderr)
		assert.NotEmpty(t, r.stderr, args)
	}
}

func TestNodesTableAndJSON(t *testing.T) {
	e := newRemoteEnv(t)
	r := phasectl(t, "nodes", "--server", e.url, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var doc struct {
		Node  string      `json:"node"`
		Nodes []nodeEntry `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc), r.stdout)
	require.Len(t, doc.Nodes, 1, "the memory engine: this node alone")
	n := doc.Nodes[0]
	assert.Equal(t, doc.Node, n.ID)
	assert.True(t, n.Self)
	assert.Equal(t, 2, n.Plugins, "ok and cancel")

	r = phasectl(t, "nodes", "--server", e.url)
	require.Equal(t, ExitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	require.Len(t, lines, 2, r.stdout)
	assert.Equal(t, []string{"ID", "ADDR", "VERSION", "PLUGINS", "RUNNING", "STARTED", "HEARTBEAT"}, strings.Fields(lines[0]))
	f := strings.Fields(lines[1])
	require.Len(t, f, 9, lines[1]) // "*", 6 columns, "N.Ns", "ago"
	assert.Equal(t, "*", f[0])
	assert.Equal(t, n.ID, f[1])
	assert.Equal(t, orDash(n.Addr), f[2])
	assert.Equal(t, orDash(n.Version), f[3])
	assert.Equal(t, "2", f[4])
	assert.Equal(t, "0", f[5])
	assert.Equal(t, n.Started.UTC().Format(time.RFC3339), f[6])
	assert.Regexp(t, `^\d+(\.\d)?s$|^[\dhms]+$`, f[7])
	assert.Equal(t, "ago", f[8])
}

// The table from fixed answers: the answering node starred, ages from now,
// empty fields as "-".
func TestNodeTable(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	require.NoError(t, nodeTable(&b, []nodeEntry{
		{ID: "a1", Addr: ":8080", Version: "1.4.0", Plugins: 3, RunningJobs: 2, Self: true,
			Started: now.Add(-time.Hour), Updated: now.Add(-1200 * time.Millisecond)},
		{ID: "b2", Plugins: 3, Started: now.Add(-2 * time.Hour), Updated: now.Add(-125 * time.Second)},
		{ID: "c3", Addr: "10.0.0.3:8080", Version: "1.4.0", Started: now, Updated: now.Add(time.Second)}, // a clock ahead
	}, now))
	assert.Equal(t, strings.Join([]string{
		"   ID  ADDR           VERSION  PLUGINS  RUNNING  STARTED               HEARTBEAT",
		"*  a1  :8080          1.4.0    3        2        2025-03-01T11:00:00Z  1.2s ago",
		"   b2  -              -        3        0        2025-03-01T10:00:00Z  2m5s ago",
		"   c3  10.0.0.3:8080  1.4.0    0        0        2025-03-01T12:00:00Z  0.0s ago",
	}, "\n")+"\n", b.String())
}
