package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/phasehost/phasehost/host/wasmbin"
	"github.com/phasehost/phasehost/sdk/go/abi"
)

// Pre-warmed instances. A plugin may keep a few instances that are
// instantiated and have run _initialize, so a run starts at the guest's run
// entry. The registry keeps a pool for the active version of each name
// (SetWarm). An instance serves exactly one run and is closed after it: a
// warm instance is a fresh instance made early, nothing leaks between runs.
//
// What makes an instance safe to hand to a run:
//   - it was made with its own run state and a context bounded by the
//     plugin's timeout, with its interrupt global watched, so a guest that
//     hangs in _initialize is stopped and discarded; the run's own timeout
//     clock starts when the run starts, as for a fresh instance;
//   - its WASI stdout/stderr write through a switch: to the log (capped, as
//     "warming") while it is made, to the taking run's writers after;
//   - host functions find their run through the context of each call, so the
//     run's calls reach the run; a guest that calls the phasehost ABI during
//     _initialize (its calls would have reached the run of a fresh instance)
//     is not pre-warmed: its instance is discarded and the plugin keeps
//     instantiating per run;
//   - only modules stopped through their interrupt global are pre-warmed:
//     the run binds that global, and it must still read 0.
//
// Retire, Close and SetWarm(0) drain the pool.

// warmInstance is an instance ready for run.
type warmInstance struct {
	mod            api.Module
	interrupt      api.MutableGlobal
	stdout, stderr *switchWriter
}

// switchWriter is a WASI stdout/stderr whose destination changes when a
// warm instance is handed to a run.
type switchWriter struct{ w atomic.Pointer[io.Writer] }

func newSwitchWriter(w io.Writer) *switchWriter {
	s := &switchWriter{}
	s.set(w)
	return s
}

func (s *switchWriter) set(w io.Writer) { s.w.Store(&w) }

func (s *switchWriter) Write(p []byte) (int, error) { return (*s.w.Load()).Write(p) }

// warmPool is a plugin's pool of warm instances.
type warmPool struct {
	mu      sync.Mutex
	target  int
	idle    []*warmInstance
	filling bool
	off     string // why the plugin is not pre-warmed ("" when it may be)
}

// SetWarm sets how many warm instances p keeps (0: none, and idle ones are
// closed). Filling happens in the background. It does nothing for a plugin
// that cannot be pre-warmed (not instrumented for interruption, or calling the
// ABI from _initialize).
func (p *Plugin) SetWarm(n int) {
	n = max(n, 0)
	pool := &p.warm
	pool.mu.Lock()
	pool.target = n
	var drop []*warmInstance
	if len(pool.idle) > n {
		drop = pool.idle[n:]
		pool.idle = append([]*warmInstance(nil), pool.idle[:n]...)
	}
	p.fillLocked()
	pool.mu.Unlock()
	closeWarm(drop)
}

// Warm returns how many warm instances are ready.
func (p *Plugin) Warm() int {
	p.warm.mu.Lock()
	defer p.warm.mu.Unlock()
	return len(p.warm.idle)
}

// drainWarm closes the idle instances and stops refills.
func (p *Plugin) drainWarm() {
	p.warm.mu.Lock()
	drop := p.warm.idle
	p.warm.idle, p.warm.target = nil, 0
	p.warm.mu.Unlock()
	closeWarm(drop)
}

func closeWarm(list []*warmInstance) {
	for _, w := range list {
		_ = w.mod.Close(context.Background())
	}
}

// takeWarm returns a warm instance, or nil, and starts a refill.
func (p *Plugin) takeWarm() *warmInstance {
	pool := &p.warm
	pool.mu.Lock()
	defer pool.mu.Unlock()
	n := len(pool.idle)
	if n == 0 {
		p.fillLocked()
		return nil
	}
	w := pool.idle[n-1]
	pool.idle[n-1] = nil
	pool.idle = pool.idle[:n-1]
	p.fillLocked()
	return w
}

