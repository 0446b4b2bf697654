//go:build unix

package registry

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/pipeline"
	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/host/store"
	"github.com/phasehost/phasehost/host/wasmbin"
	"github.com/phasehost/phasehost/internal/example"
	"github.com/phasehost/phasehost/internal/refplugins"
)

// BenchmarkSwapPause measures the longest pause in the events of running jobs
// while an operator hot-swaps a plugin, against the same jobs without a swap.
//
// Job loops run jobs back to back, each job as the server runs one: its
// plugins held from Registry.Acquire to Release, a job created in a
// store.Memory, a pipeline.Runner publishing every event to it. An event's
// time is when the store's Publish returned, so a gap covers the whole event
// path (guest emit → host function → OnEmit → Runner → store). There are
// PHASEHOST_SWAP_JOBS loops (default 2: one per core of a 2-core node;
// phasehost's default --workers is 4), alternately of each kind:
//   - tick loops run testdata's slow module: it spins 10^6 loop iterations
//     (~1.4 ms on the project's machine) between two emits, so its gaps are
//     a metronome: a gap well over that is time the guest was kept off a
//     core or stopped. max-gap-ms, p99-gap-ms and events/s are these loops'
//     figures.
//   - reference loops run the pipeline assembly4 → material
//     (internal/refplugins) on the example input (PHASEHOST_SWAP_PARTS ×
//     PHASEHOST_SWAP_DETAIL, default 40 × 8, 0.9 MB). Their gaps include the
//     plugins' own silent stretches (parsing the input before a stage's first
//     phase: ~0.1 s of CPU), so only a longer pause shows:
//     ref-max-gap-ms.
//
// Each iteration lets the loops run, watches a baseline window, then swaps
// material — which the reference jobs run — the way an upload does
// (host/server uploadPlugin): Engine.Load of new module bytes (the plugin with
// a custom section that differs per iteration, so it is validated,
// instrumented and compiled again: no cache hit), Registry.Add, Retire of the
// replaced version (running jobs finish on it, new jobs get the new one). The
// registry keeps a warm pool (PHASEHOST_SWAP_WARM, default 2, as phasehost's
// --warm), so the swap window runs from the Load until the new version's pool
// is full. A gap belongs to the swap window when it overlaps it, to the
// baseline when it lies within the baseline window (2 s, before the swap).
//
// Metrics: max-* are the worst iteration, p99-* over the gaps of all
// iterations, events/s over all tick loops; baseline-* are the same jobs in
// the baseline window. swap-ms is Load+Add+Retire, warm-ms the pool refill
// after it. cores is the CPU time the process used over the window's wall
// time (the machine is shared: less than the cores it has means others took
// them). gc-stop-max-ms is the longest time the Go runtime took to stop the
// world for the GC (runtime/metrics /sched/pauses/stopping/gc, the bound of
// its histogram bucket).
//
//	go test -run '^$' -bench SwapPause -benchtime 3x ./host/registry/
func BenchmarkSwapPause(b *testing.B) {
	ctx := context.Background()
	parts, detail := envInt("PHASEHOST_SWAP_PARTS", 40), envInt("PHASEHOST_SWAP_DETAIL", 8)
	warm, jobs := envInt("PHASEHOST_SWAP_WARM", 2), max(envInt("PHASEHOST_SWAP_JOBS", 2), 1)
	refInput, err := example.Generate(parts, detail)
	require.NoError(b, err)
	// slow spins one round per input byte.
	tickInput := []byte(`"` + strings.Repeat("r", 300) + `"`)
	mods := refplugins.Modules(b)
	slow, err := os.ReadFile("../../testdata/modules/valid/slow.wasm")
	require.NoError(b, err)

	e, err := plugin.NewEngine(plugin.Options{Policy: plugin.Policy{MaxMemoryMB: 1024}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	defer e.Close(ctx)
	reg := New()
	reg.SetWarm(warm)
	for _, wasm := range [][]byte{slow, mods["assembly4"], mods["material"]} {
		p, err := e.Load(ctx, wasm)
		require.NoError(b, err)
		_, err = reg.Add(p)
		require.NoError(b, err)
	}
	st := store.NewMemory(store.Options{TTL: time.Minute})
	defer st.Close()

	var loops []swapLoop
	for i := range jobs {
		if i%2 == 0 {
			loops = append(loops, swapLoop{pipeline: []string{"slow"}, input: tickInput, tick: true})
		} else {
			loops = append(loops, swapLoop{pipeline: []string{"assembly4", "material"}, input: refInput})
		}
	}
	b.Run(fmt.Sprintf("jobs=%d", jobs), func(b *testing.B) {
		var agg swapAgg
		for i := 0; b.Loop(); i++ {
			wasm, err := wasmbin.SetCustomSection(mods["material"], "phasehost.bench.nonce",
				fmt.Appendf(nil, "%d-%d", time.Now().UnixNano(), i))
			require.NoError(b, err)
			agg.add(swapOnce(b, ctx, swapSetup{reg: reg, engine: e, store: st, loops: loops, warm: warm, swap: wasm}))
		}
		agg.report(b)
	})
}

// swapLoop is a loop of jobs running one pipeline on one input.
type swapLoop struct {
	pipeline []string
	input    []byte
	tick     bool // a metronome loop (slow)
}

type swapSetup struct {
	reg    *Registry
	engine *plugin.Engine
	store  *store.Memory
	loops  []swapLoop
	warm   int
	swap   []byte // the module bytes of the new version
}

// gapSet is the gaps of one kind of loop in one window.
type gapSet struct {
	gaps   []time.Duration
	events int
}

// swapIter is what one iteration saw.
type swapIter struct {
	base, during       [2]gapSet // [0] tick loops, [1] reference loops
	baseDur, duringDur time.Duration
	swap, warm         time.Duration
	baseStop, swapStop time.Duration // longest GC stop-the-world wait
	baseCPU, swapCPU   time.Duration // CPU time of the process (user+system)
}

// Windows around the swap.
const (
	swapSettle   = 500 * time.Millisecond  // jobs running before the baseline starts
	swapBaseline = 2000 * time.Millisecond // baseline window
	swapTail     = 300 * time.Millisecond  // jobs running after the swap window
)

func swapOnce(b *testing.B, ctx context.Context, s swapSetup) swapIter {
	b.Helper()
	stop := make(chan struct{})
	recs := make([]*timedPublisher, len(s.loops))
	errs := make([]error, len(s.loops))
	var wg sync.WaitGroup
	for i, l := range s.loops {
		rec := &timedPublisher{pub: s.store}
		recs[i] = rec
		runner := pipeline.NewRunner(rec, nil)
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := runSwapJob(ctx, s, l, runner, fmt.Sprintf("swap-%d-%d-%d", time.Now().UnixNano(), i, n)); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}

	time.Sleep(swapSettle)
	t0, h0, c0 := time.Now(), gcStopHist(), cpuTime()
	time.Sleep(swapBaseline)
	t1, h1, c1 := time.Now(), gcStopHist(), cpuTime()
	p, err := s.engine.Load(ctx, s.swap)
	require.NoError(b, err)
	replaced, err := s.reg.Add(p)
	require.NoError(b, err)
	require.NotNil(b, replaced)
	replaced.Retire()
	t2 := time.Now()
	for deadline := t2.Add(10 * time.Second); p.Warm() < s.warm && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	t3, h3, c3 := time.Now(), gcStopHist(), cpuTime()
	time.Sleep(swapTail)
	close(stop)
	wg.Wait()
	for _, err := range errs {
		require.NoError(b, err)
	}

	it := swapIter{baseDur: t1.Sub(t0), duringDur: t3.Sub(t1), swap: t2.Sub(t1), warm: t3.Sub(t2),
		baseStop: histMax(h0, h1), swapStop: histMax(h1, h3), baseCPU: c1 - c0, swapCPU: c3 - c1}
	for i, rec := range recs {
		k := 1
		if s.loops[i].tick {
			k = 0
		}
		base, during := &it.base[k], &it.during[k]
		for j, at := range rec.times {
			switch {
			case !at.Before(t0) && !at.After(t1):
				base.events++
			case at.After(t1) && !at.After(t3):
				during.events++
			}
			if j == 0 {
				continue
			}
			prev := rec.times[j-1]
			switch {
			case !prev.Before(t0) && !at.After(t1):
				base.gaps = append(base.gaps, at.Sub(prev))
			case at.After(t1) && prev.Before(t3):
				during.gaps = append(during.gaps, at.Sub(prev))
			}
		}
	}
	if testing.Verbose() {
		b.Logf("swap %v, warm %v; GC stop max %v baseline, %v swap; cores used %.2f baseline, %.2f swap",
			it.swap.Round(time.Millisecond), it.warm.Round(time.Millisecond), it.baseStop, it.swapStop,
			it.baseCPU.Seconds()/it.baseDur.Seconds(), it.swapCPU.Seconds()/it.duringDur.Seconds())
		for k, name := range []string{"tick", "ref"} {
			if len(it.base[k].gaps) > 0 && len(it.during[k].gaps) > 0 {
				b.Logf("%s gaps: baseline max %v p99 %v (%d events), swap max %v p99 %v (%d events)", name,
					slices.Max(it.base[k].gaps), quantile(it.base[k].gaps, 0.99), it.base[k].events,
					slices.Max(it.during[k].gaps), quantile(it.during[k].gaps, 0.99), it.during[k].events)
			}
		}
	}
	return it
}

// runSwapJob runs one job of l as the server does: resolve and hold the
// plugins, create the job, publish queued, run, release.
func runSwapJob(ctx context.Context, s swapSetup, l swapLoop, runner *pipeline.Runner, id string) error {
	var stages []*plugin.Plugin
	defer func() {
		for _, p := range stages {
			p.Release()
		}
	}()
	nj := store.NewJob{ID: id, Pipeline: l.pipeline}
	for _, spec := range l.pipeline {
		p, err := s.reg.Acquire(spec)
		if err != nil {
			return err
		}
		stages = append(stages, p)
		nj.Stages = append(nj.Stages, store.StageState{Stage: p.Manifest().Stage, Plugin: p.Name(), Version: p.Version()})
	}
	if _, err := s.store.Create(ctx, nj); err != nil {
		return err
	}
	if err := runner.Queued(ctx, id); err != nil {
		return err
	}
	out, err := runner.Run(ctx, pipeline.Job{ID: id, Stages: stages, Input: l.input})
	if err != nil {
		return err
	}
	if out.Status != event.StatusSucceeded {
		return fmt.Errorf("job %s %s: %v", id, out.Status, out.Err)
	}
	return nil
}

// timedPublisher publishes to a store and notes when each Publish returned.
// One job loop uses it, from one goroutine.
type timedPublisher struct {
	pub   pipeline.Publisher
	times []time.Time
}

func (t *timedPublisher) Publish(ctx context.Context, ev event.Event) (event.Event, error) {
	ev, err := t.pub.Publish(ctx, ev)
	t.times = append(t.times, time.Now())
	return ev, err
}

// swapAgg sums the iterations of a sub-benchmark.
type swapAgg struct {
	n                  int
	base, during       [2]gapSet
	maxBase, maxDuring [2]time.Duration
	baseDur, duringDur time.Duration
	swap, warm         time.Duration
	baseStop, swapStop time.Duration
	baseCPU, swapCPU   time.Duration
}

func (a *swapAgg) add(it swapIter) {
	a.n++
	for k := range 2 {
		a.base[k].gaps = append(a.base[k].gaps, it.base[k].gaps...)
		a.during[k].gaps = append(a.during[k].gaps, it.during[k].gaps...)
		a.base[k].events += it.base[k].events
		a.during[k].events += it.during[k].events
		if len(it.base[k].gaps) > 0 {
			a.maxBase[k] = max(a.maxBase[k], slices.Max(it.base[k].gaps))
		}
		if len(it.during[k].gaps) > 0 {
			a.maxDuring[k] = max(a.maxDuring[k], slices.Max(it.during[k].gaps))
		}
	}
	a.baseDur += it.baseDur
	a.duringDur += it.duringDur
	a.swap += it.swap
	a.warm += it.warm
	a.baseStop = max(a.baseStop, it.baseStop)
	a.swapStop = max(a.swapStop, it.swapStop)
	a.baseCPU += it.baseCPU
	a.swapCPU += it.swapCPU
}

func (a *swapAgg) report(b *testing.B) {
	if a.n == 0 {
		return
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	if len(a.during[0].gaps) > 0 && len(a.base[0].gaps) > 0 {
		b.ReportMetric(ms(a.maxDuring[0]), "max-gap-ms")
		b.ReportMetric(ms(quantile(a.during[0].gaps, 0.99)), "p99-gap-ms")
		b.ReportMetric(ms(a.maxBase[0]), "baseline-max-gap-ms")
		b.ReportMetric(ms(quantile(a.base[0].gaps, 0.99)), "baseline-p99-gap-ms")
		b.ReportMetric(float64(a.during[0].events)/a.duringDur.Seconds(), "events/s")
		b.ReportMetric(float64(a.base[0].events)/a.baseDur.Seconds(), "baseline-events/s")
	}
	if len(a.during[1].gaps) > 0 && len(a.base[1].gaps) > 0 {
		b.ReportMetric(ms(a.maxDuring[1]), "ref-max-gap-ms")
		b.ReportMetric(ms(a.maxBase[1]), "ref-baseline-max-gap-ms")
	}
	b.ReportMetric(ms(a.swap)/float64(a.n), "swap-ms")
	b.ReportMetric(ms(a.warm)/float64(a.n), "warm-ms")
	b.ReportMetric(ms(a.swapStop), "gc-stop-max-ms")
	b.ReportMetric(ms(a.baseStop), "baseline-gc-stop-max-ms")
	b.ReportMetric(a.swapCPU.Seconds()/a.duringDur.Seconds(), "cores")
	b.ReportMetric(a.baseCPU.Seconds()/a.baseDur.Seconds(), "baseline-cores")
}

// cpuTime returns the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// quantile returns the q-quantile of ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// gcStopHist returns the histogram of the time the runtime took to stop the
// world for the GC, since the process started.
func gcStopHist() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/pauses/stopping/gc:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram()
}

// histMax returns the upper bound of the highest bucket that gained samples
// from before to after (0 if none, or the metric is missing).
func histMax(before, after *metrics.Float64Histogram) time.Duration {
	if before == nil || after == nil {
		return 0
	}
	for i := len(after.Counts) - 1; i >= 0; i-- {
		if after.Counts[i] > before.Counts[i] {
			hi := after.Buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = after.Buckets[i]
			}
			return time.Duration(hi * float64(time.Second))
		}
	}
	return 0
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}
