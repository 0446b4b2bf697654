package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/internal/refplugins"
)

// BenchmarkEmit compares one emit with a bare no-op host call of the same
// signature, from the same guest loop (testdata/modules/bench/emit_bench.wat).
// The emit path includes reading and checking the message and handing the
// resolved phase to OnEmit (here a no-op; publishing is the pipeline's cost).
func BenchmarkEmit(b *testing.B) {
	ctx := context.Background()
	e, err := NewEngine(Options{})
	require.NoError(b, err)
	defer e.Close(ctx)
	rt, err := e.runtimeFor(ctx, runtimeKey{pages: pagesFor(64)})
	require.NoError(b, err)
	_, err = rt.r.NewHostModuleBuilder("bench").NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) { stack[0] = 0 }),
			[]api.ValueType{i32, i64, i64, i32, i32}, []api.ValueType{i32}).Export("noop").Instantiate(ctx)
	require.NoError(b, err)
	wasm, err := os.ReadFile(filepath.Join(modules, "bench", "emit_bench.wasm"))
	require.NoError(b, err)
	compiled, err := rt.r.CompileModule(ctx, wasm)
	require.NoError(b, err)
	p := &Plugin{engine: e, rt: rt, compiled: compiled, limits: Limits{MaxEvents: 1 << 62, MaxOutputBytes: 1 << 20},
		manifest: manifest.Manifest{Name: "bench", Version: "1.0.0", Phases: []manifest.Phase{
			{Name: "B_START", Step: "b", MapsTo: "START"}, {Name: "B_PROGRESS", Step: "b", MapsTo: "PROGRESS"}}}}
	r := &run{plugin: p, limits: p.limits, logger: e.logger, onEmit: func(Emit) {}}
	runCtx := &runContext{Context: ctx, run: r}
	mod, err := rt.r.InstantiateModule(runCtx, compiled, wazero.NewModuleConfig().WithName(""))
	require.NoError(b, err)
	defer mod.Close(ctx)
	for _, name := range []string{"noop_loop", "emit_loop"} {
		fn := mod.ExportedFunction(name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			_, err := fn.Call(runCtx, uint64(b.N))
			require.NoError(b, err)
		})
	}
	require.Nil(b, r.fatal)
}

// BenchmarkLoad measures loading (validating and compiling) the material
// plugin: cold (empty compilation cache) and from a warm on-disk cache, each
// with a new Engine as a restarted process would have.
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	wasm := refplugins.Modules(b)["material"]
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			e, err := NewEngine(Options{})
			require.NoError(b, err)
			_, err = e.Load(ctx, wasm)
			require.NoError(b, err)
			require.NoError(b, e.Close(ctx))
		}
	})
	b.Run("disk-cache", func(b *testing.B) {
		dir := b.TempDir()
		warm, err := NewEngine(Options{CacheDir: dir})
		require.NoError(b, err)
		_, err = warm.Load(ctx, wasm)
		require.NoError(b, err)
		require.NoError(b, warm.Close(ctx))
		b.ResetTimer()
		for b.Loop() {
			e, err := NewEngine(Options{CacheDir: dir})
			require.NoError(b, err)
			_, err = e.Load(ctx, wasm)
			require.NoError(b, err)
			require.NoError(b, e.Close(ctx))
		}
	})
}

// BenchmarkInstanceStart measures a fresh instance of a compiled plugin up to
// the point where run can be called: instantiation plus _initialize (for a Go
// plugin, the Go runtime's start-up).
func BenchmarkInstanceStart(b *testing.B) {
	ctx := context.Background()
	e, err := NewEngine(Options{})
	require.NoError(b, err)
	defer e.Close(ctx)
	cases := map[string][]byte{"material-go": refplugins.Modules(b)["material"]}
	wat, err := os.ReadFile(filepath.Join(modules, "valid", "ok.wasm"))
	require.NoError(b, err)
	cases["ok-wat"] = wat
	for _, name := range []string{"ok-wat", "material-go"} {
		p, err := e.Load(ctx, cases[name])
		require.NoError(b, err)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := &run{plugin: p, limits: p.limits, logger: e.logger, logLeft: 1 << 20}
				r.stderr = &guestWriter{run: r, stream: "stderr"}
				runCtx := context.WithValue(ctx, runKey{}, r)
				mod, err := p.rt.r.InstantiateModule(runCtx, p.compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
				require.NoError(b, err)
				if p.hasInit {
					_, err = mod.ExportedFunction("_initialize").Call(runCtx)
					require.NoError(b, err)
				}
				require.NoError(b, mod.Close(ctx))
			}
		})
	}
}

// BenchmarkStageStart measures stage start latency: from the call of Run to
// the host calling the guest's run entry, for the material plugin, with a
// fresh instance per run ("cold": instantiation and _initialize, the Go
// runtime's start-up) and with a pool of pre-warmed instances ("warm-2").
// Runs are sequential; the pool refills between them (not timed), as it would
// between the stages of jobs arriving at a modest rate. p50 and p99 are
// reported in µs.
func BenchmarkStageStart(b *testing.B) {
	ctx := context.Background()
	wasm := refplugins.Modules(b)["material"]
	for _, warm := range []int{0, 2} {
		name := "cold"
		if warm > 0 {
			name = fmt.Sprintf("warm-%d", warm)
		}
		b.Run(name, func(b *testing.B) {
			e, err := NewEngine(Options{Logger: slog.New(slog.DiscardHandler)})
			require.NoError(b, err)
			defer e.Close(ctx)
			p, err := e.Load(ctx, wasm)
			require.NoError(b, err)
			p.SetWarm(warm)
			var start time.Time
			var lat []time.Duration
			runEntryHook = func() { lat = append(lat, time.Since(start)) }
			defer func() { runEntryHook = nil }()
			req := RunRequest{JobID: "bench", Input: []byte(materialInput)}
			for b.Loop() {
				if warm > 0 {
					b.StopTimer()
					for p.Warm() < warm {
						time.Sleep(50 * time.Microsecond)
					}
					b.StartTimer()
				}
				start = time.Now()
				_, err := p.Run(ctx, req)
				require.NoError(b, err)
			}
			slices.Sort(lat)
			q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
			b.ReportMetric(q(0.50), "p50-µs")
			b.ReportMetric(q(0.99), "p99-µs")
		})
	}
}
