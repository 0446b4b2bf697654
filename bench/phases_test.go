package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/internal/example"
	"github.com/phasehost/phasehost/internal/refplugins"
	sdk "github.com/phasehost/phasehost/sdk/go"
)

// timedHost records, per phase, the time spent since the previous emit.
type timedHost struct {
	sdk.Host
	last  time.Time
	spent map[string]time.Duration
}

func (t *timedHost) Emit(p sdk.Phase, done, total int64, msg string) error {
	now := time.Now()
	t.spent[p.PhaseName()] += now.Sub(t.last)
	t.last = now
	return t.Host.Emit(p, done, total, msg)
}

// TestPhaseTimes prints, for each reference plugin on the benchmark's input,
// the time spent before each phase's emits, natively and in wasm: where the
// wasm/native ratio comes from. "(end)" is the time after the last emit
// (writing the output and, in wasm, the host's check of it). It measures,
// so it runs only when asked:
//
//	PHASEHOST_PHASE_TIMES=1 go test -count=1 -v -run TestPhaseTimes ./bench/
func TestPhaseTimes(t *testing.T) {
	if os.Getenv("PHASEHOST_PHASE_TIMES") == "" {
		t.Skip("set PHASEHOST_PHASE_TIMES=1 to measure")
	}
	ctx := context.Background()
	in, err := example.Generate(size())
	require.NoError(t, err)
	e, err := plugin.NewEngine(plugin.Options{Policy: plugin.Policy{MaxMemoryMB: 1024}})
	require.NoError(t, err)
	defer e.Close(ctx)
	mods := refplugins.Modules(t)
	const rounds = 3 // the last round is reported
	for _, name := range refplugins.Names() {
		p, err := e.Load(ctx, mods[name])
		require.NoError(t, err)
		n := natives[name]
		var native, wasm map[string]time.Duration
		var nativeTotal, wasmTotal time.Duration
		var out []byte
		for range rounds {
			h := &timedHost{Host: n.phases(in), last: time.Now(), spent: map[string]time.Duration{}}
			start := h.last
			require.Equal(t, int32(0), sdk.Exec(h, n.stage))
			h.spent["(end)"] += time.Since(h.last)
			native, nativeTotal = h.spent, time.Since(start)

			spent := map[string]time.Duration{}
			start = time.Now()
			last := start
			res, err := p.Run(ctx, plugin.RunRequest{JobID: "phase-times", Input: in, OnEmit: func(e plugin.Emit) {
				now := time.Now()
				spent[e.Phase.Name] += now.Sub(last)
				last = now
			}})
			require.NoError(t, err)
			spent["(end)"] += time.Since(last)
			wasm, wasmTotal, out = spent, time.Since(start), res.Output
		}
		fmt.Printf("%s: native %v, wasm %v (%.1f×)\n", name, nativeTotal.Round(time.Microsecond), wasmTotal.Round(time.Microsecond), float64(wasmTotal)/float64(nativeTotal))
		phases := make([]string, 0, len(wasm))
		for k := range wasm {
			phases = append(phases, k)
		}
		slices.Sort(phases)
		for _, k := range phases {
			fmt.Printf("  %-30s native %10v  wasm %10v  %5.1f×\n", k, native[k].Round(time.Microsecond), wasm[k].Round(time.Microsecond), float64(wasm[k])/float64(native[k]))
		}
		in = out
	}
}
