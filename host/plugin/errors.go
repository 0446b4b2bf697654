package plugin

import (
	"errors"
	"strings"
)

// Causes of a failed run; a *RunError wraps exactly one, so callers test with errors.Is.
var (
	// ErrTrap: the guest trapped (unreachable, division by zero, stack exhaustion, ...).
	ErrTrap = errors.New("trap")
	// ErrTimeout: the run exceeded its timeout.
	ErrTimeout = errors.New("timeout")
	// ErrMemoryLimit: the guest needed memory past its limit.
	ErrMemoryLimit = errors.New("memory limit")
	// ErrOutOfBounds: the guest passed a pointer or length outside its memory.
	ErrOutOfBounds = errors.New("out of bounds")
	// ErrFailed: run returned non-zero.
	ErrFailed = errors.New("failed")
	// ErrExit: the guest exited through WASI proc_exit, or its runtime aborted.
	ErrExit = errors.New("exit")
	// ErrBadOutput: the output is not a JSON document.
	ErrBadOutput = errors.New("bad output")
	// ErrCancelled: the job was cancelled and the run stopped.
	ErrCancelled = errors.New("cancelled")
	// ErrInstantiate: the instance could not be created or initialised.
	ErrInstantiate = errors.New("instantiate")
)

// RunError is the error of a failed run: which plugin, which job, the cause
// (one of the Err* sentinels) and the details, with the wasm stack for traps.
type RunError struct {
	Plugin  string // name@version
	JobID   string
	Cause   error
	Detail  string // what went wrong, e.g. the guest's fail message
	Stack   string // wasm stack trace, when there is one
	Status  int32  // run's return value, for ErrFailed
	Guest   string // the guest's last stderr lines, if any
	wrapped error
}

// Error reads "assembly4@1.0.0: trap: ...".
func (e *RunError) Error() string {
	var b strings.Builder
	b.WriteString(e.Plugin)
	b.WriteString(": ")
	b.WriteString(e.Cause.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Stack != "" {
		b.WriteString("\n")
		b.WriteString(e.Stack)
	}
	return b.String()
}

// Unwrap returns the cause and the underlying error.
func (e *RunError) Unwrap() []error {
	if e.wrapped != nil {
		return []error{e.Cause, e.wrapped}
	}
	return []error{e.Cause}
}

// CauseName is the metric label for the cause.
func (e *RunError) CauseName() string {
	switch e.Cause {
	case ErrMemoryLimit:
		return "memory"
	case ErrOutOfBounds:
		return "out_of_bounds"
	case ErrBadOutput:
		return "output"
	}
	return e.Cause.Error()
}
