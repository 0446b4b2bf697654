package sdktest_test

import (
	"errors"
	"fmt"

	sdk "github.com/phasehost/phasehost/sdk/go"
	"github.com/phasehost/phasehost/sdk/go/sdktest"
)

// phase stands in for the constants `phasectl plugin gen` writes.
type phase struct {
	id   int32
	name string
}

func (p phase) PhaseID() int32    { return p.id }
func (p phase) PhaseName() string { return p.name }

var (
	countStart = phase{0, "COUNT_START"}
	countEnd   = phase{1, "COUNT_END"}
)

// stage counts the words of its input, reporting progress.
func stage(h sdk.Host) error {
	in, err := sdk.Input[struct{ Words []string }](h)
	if err != nil {
		return err
	}
	if err := h.Emit(countStart, 0, int64(len(in.Words)), "counting"); err != nil {
		return err
	}
	if err := h.Emit(countEnd, int64(len(in.Words)), int64(len(in.Words)), "counted"); err != nil {
		return err
	}
	return sdk.Output(h, map[string]int{"words": len(in.Words)})
}

// A stage runs natively under an in-memory host that records its emits.
func Example() {
	h := sdktest.New([]byte(`{"words":["a","b","c"]}`), []phase{countStart, countEnd}, sdktest.Options{})
	status := h.Run(stage)
	fmt.Println(status, h.PhaseNames(), string(h.Output()))
	// Output: 0 [COUNT_START COUNT_END] {"words":3}
}

// Cancellation reaches the stage as sdk.ErrCancelled from Emit.
func Example_cancel() {
	h := sdktest.New([]byte(`{"words":["a"]}`), []phase{countStart, countEnd}, sdktest.Options{CancelAfter: 1})
	status := h.Run(stage)
	fmt.Println(status, h.Failure(), errors.Is(sdk.ErrCancelled, sdk.ErrCancelled))
	// Output: 1 phasehost: job cancelled true
}

// An undeclared phase is refused, never recorded.
func Example_undeclared() {
	h := sdktest.New([]byte(`{}`), []phase{countStart}, sdktest.Options{})
	err := h.Emit(phase{5, "LIBRARY_LOAD_START"}, 0, 0, "")
	fmt.Println(err, len(h.Events()), h.Refused())
	// Output: phasehost: undeclared phase 0 1
}
