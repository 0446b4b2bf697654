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
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/phasehost/phasehost/internal/refplugins"
)

// BenchmarkEmit compares one emit with a bare no-op host call of the same
// signature, from the same guest loop with the same arguments
// (testdata/modules/bench/emit_bench.wat), for messages of several lengths.
// The emit path includes reading and checking the message and handing the
// resolved phase to OnEmit (here a no-op; publishing is the pipeline's cost).
// Every emit must be accepted: a refused one would be cheaper than a real one.
func BenchmarkEmit(b *testing.B) {
	h := newEmitHarness(b, nil, func(Emit) {})
	r, runCtx, mod := h.r, h.ctx, h.mod
	// The messages' places in the module's data segments.
	msgs := []struct {
		name     string
		ptr, len uint64
	}{
		{"0B", 0, 0},
		{"21B", 0, 21},       // "placed part 17 of 200"
		{"30B", 32, 30},      // "meshed part 17 of 200: 9 faces"
		{"30B-utf8", 64, 30}, // "pièce 17 sur 200 placée (M8)"
	}
	for _, m := range msgs {
		noop, emit := mod.ExportedFunction("noop_loop"), mod.ExportedFunction("emit_loop")
		call := func(b *testing.B, fn api.Function, n int) {
			events := r.events
			_, err := fn.Call(runCtx, uint64(n), m.ptr, m.len)
			require.NoError(b, err)
			if fn == emit {
				require.Equal(b, int64(n), r.events-events, "every emit accepted")
			}
		}
		for _, fn := range []api.Function{noop, emit} {
			name := m.name + "/" + fn.Definition().ExportNames()[0][:4]
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				call(b, fn, b.N)
			})
		}
		// The same two loops taking turns every 4096 calls, so that both
		// see the same load on a shared machine: ns/op is one emit plus one
		// no-op call, and emit/noop their ratio.
		b.Run(m.name+"/paired", func(b *testing.B) {
			var tNoop, tEmit time.Duration
			for done := 0; done < b.N; {
				k := min(4096, b.N-done)
				t0 := time.Now()
				call(b, noop, k)
				t1 := time.Now()
				call(b, emit, k)
				tNoop, tEmit = tNoop+t1.Sub(t0), tEmit+time.Since(t1)
				done += k
			}
			b.ReportMetric(float64(tNoop.Nanoseconds())/float64(b.N), "noop-ns/op")
			b.ReportMetric(float64(tEmit.Nanoseconds())/float64(b.N), "emit-ns/op")
			b.ReportMetric(float64(tEmit)/float64(tNoop), "emit/noop")
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
				mod, err := p.rt.r.InstantiateModule(e.withGuestMemory(runCtx), p.compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
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

// BenchmarkValidUTF8 compares emit's UTF-8 check with utf8.Valid on the
// benchmark's messages.
func BenchmarkValidUTF8(b *testing.B) {
	for _, m := range []struct{ name, msg string }{
		{"0B", ""}, {"21B", "placed part 17 of 200"}, {"30B", "meshed part 17 of 200: 9 faces"}, {"30B-utf8", "pièce 17 sur 200 placée (M8)"},
	} {
		msg := []byte(m.msg)
		b.Run(m.name+"/validUTF8", func(b *testing.B) {
			for b.Loop() {
				if !validUTF8(msg) {
					b.Fatal("refused")
				}
			}
		})
		b.Run(m.name+"/utf8.Valid", func(b *testing.B) {
			for b.Loop() {
				if !utf8.Valid(msg) {
					b.Fatal("refused")
				}
			}
		})
	}
}
