package sdktest

import (
	"errors"
	"strings"
	"testing"

	sdk "github.com/phasehost/phasehost/sdk/go"
)

type ph int32

func (p ph) PhaseID() int32    { return int32(p) }
func (p ph) PhaseName() string { return "P" }

func TestRules(t *testing.T) {
	h := New(nil, []ph{0}, Options{MaxEvents: 2, MaxOutputBytes: 4})
	if err := h.Emit(ph(0), 0, 0, strings.Repeat("a", 1025)); !errors.Is(err, sdk.ErrBadMessage) {
		t.Errorf("long message: %v", err)
	}
	if err := h.Emit(ph(0), 0, 0, "\xff"); !errors.Is(err, sdk.ErrBadMessage) {
		t.Errorf("bad UTF-8: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := h.Emit(ph(0), 0, 0, "ok"); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Emit(ph(0), 0, 0, "ok"); !errors.Is(err, sdk.ErrEventBudget) {
		t.Errorf("budget: %v", err)
	}
	if err := h.WriteOutput([]byte("12345")); !errors.Is(err, sdk.ErrOutputLimit) {
		t.Errorf("output: %v", err)
	}
	if err := h.Emit(nil, 0, 0, ""); !errors.Is(err, sdk.ErrUndeclaredPhase) {
		t.Errorf("nil phase: %v", err)
	}
}

func TestPanicBecomesFailureWithStack(t *testing.T) {
	h := New(nil, []ph{0}, Options{})
	status := h.Run(func(sdk.Host) error { panic("boom") })
	if status != 2 || !strings.HasPrefix(h.Failure(), "panic: boom\n") || !strings.Contains(h.Failure(), "goroutine") {
		t.Fatalf("status %d failure %q", status, h.Failure())
	}
}
