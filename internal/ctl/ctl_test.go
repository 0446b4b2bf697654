package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/internal/refplugins"
)

const modules = "../../testdata/modules"

type result struct {
	code           int
	stdout, stderr string
}

func phasectl(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	return result{code, out.String(), errb.String()}
}

// pluginDir writes the reference plugins to a directory, as make build does.
func pluginDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range refplugins.Modules(t) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".wasm"), b, 0o644))
	}
	return dir
}

// The "done when": events seq 1..N, all 15 seed phases, a final
// succeeded job event with the result.
func TestRunBracket(t *testing.T) {
	dir := pluginDir(t)
	r := phasectl(t, "run", "--plugins", dir, "--pipeline", "assembly4,material,topology", "--input", "../../examples/bracket.json", "--events", "-")
	require.Equal(t, ExitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	phases := map[string]bool{}
	var last map[string]any
	for i, l := range lines {
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &ev), l)
		assert.Equal(t, float64(i+1), ev["seq"])
		if p, ok := ev["source_phase"].(string); ok {
			phases[p] = true
		}
		last = ev
	}
	assert.Len(t, phases, 15)
	assert.Equal(t, "job", last["type"])
	assert.Equal(t, "succeeded", last["status"])
	assert.Contains(t, last["result"], "topology")

	// -o writes the output; without --events stdout is empty.
	out := filepath.Join(t.TempDir(), "out.json")
	r = phasectl(t, "run", "--plugins", dir, "--pipeline", "assembly4,material@1.0.0,topology@^1", "--input", "../../examples/bracket.json", "-o", out)
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.True(t, json.Valid(b))
}

func TestRunExitCodes(t *testing.T) {
	input := filepath.Join(t.TempDir(), "in.json")
	require.NoError(t, os.WriteFile(input, []byte(`{"a":1}`), 0o644))
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"hostile module fails the job", []string{"run", "--plugins", modules + "/hostile/trap.wasm", "--pipeline", "trap", "--input", input}, ExitFailed,
			"job failed: trap@1.0.0: trap: unreachable"},
		{"timeout", []string{"run", "--plugins", modules + "/hostile/endless_loop.wasm", "--pipeline", "endless-loop", "--input", input}, ExitFailed,
			"timeout: exceeded its 200ms timeout"},
		{"plugin that does not load", []string{"run", "--plugins", modules + "/invalid/maps_to_undeclared.wasm", "--pipeline", "maps-to-undeclared", "--input", input}, ExitUsage,
			`phases[1].maps_to: "LIBRARY_LOAD_START" is not a unified phase (START, PROGRESS, END)`},
		{"unknown plugin", []string{"run", "--plugins", modules + "/valid", "--pipeline", "nope", "--input", input}, ExitUsage,
			`pipeline entry "nope": plugin not found: no plugin named "nope" (loaded: none)`},
		{"unknown version", []string{"run", "--plugins", modules + "/valid", "--pipeline", "ok@2.0.0", "--input", input}, ExitUsage,
			`ok has no version 2.0.0 (loaded: 1.0.0)`},
		{"input not JSON", []string{"run", "--plugins", modules + "/valid", "--pipeline", "ok", "--input", "ctl_test.go"}, ExitUsage, "not a JSON document"},
		{"missing flag", []string{"run", "--plugins", modules + "/valid", "--input", input}, ExitUsage, `required flag(s) "pipeline" not set`},
		{"unknown command", []string{"frobnicate"}, ExitUsage, `unknown command "frobnicate"`},
		{"ok", []string{"run", "--plugins", modules + "/valid", "--pipeline", "ok", "--input", input}, ExitOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := phasectl(t, tc.args...)
			assert.Equal(t, tc.code, r.code, "stderr: %s", r.stderr)
			assert.Contains(t, r.stderr, tc.want)
		})
	}
}

