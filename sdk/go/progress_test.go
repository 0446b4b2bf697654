package sdk_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	sdk "github.com/phasehost/phasehost/sdk/go"
	"github.com/phasehost/phasehost/sdk/go/abi"
	"github.com/phasehost/phasehost/sdk/go/sdktest"
)

type phase struct {
	id   int32
	name string
}

func (p phase) PhaseID() int32    { return p.id }
func (p phase) PhaseName() string { return p.name }

var work = phase{0, "WORK_PROGRESS"}

func newHost(opts sdktest.Options) *sdktest.Host {
	return sdktest.New(nil, []phase{work}, opts)
}

// runUnits reports every unit of work 1..total and returns the done values
// emitted.
func runUnits(t *testing.T, newProgress func(sdk.Host) *sdk.Progress, total int64) []int64 {
	t.Helper()
	h := newHost(sdktest.Options{})
	pr := newProgress(h)
	if total == 0 && pr.Due(0) {
		if err := pr.Emit(0, "none"); err != nil {
			t.Fatal(err)
		}
	}
	for done := int64(1); done <= total; done++ {
		if pr.Due(done) {
			if err := pr.Emit(done, fmt.Sprint(done)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if pr.Due(total) {
		t.Fatalf("total %d: due again after the final event", total)
	}
	return dones(h)
}

// runBatches works in batches sized by Until, asking Due once a batch.
func runBatches(t *testing.T, newProgress func(sdk.Host) *sdk.Progress, total int64) []int64 {
	t.Helper()
	h := newHost(sdktest.Options{})
	pr := newProgress(h)
	var done int64
	for done < total {
		n := pr.Until(done)
		if n < 1 {
			t.Fatalf("Until(%d) = %d", done, n)
		}
		done = min(total, done+n)
		if pr.Due(done) {
			if err := pr.Emit(done, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	if pr.Due(total) {
		if err := pr.Emit(total, ""); err != nil {
			t.Fatal(err)
		}
	}
	return dones(h)
}

func dones(h *sdktest.Host) []int64 {
	var out []int64
	for _, e := range h.Events() {
		out = append(out, e.Done)
	}
	return out
}

func TestProgressEventCounts(t *testing.T) {
	for _, maxEvents := range []int{0, 1, 3, 7, 50} {
		m := int64(maxEvents)
		if m == 0 {
			m = sdk.DefaultProgressEvents
		}
		totals := []int64{0, 1, 2, 3, 5, 49, 50, 51, 99, 100, 101, 460, 1000, 1001, 123457}
		for _, total := range totals {
			for _, mode := range []struct {
				name string
				new  func(sdk.Host) *sdk.Progress
				want int64 // events for total > 0
			}{
				{"even", func(h sdk.Host) *sdk.Progress { return sdk.NewProgress(h, work, total, maxEvents) }, min(total, m)},
				{"stepped", func(h sdk.Host) *sdk.Progress { return sdk.NewSteppedProgress(h, work, total, maxEvents) }, 0},
			} {
				name := fmt.Sprintf("%s/max%d/total%d", mode.name, maxEvents, total)
				units := runUnits(t, mode.new, total)
				if len(units) < 1 || int64(len(units)) > m {
					t.Errorf("%s: %d events, want 1..%d", name, len(units), m)
				}
				if units[len(units)-1] != total {
					t.Errorf("%s: last event %d, want done == total", name, units[len(units)-1])
				}
				for i := 1; i < len(units); i++ {
					if units[i] <= units[i-1] {
						t.Errorf("%s: done does not increase: %v", name, units)
						break
					}
				}
				if mode.want > 0 && int64(len(units)) != mode.want {
					t.Errorf("%s: %d events, want %d", name, len(units), mode.want)
				}
				if mode.name == "stepped" && total > 0 {
					step := max(1, (total+m-1)/m)
					for _, d := range units[:len(units)-1] {
						if d%step != 0 {
							t.Errorf("%s: done %d is not a multiple of the step %d", name, d, step)
						}
					}
				}
				if batches := runBatches(t, mode.new, total); fmt.Sprint(batches) != fmt.Sprint(units) {
					t.Errorf("%s: batches sized by Until emit %v, units emit %v", name, batches, units)
				}
			}
		}
	}
}

func TestProgressSpacing(t *testing.T) {
	got := runUnits(t, func(h sdk.Host) *sdk.Progress { return sdk.NewProgress(h, work, 20, 4) }, 20)
	if fmt.Sprint(got) != "[5 10 15 20]" {
		t.Errorf("even: %v", got)
	}
	got = runUnits(t, func(h sdk.Host) *sdk.Progress { return sdk.NewProgress(h, work, 10, 4) }, 10)
	if fmt.Sprint(got) != "[3 5 8 10]" {
		t.Errorf("even, uneven buckets: %v", got)
	}
	got = runUnits(t, func(h sdk.Host) *sdk.Progress { return sdk.NewSteppedProgress(h, work, 10, 4) }, 10)
	if fmt.Sprint(got) != "[3 6 9 10]" {
		t.Errorf("stepped: %v", got)
	}
}

func TestProgressReturnsHostError(t *testing.T) {
	h := newHost(sdktest.Options{CancelAfter: 2})
	pr := sdk.NewProgress(h, work, 10, 10)
	var err error
	for done := int64(1); done <= 10 && err == nil; done++ {
		if pr.Due(done) {
			err = pr.Emit(done, "working")
		}
	}
	if !errors.Is(err, sdk.ErrCancelled) {
		t.Fatalf("err = %v, want sdk.ErrCancelled", err)
	}
	if n := len(h.Events()); n != 2 {
		t.Errorf("%d events before the cancel, want 2", n)
	}
}

func TestProgressClipsMessages(t *testing.T) {
	h := newHost(sdktest.Options{})
	pr := sdk.NewProgress(h, work, 1, 0)
	if err := pr.Emit(1, strings.Repeat("x", 5000)); err != nil {
		t.Fatalf("a long message is clipped, not refused: %v", err)
	}
	if got := h.Events()[0].Message; len(got) != abi.MaxMessageBytes {
		t.Errorf("message of %d bytes, want %d", len(got), abi.MaxMessageBytes)
	}
}

func TestClip(t *testing.T) {
	if got := sdk.Clip("short"); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
	exact := strings.Repeat("a", abi.MaxMessageBytes)
	if got := sdk.Clip(exact); got != exact {
		t.Error("a message of exactly the limit is clipped")
	}
	for _, r := range []string{"a", "ä", "€", "𝄞"} {
		long := strings.Repeat(r, 2000)
		got := sdk.Clip(long)
		if len(got) > abi.MaxMessageBytes || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
			t.Errorf("Clip(%q×2000): %d bytes, valid UTF-8 %v, ends %q", r, len(got), utf8.ValidString(got), got[len(got)-6:])
		}
		if len(got) < abi.MaxMessageBytes-len("…")-utf8.UTFMax {
			t.Errorf("Clip(%q×2000) cut too much: %d bytes", r, len(got))
		}
	}
}

// A stage reports one event per unit of work it finishes; Progress passes on
// at most maxEvents of them, always including done == total.
func ExampleProgress() {
	h := sdktest.New(nil, []phase{work}, sdktest.Options{})
	stage := func(h sdk.Host) error {
		const parts = 1000
		pr := sdk.NewProgress(h, work, parts, 4)
		for i := range parts {
			// ... work on part i ...
			if done := int64(i + 1); pr.Due(done) {
				if err := pr.Emit(done, fmt.Sprintf("part %d done", i)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	h.Run(stage)
	for _, e := range h.Events() {
		fmt.Printf("%s %d/%d %s\n", e.Phase, e.Done, e.Total, e.Message)
	}
	// Output:
	// WORK_PROGRESS 250/1000 part 249 done
	// WORK_PROGRESS 500/1000 part 499 done
	// WORK_PROGRESS 750/1000 part 749 done
	// WORK_PROGRESS 1000/1000 part 999 done
}

// Until sizes batches of work so that a stage checks for an event once a batch.
func ExampleProgress_Until() {
	h := sdktest.New(nil, []phase{work}, sdktest.Options{})
	const vertices = 10
	pr := sdk.NewSteppedProgress(h, work, vertices, 4)
	for done := int64(0); done < vertices; {
		n := min(pr.Until(done), vertices-done)
		// ... transform vertices [done, done+n) ...
		done += n
		if pr.Due(done) {
			_ = pr.Emit(done, fmt.Sprintf("%d vertices", done))
		}
	}
	for _, e := range h.Events() {
		fmt.Println(e.Done, e.Message)
	}
	// Output:
	// 3 3 vertices
	// 6 6 vertices
	// 9 9 vertices
	// 10 10 vertices
}
