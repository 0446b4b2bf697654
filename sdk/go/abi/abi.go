// Package abi is the vocabulary of Phasehost's plugin ABI v1: the import module
// name, the names of the host functions, their status codes, the manifest custom
// section and the fixed limits. It is a leaf: it imports nothing of the project,
// so the host, the SDK and tools can all share one source of truth.
//
// The language-neutral description of the ABI is sdk/ABI.md.
package abi

// Version is the ABI version this package describes. A manifest's "abi" field
// must equal it.
const Version = 1

// ModuleName is the import module the host functions live in.
const ModuleName = "phasehost"

// WASIModuleName is the only other import module a plugin may use.
const WASIModuleName = "wasi_snapshot_preview1"

// ManifestSection is the name of the wasm custom section holding the manifest JSON.
const ManifestSection = "phasehost.manifest"

// Host function names (imports from ModuleName).
const (
	FuncInputLen    = "input_len"
	FuncInputRead   = "input_read"
	FuncOutputWrite = "output_write"
	FuncEmit        = "emit"
	FuncLog         = "log"
	FuncFail        = "fail"
	FuncCancelled   = "cancelled"
)

// Guest exports.
const (
	ExportMemory     = "memory"
	ExportRun        = "run"
	ExportInitialize = "_initialize"
)

// ValType is a wasm value type as it appears in a host function signature.
type ValType byte

// Value types used by ABI v1.
const (
	I32 ValType = 0x7f
	I64 ValType = 0x7e
)

// String returns the wasm text name of the type.
func (v ValType) String() string {
	switch v {
	case I32:
		return "i32"
	case I64:
		return "i64"
	case 0x7d:
		return "f32"
	case 0x7c:
		return "f64"
	case 0x7b:
		return "v128"
	case 0x70:
		return "funcref"
	case 0x6f:
		return "externref"
	}
	return "unknown"
}

// Signature is the parameter and result types of a function.
type Signature struct {
	Params  []ValType
	Results []ValType
}

// String renders the signature as "(i32, i64) -> i32".
func (s Signature) String() string {
	return typeList(s.Params) + " -> " + typeList(s.Results)
}

func typeList(ts []ValType) string {
	out := "("
	for i, t := range ts {
		if i > 0 {
			out += ", "
		}
		out += t.String()
	}
	return out + ")"
}

// HostFunction returns the exact signature of the ABI v1 host function name,
// and false when ABI v1 has no such function. A plugin may import any subset of
// the host functions, and nothing else from ModuleName.
func HostFunction(name string) (Signature, bool) {
	switch name {
	case FuncInputLen:
		return Signature{Results: []ValType{I32}}, true
	case FuncInputRead:
		return Signature{Params: []ValType{I32}}, true
	case FuncOutputWrite:
		return Signature{Params: []ValType{I32, I32}, Results: []ValType{I32}}, true
	case FuncEmit:
		return Signature{Params: []ValType{I32, I64, I64, I32, I32}, Results: []ValType{I32}}, true
	case FuncLog:
		return Signature{Params: []ValType{I32, I32, I32}}, true
	case FuncFail:
		return Signature{Params: []ValType{I32, I32}}, true
	case FuncCancelled:
		return Signature{Results: []ValType{I32}}, true
	}
	return Signature{}, false
}

// HostFunctionNames lists the ABI v1 host functions in a stable order.
func HostFunctionNames() []string {
	return []string{FuncInputLen, FuncInputRead, FuncOutputWrite, FuncEmit, FuncLog, FuncFail, FuncCancelled}
}

// Status codes returned by emit and output_write.
const (
	OK = 0
	// Cancelled is returned by emit when the job was cancelled: the guest should
	// stop and return non-zero from run.
	Cancelled = 1
	// UndeclaredPhase is returned by emit for a phase id outside the manifest.
	UndeclaredPhase = -1
	// BadMessage is returned by emit for a message that is not UTF-8, is longer
	// than MaxMessageBytes, or lies outside guest memory.
	BadMessage = -2
	// EventBudget is returned by emit once max_events events were emitted.
	EventBudget = -3
	// OutputLimit is returned by output_write when the output would exceed
	// max_output_bytes.
	OutputLimit = -1
)

// MaxMessageBytes is the longest emit message in bytes.
const MaxMessageBytes = 1024

// Log levels for the log host function.
const (
	LevelDebug = 0
	LevelInfo  = 1
	LevelWarn  = 2
	LevelError = 3
)

// Unified phases every declared phase maps to.
const (
	PhaseStart    = "START"
	PhaseProgress = "PROGRESS"
	PhaseEnd      = "END"
)

// UnifiedPhases lists the unified phases in order.
func UnifiedPhases() []string { return []string{PhaseStart, PhaseProgress, PhaseEnd} }
