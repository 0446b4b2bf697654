// Package bench compares each reference plugin compiled to wasm and run under
// the host with the same Go code compiled natively, on one generated input.
// See BENCHMARKS.md for figures and the command.
package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/internal/example"
	"github.com/phasehost/phasehost/internal/refplugins"
	a4phases "github.com/phasehost/phasehost/plugins/assembly4/phases"
	a4 "github.com/phasehost/phasehost/plugins/assembly4/stage"
	matphases "github.com/phasehost/phasehost/plugins/material/phases"
	mat "github.com/phasehost/phasehost/plugins/material/stage"
	topophases "github.com/phasehost/phasehost/plugins/topology/phases"
	topo "github.com/phasehost/phasehost/plugins/topology/stage"
	sdk "github.com/phasehost/phasehost/sdk/go"
	"github.com/phasehost/phasehost/sdk/go/sdktest"
)

// size reads PHASEHOST_BENCH_PARTS / PHASEHOST_BENCH_DETAIL (defaults 100, 16).
func size() (parts, detail int) {
	parts, detail = 100, 16
	if v, err := strconv.Atoi(os.Getenv("PHASEHOST_BENCH_PARTS")); err == nil && v > 0 {
		parts = v
	}
	if v, err := strconv.Atoi(os.Getenv("PHASEHOST_BENCH_DETAIL")); err == nil && v > 0 {
		detail = v
	}
	return parts, detail
}

type native struct {
	stage  sdk.Stage
	phases func(input []byte) *sdktest.Host
}

// natives are the reference stages compiled into this test binary.
var natives = map[string]native{
	"assembly4": {a4.Stage, func(in []byte) *sdktest.Host { return sdktest.New(in, a4phases.All(), sdktest.Options{}) }},
	"material":  {mat.Stage, func(in []byte) *sdktest.Host { return sdktest.New(in, matphases.All(), sdktest.Options{}) }},
	"topology":  {topo.Stage, func(in []byte) *sdktest.Host { return sdktest.New(in, topophases.All(), sdktest.Options{}) }},
}

func BenchmarkReferencePlugins(b *testing.B) {
	ctx := context.Background()
	parts, detail := size()
	in, err := example.Generate(parts, detail)
	require.NoError(b, err)
	e, err := plugin.NewEngine(plugin.Options{Policy: plugin.Policy{MaxMemoryMB: 1024}})
	require.NoError(b, err)
	defer e.Close(ctx)
	mods := refplugins.Modules(b)

	// Each stage's input is the previous stage's output, as in a pipeline;
	// the inputs are made up front, so that -bench can pick one plugin.
	for _, name := range refplugins.Names() {
		p, err := e.Load(ctx, mods[name])
		require.NoError(b, err)
		n := natives[name]
		h := n.phases(in)
		require.Equal(b, int32(0), h.Run(n.stage), "%s native: %s", name, h.Failure())
		stageIn, stageOut := in, h.Output()
		b.Run(fmt.Sprintf("%s/native/%dKB", name, len(stageIn)>>10), func(b *testing.B) {
			b.SetBytes(int64(len(stageIn)))
			defer reportThreadCPU(b)()
			for b.Loop() {
				if h := n.phases(stageIn); h.Run(n.stage) != 0 {
					b.Fatalf("%s native: %s", name, h.Failure())
				}
			}
		})
		b.Run(fmt.Sprintf("%s/wasm/%dKB", name, len(stageIn)>>10), func(b *testing.B) {
			b.SetBytes(int64(len(stageIn)))
			defer reportThreadCPU(b)()
			for b.Loop() {
				if _, err := p.Run(ctx, plugin.RunRequest{JobID: "bench", Input: stageIn}); err != nil {
					b.Fatal(err)
				}
			}
		})
		in = stageOut
	}
}

// reportThreadCPU locks the benchmark to its thread and, when the returned
// function is called, reports the thread's CPU time per iteration as
// "cpu-ms/op": unlike ns/op, it leaves out the time other processes took
// from the benchmark on a busy machine. It counts the stage and, for wasm,
// the host's work on the run's goroutine (instantiation, copies, the output
// check, the close), but not the Go runtime's background work on other
// threads: the native build's concurrent garbage collection and the
// engine's clearing of a closed instance's memory.
func reportThreadCPU(b *testing.B) func() {
	runtime.LockOSThread()
	start, ok := threadCPU()
	return func() {
		end, ok2 := threadCPU()
		runtime.UnlockOSThread()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/1e6/float64(b.N), "cpu-ms/op")
		}
	}
}
