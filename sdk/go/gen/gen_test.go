package gen

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var spec = Spec{Package: "phases", Plugin: "material", Version: "1.0.0", Stage: "material", Phases: []Phase{
	{Name: "MATERIAL_RESOLVE_LIBRARY", Step: "resolve_library", MapsTo: "PROGRESS", Description: "one more name"},
	{Name: "MATERIAL_APPLY_START", Step: "apply", MapsTo: "START"},
	{Name: "MATERIAL_APPLY_END", Step: "apply", MapsTo: "END"},
}}

func TestGoName(t *testing.T) {
	for in, want := range map[string]string{"SOLVER_START": "SolverStart", "TOPO_HASH_END": "TopoHashEnd", "A": "A", "X__Y": "XY", "LCS2_DONE": "Lcs2Done"} {
		if got := GoName(in); got != want {
			t.Errorf("GoName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGenerateMemoryMB(t *testing.T) {
	s := spec
	s.MemoryMB = 256
	src, err := Generate(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "\nconst MemoryMB = 256\n") {
		t.Errorf("no MemoryMB = 256 in:\n%s", src)
	}
}

func TestGenerateRefusals(t *testing.T) {
	cases := map[string]Spec{
		`package "1x" is not a Go identifier`:                     {Package: "1x"},
		`phases[1].name: "A__B" and "A_B" both become Go name AB`: {Package: "p", Phases: []Phase{{Name: "A_B"}, {Name: "A__B"}}},
		`phases[0].name: "ALL" collides with generated name All`:  {Package: "p", Phases: []Phase{{Name: "ALL"}}},
	}
	for want, s := range cases {
		_, err := Generate(s)
		if err == nil || err.Error() != want {
			t.Errorf("Generate: got %v, want %q", err, want)
		}
	}
}

// A plugin that names a declared phase compiles; one that names a phase its
// manifest does not declare (the seed's MaterialPhase.LIBRARY_LOAD_START) does
// not, and neither does one that forges a phase value.
func TestUndeclaredPhaseDoesNotCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go programs")
	}
	src, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	sdkDir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	build := func(body string) (string, error) {
		dir := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(dir, "phases"), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "phases", "phases_gen.go"), src, 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/p\n\ngo 1.26\n\nrequire github.com/phasehost/phasehost/sdk/go v0.0.0\n\nreplace github.com/phasehost/phasehost/sdk/go => "+sdkDir+"\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(`package main

import (
	sdk "github.com/phasehost/phasehost/sdk/go"
	"example.com/p/phases"
)

func stage(h sdk.Host) error {
	`+body+`
}

func main() { _ = stage }
`), 0o644))
		cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := build(`return h.Emit(phases.MaterialApplyStart, 0, 10, "go")`); err != nil {
		t.Fatalf("declared phase does not compile: %v\n%s", err, out)
	}
	out, err := build(`return h.Emit(phases.LibraryLoadStart, 0, 10, "go")`)
	if err == nil || !strings.Contains(out, "undefined: phases.LibraryLoadStart") {
		t.Fatalf("undeclared phase compiled (err %v):\n%s", err, out)
	}
	out, err = build(`return h.Emit(phases.Phase{7}, 0, 10, "go")`)
	if err == nil || !strings.Contains(out, "unexported field") && !strings.Contains(out, "implicit assignment") {
		t.Fatalf("forged phase compiled (err %v):\n%s", err, out)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