// fillLocked starts the filler when the pool is short. p.warm.mu is held.
func (p *Plugin) fillLocked() {
	pool := &p.warm
	if pool.filling || pool.off != "" || len(pool.idle) >= pool.target {
		return
	}
	if !p.interruptible {
		pool.off = "not instrumented for interruption"
		return
	}
	if !p.beginFill() { // closed, or retired
		return
	}
	pool.filling = true
	go p.fill()
}

// fill makes instances until the pool is full. It counts as a user of the
// compiled code (lifecycle.fills), so a drain waits for it.
func (p *Plugin) fill() {
	defer p.endFill()
	for {
		p.warm.mu.Lock()
		if len(p.warm.idle) >= p.warm.target || p.outOfService() {
			p.warm.filling = false
			p.warm.mu.Unlock()
			return
		}
		p.warm.mu.Unlock()
		w, err := p.warmOne()
		if err != nil {
			// Logged before off is set: whoever sees off finds the log.
			p.engine.logger.Warn("plugin not pre-warmed; instantiating per run", slog.String("plugin", p.Ref()), slog.String("error", err.Error()))
		}
		p.warm.mu.Lock()
		if err != nil {
			p.warm.filling = false
			p.warm.off = err.Error()
			p.warm.mu.Unlock()
			return
		}
		if len(p.warm.idle) >= p.warm.target || p.outOfService() {
			p.warm.filling = false
			p.warm.mu.Unlock()
			closeWarm([]*warmInstance{w})
			return
		}
		p.warm.idle = append(p.warm.idle, w)
		p.warm.mu.Unlock()
	}
}

// errWarmTouched: the guest called the ABI during _initialize.
var errWarmTouched = errors.New("the module calls the phasehost ABI from _initialize")

// warmOne makes one instance and runs _initialize in it, under its own run
// state and a context bounded by the plugin's timeout.
func (p *Plugin) warmOne() (*warmInstance, error) {
	r := &run{
		plugin:  p,
		limits:  p.limits,
		logger:  p.engine.logger.With(slog.String("plugin", p.manifest.Name), slog.String("version", p.manifest.Version), slog.Bool("warming", true)),
		logLeft: p.engine.policy.MaxLogBytes,
		warming: true,
	}
	r.stderr = &guestWriter{run: r, stream: "stderr", keepTail: true}
	stdout := &guestWriter{run: r, stream: "stdout"}
	w := &warmInstance{stdout: newSwitchWriter(stdout), stderr: newSwitchWriter(r.stderr)}
	ctx, cancel := context.WithTimeoutCause(context.Background(), p.limits.Timeout, errTimeoutCause)
	defer cancel()
	rctx := &runContext{Context: ctx, run: r}
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions().WithStdout(w.stdout).WithStderr(w.stderr)
	mod, err := p.rt.r.InstantiateModule(p.engine.withGuestMemory(rctx), p.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiating: %w", err)
	}
	g, ok := mod.ExportedGlobal(wasmbin.InterruptExport).(api.MutableGlobal)
	if !ok {
		_ = mod.Close(context.Background())
		return nil, errors.New("instrumented module has no interrupt global")
	}
	r.interrupt = g
	w.mod, w.interrupt = mod, g
	if p.hasInit {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			select {
			case <-ctx.Done():
				r.stop(context.Cause(ctx))
			case <-done:
			}
		})
		_, err = mod.ExportedFunction(abi.ExportInitialize).Call(rctx)
		close(done)
		wg.Wait() // no stop can land on the instance once handed over
	}
	stdout.flush()
	r.stderr.flush()
	switch {
	case r.touched:
		err = errWarmTouched
	case err != nil || r.fatal != nil:
		err = fmt.Errorf("in _initialize: %s", r.classify(rctx, err, 0, "").Error())
	case r.stopCause.Load() != nil || g.Get() != 0:
		err = errors.New("stopped in _initialize")
	}
	if err != nil {
		_ = mod.Close(context.Background())
		return nil, err
	}
	return w, nil
}