func TestValidate(t *testing.T) {
	r := phasectl(t, "plugin", "validate", modules+"/valid/ok.wasm")
	assert.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "ok: ok@1.0.0, 3 phases")

	r = phasectl(t, "plugin", "validate", modules+"/invalid/many_problems.wasm")
	assert.Equal(t, ExitFailed, r.code)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	assert.Len(t, lines, 12, "a summary and one line per problem:\n%s", r.stderr)
	assert.Contains(t, r.stderr, modules+`/invalid/many_problems.wasm: phases[2].maps_to: "LIBRARY_LOAD_START" is not a unified phase (START, PROGRESS, END)`)

	// Every invalid module: exit 1, and a problem line naming a field.
	files, _ := filepath.Glob(modules + "/invalid/*.wasm")
	for _, f := range files {
		r := phasectl(t, "plugin", "validate", f)
		assert.Equal(t, ExitFailed, r.code, f)
		assert.Contains(t, r.stderr, f+": ", f)
	}
}

func TestPackInspectGen(t *testing.T) {
	dir := t.TempDir()
	// Strip nothing: pack replaces the section of an already packed module.
	out := filepath.Join(dir, "ok.wasm")
	man := filepath.Join(dir, "plugin.yaml")
	require.NoError(t, os.WriteFile(man, []byte(`abi: 1
name: ok
version: 1.1.0
stage: test
description: repacked
phases:
  - {name: OK_READ_START, step: read, maps_to: START}
  - {name: OK_READ_PROGRESS, step: read, maps_to: PROGRESS}
  - {name: OK_READ_END, step: read, maps_to: END}
`), 0o644))
	r := phasectl(t, "plugin", "pack", "--manifest", man, "--module", modules+"/valid/ok.wasm", "-o", out)
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "packed ok@1.1.0 (3 phases)")

	r = phasectl(t, "plugin", "inspect", out)
	require.Equal(t, ExitOK, r.code, r.stderr)
	var info struct {
		Manifest struct{ Version string }
		Imports  []string
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &info))
	assert.Equal(t, "1.1.0", info.Manifest.Version)
	assert.Contains(t, info.Imports, "phasehost.emit")

	// A manifest with the seed's bug is refused by pack, and nothing is written.
	require.NoError(t, os.WriteFile(man, []byte("abi: 1\nname: ok\nversion: 1.0.0\nstage: t\ndescription: d\nphases: [{name: A, step: a, maps_to: LIBRARY_LOAD_START}]\n"), 0o644))
	bad := filepath.Join(dir, "bad.wasm")
	r = phasectl(t, "plugin", "pack", "--manifest", man, "--module", modules+"/valid/ok.wasm", "-o", bad)
	assert.Equal(t, ExitFailed, r.code)
	assert.Contains(t, r.stderr, `phases[0].maps_to: "LIBRARY_LOAD_START" is not a unified phase`)
	assert.NoFileExists(t, bad)

	// gen reproduces the committed phase constants of each reference plugin.
	for _, name := range refplugins.Names() {
		r = phasectl(t, "plugin", "gen", "--manifest", "../../plugins/"+name+"/plugin.yaml", "--package", "phases")
		require.Equal(t, ExitOK, r.code, r.stderr)
		want, err := os.ReadFile("../../plugins/" + name + "/phases/phases_gen.go")
		require.NoError(t, err)
		assert.Equal(t, string(want), r.stdout, "plugins/%s/phases/phases_gen.go is stale: run make gen", name)
	}
}

func TestExample(t *testing.T) {
	r := phasectl(t, "example")
	require.Equal(t, ExitOK, r.code)
	want, err := os.ReadFile("../../examples/bracket.json")
	require.NoError(t, err)
	assert.Equal(t, string(want), r.stdout)
	r = phasectl(t, "example", "--parts", "20", "--detail", "6")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var doc struct{ Parts []json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc))
	assert.Len(t, doc.Parts, 20)
}
