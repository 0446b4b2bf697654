package plugin

import (
	"fmt"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/wasmbin"
	"github.com/phasehost/phasehost/sdk/go/abi"
)

// checkModule checks a module's imports and exports against ABI v1. wasi is the
// runtime's WASI module, whose exports are the WASI functions a plugin may import.
func checkModule(mod *wasmbin.Module, wasi map[string]api.FunctionDefinition, memLimitPages uint32) (problems []manifest.Problem, hasInit bool) {
	add := func(path, format string, args ...any) {
		problems = append(problems, manifest.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	for i, imp := range mod.Imports {
		path := fmt.Sprintf("imports[%d]", i)
		what := fmt.Sprintf("%q.%q", imp.Module, imp.Name)
		if imp.Kind != wasmbin.KindFunc {
			add(path, "%s imports a %s; a plugin imports only functions", what, wasmbin.KindName(imp.Kind))
			continue
		}
		got, ok := mod.FuncTypeOf(funcIndexOfImport(mod, i))
		if !ok {
			add(path, "%s has an out-of-range type index %d", what, imp.TypeIndex)
			continue
		}
		switch imp.Module {
		case abi.ModuleName:
			want, ok := abi.HostFunction(imp.Name)
			if !ok {
				add(path, "%s is not an ABI v%d host function (%s)", what, abi.Version, strings.Join(abi.HostFunctionNames(), ", "))
				continue
			}
			if !sameSignature(got, want.Params, want.Results) {
				add(path, "%s has signature %s, want %s", what, sigString(got), want)
			}
		case abi.WASIModuleName:
			def, ok := wasi[imp.Name]
			if !ok {
				add(path, "%s is not a WASI preview1 function this host provides", what)
				continue
			}
			if !sameSignature(got, toValTypes(def.ParamTypes()), toValTypes(def.ResultTypes())) {
				add(path, "%s has signature %s, want %s", what, sigString(got), abi.Signature{Params: toValTypes(def.ParamTypes()), Results: toValTypes(def.ResultTypes())})
			}
		default:
			add(path, "%s: module %q cannot be imported; a plugin imports only from %q and %q", what, imp.Module, abi.ModuleName, abi.WASIModuleName)
		}
	}

	for _, sec := range mod.Sections {
		if sec.ID == wasmbin.SectionStart {
			add("start", "a plugin must not have a start function: it would run during instantiation, before the host can limit it; export _initialize instead")
		}
	}
	for i, m := range mod.Memories {
		if m.Min > memLimitPages {
			add(fmt.Sprintf("memories[%d]", i), "declares %d pages (%d MiB) at start, over the plugin's memory limit of %d MiB (limits.memory_mb, capped by the operator's policy)",
				m.Min, m.Min/16, memLimitPages/16)
		}
	}
	mem, ok := mod.Export(abi.ExportMemory)
	switch {
	case !ok:
		add("exports.memory", "missing; a plugin exports its memory as \"memory\"")
	case mem.Kind != wasmbin.KindMemory:
		add("exports.memory", "is a %s, want a memory", wasmbin.KindName(mem.Kind))
	}
	checkFunc := func(name string, results []abi.ValType, required bool) bool {
		path := "exports." + name
		want := abi.Signature{Results: results}
		ex, ok := mod.Export(name)
		if !ok {
			if required {
				add(path, "missing; a plugin exports %s: %s", name, want)
			}
			return false
		}
		if ex.Kind != wasmbin.KindFunc {
			add(path, "is a %s, want a function %s", wasmbin.KindName(ex.Kind), want)
			return false
		}
		got, ok := mod.FuncTypeOf(ex.Index)
		if !ok {
			add(path, "refers to function %d, which does not exist", ex.Index)
			return false
		}
		if !sameSignature(got, nil, results) {
			add(path, "has signature %s, want %s", sigString(got), want)
			return false
		}
		return true
	}
	checkFunc(abi.ExportRun, []abi.ValType{abi.I32}, true)
	hasInit = checkFunc(abi.ExportInitialize, nil, false)
	return problems, hasInit
}

// funcIndexOfImport returns the function index of the i-th import (a function).
func funcIndexOfImport(mod *wasmbin.Module, i int) uint32 {
	var n uint32
	for _, imp := range mod.Imports[:i] {
		if imp.Kind == wasmbin.KindFunc {
			n++
		}
	}
	return n
}

func sameSignature(got wasmbin.FuncType, params, results []abi.ValType) bool {
	return sameTypes(got.Params, params) && sameTypes(got.Results, results)
}

func sameTypes(got []byte, want []abi.ValType) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != byte(want[i]) {
			return false
		}
	}
	return true
}

func toValTypes(ts []api.ValueType) []abi.ValType {
	out := make([]abi.ValType, len(ts))
	for i, t := range ts {
		out[i] = abi.ValType(t)
	}
	return out
}

func sigString(ft wasmbin.FuncType) string {
	s := abi.Signature{}
	for _, t := range ft.Params {
		s.Params = append(s.Params, abi.ValType(t))
	}
	for _, t := range ft.Results {
		s.Results = append(s.Results, abi.ValType(t))
	}
	return s.String()
}
