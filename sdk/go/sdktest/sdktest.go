// Package sdktest runs Phasehost stages natively, in memory, so that plugin
// logic is tested with plain `go test`. Host enforces the same rules as the
// real host: only declared phases, UTF-8 messages of at most 1024 bytes, the
// event and output budgets, and cancellation.
//
// A Host is used by one stage at a time; read its records after the stage returns.
package sdktest

import (
	"unicode/utf8"

	sdk "github.com/phasehost/phasehost/sdk/go"
	"github.com/phasehost/phasehost/sdk/go/abi"
)

// Event is one accepted emit.
type Event struct {
	PhaseID int32
	Phase   string
	Done    int64
	Total   int64
	Message string
}

// LogLine is one Log call.
type LogLine struct {
	Level   sdk.Level
	Message string
}

// Options tunes a Host. The zero value has no budgets and never cancels.
type Options struct {
	// MaxEvents is the emit budget; 0 means unlimited.
	MaxEvents int
	// MaxOutputBytes caps the output; 0 means unlimited.
	MaxOutputBytes int
	// CancelAfter makes the job cancelled once this many events were accepted;
	// 0 means never.
	CancelAfter int
}

// Host is an in-memory sdk.Host that records what the stage does.
type Host struct {
	input    []byte
	declared map[int32]string
	opts     Options

	events  []Event
	logs    []LogLine
	output  []byte
	failure string
	refused int
}

var _ sdk.Host = (*Host)(nil)

// New returns a Host with the given input whose declared phases are phases
// (normally the generated phases.All()).
func New[P sdk.Phase](input []byte, phases []P, opts Options) *Host {
	h := &Host{input: input, declared: make(map[int32]string, len(phases)), opts: opts}
	for _, p := range phases {
		h.declared[p.PhaseID()] = p.PhaseName()
	}
	return h
}

// Run executes stage on h as the host would and returns its status (0 success).
func (h *Host) Run(stage sdk.Stage) int32 { return sdk.Exec(h, stage) }

// Input implements sdk.Host.
func (h *Host) Input() []byte { return h.input }

// WriteOutput implements sdk.Host.
func (h *Host) WriteOutput(p []byte) error {
	if h.opts.MaxOutputBytes > 0 && len(h.output)+len(p) > h.opts.MaxOutputBytes {
		return sdk.ErrOutputLimit
	}
	h.output = append(h.output, p...)
	return nil
}

// Emit implements sdk.Host.
func (h *Host) Emit(p sdk.Phase, done, total int64, msg string) error {
	if h.opts.CancelAfter > 0 && len(h.events) >= h.opts.CancelAfter {
		return sdk.ErrCancelled
	}
	id := int32(-1)
	if p != nil {
		id = p.PhaseID()
	}
	name, ok := h.declared[id]
	if !ok {
		h.refused++
		return sdk.ErrUndeclaredPhase
	}
	if len(msg) > abi.MaxMessageBytes || !utf8.ValidString(msg) {
		return sdk.ErrBadMessage
	}
	if h.opts.MaxEvents > 0 && len(h.events) >= h.opts.MaxEvents {
		return sdk.ErrEventBudget
	}
	h.events = append(h.events, Event{PhaseID: id, Phase: name, Done: done, Total: total, Message: msg})
	return nil
}

// Log implements sdk.Host.
func (h *Host) Log(level sdk.Level, msg string) {
	h.logs = append(h.logs, LogLine{Level: level, Message: msg})
}

// Fail implements sdk.Host.
func (h *Host) Fail(msg string) { h.failure = msg }

// Cancelled implements sdk.Host.
func (h *Host) Cancelled() bool {
	return h.opts.CancelAfter > 0 && len(h.events) >= h.opts.CancelAfter
}

// Events returns the accepted emits in order.
func (h *Host) Events() []Event { return append([]Event(nil), h.events...) }

// PhaseNames returns the phase name of every accepted emit, in order.
func (h *Host) PhaseNames() []string {
	out := make([]string, len(h.events))
	for i, e := range h.events {
		out[i] = e.Phase
	}
	return out
}

// Logs returns the log lines in order.
func (h *Host) Logs() []LogLine { return append([]LogLine(nil), h.logs...) }

// Output returns what the stage wrote as its output.
func (h *Host) Output() []byte { return h.output }

// Failure returns the message passed to Fail, if any.
func (h *Host) Failure() string { return h.failure }

// Refused counts emits refused for an undeclared phase.
func (h *Host) Refused() int { return h.refused }
