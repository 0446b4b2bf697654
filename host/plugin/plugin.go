package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/wasmbin"
	"github.com/phasehost/phasehost/sdk/go/abi"
	"github.com/phasehost/phasehost/sdk/go/docjson"
)

// Plugin is a validated, compiled module. It is immutable and safe for
// concurrent use: every Run gets its own instance.
//
// # Drain
//
// A plugin taken out of service (removed, or replaced by an upload of the same
// name and version) is retired, not closed: Retire closes its compiled code
// once nothing uses it. Two things use it:
//   - runs in flight: Run counts itself while it runs;
//   - holds: Acquire/Release, taken by whoever keeps the *Plugin to run it
//     later (a queued job holds each of its stages from submission to its end).
//
// So a job that resolved a plugin keeps running, or starts later, on the
// version it resolved, and the code is released when the last such job ends.
// Run on a closed plugin fails with ErrInstantiate. Close remains the
// immediate release, for owners that know nothing uses the plugin.
type Plugin struct {
	engine   *Engine
	rt       *runtime
	compiled wazero.CompiledModule
	manifest manifest.Manifest
	limits   Limits
	sha256   string
	hasInit  bool
	size     int
	// interruptible: the module was instrumented (wasmbin.InstrumentLoops) and
	// is stopped through its interrupt global; otherwise its runtime checks
	// the context (slower).
	interruptible bool

	life lifecycle // holds, runs in flight, retirement (drain.go)
	warm warmPool  // pre-warmed instances (warm.go)
}

// Manifest returns a copy of the plugin's manifest.
func (p *Plugin) Manifest() manifest.Manifest {
	m := p.manifest
	m.Phases = append([]manifest.Phase(nil), p.manifest.Phases...)
	if p.manifest.Limits != nil {
		l := *p.manifest.Limits
		m.Limits = &l
	}
	return m
}

// Ref returns "name@version".
func (p *Plugin) Ref() string { return p.manifest.Ref() }

// Name returns the manifest name.
func (p *Plugin) Name() string { return p.manifest.Name }

// Version returns the manifest version.
func (p *Plugin) Version() string { return p.manifest.Version }

// Limits returns the limits the plugin runs under.
func (p *Plugin) Limits() Limits { return p.limits }

// SHA256 returns the hex sha256 of the module bytes.
func (p *Plugin) SHA256() string { return p.sha256 }

// Size returns the module size in bytes.
func (p *Plugin) Size() int { return p.size }

// Close releases the compiled code now. Runs in flight must have finished;
// to close once they have, use Retire. Closing twice is harmless.
func (p *Plugin) Close(ctx context.Context) error { return p.closeNow(ctx) }

// Emit is one accepted emit, already resolved against the manifest.
type Emit struct {
	PhaseID int32
	// Phase is the declared phase; it points into the plugin's manifest and
	// must not be modified.
	Phase *manifest.Phase
	Done  int64
	Total int64
	// Message is valid UTF-8 of at most 1024 bytes. It aliases guest memory
	// and is valid only during OnEmit: copy it (string(e.Message)) to keep it.
	Message []byte
}

// RunRequest is what one run needs.
type RunRequest struct {
	// JobID is used in logs and errors.
	JobID string
	// Input is the run's input document (JSON).
	Input []byte
	// OnEmit receives every accepted emit, in order, on the goroutine calling
	// Run, while the guest waits: keep it short.
	OnEmit func(Emit)
	// Cancel, when closed, asks the guest to stop: cancelled() returns 1 and
	// emit returns 1. A guest that has not returned after the policy's
	// CancelGrace is stopped.
	Cancel <-chan struct{}
}

// Result is what a successful run produced.
type Result struct {
	// Output is the run's output: a JSON document ("null" when nothing was written).
	Output []byte
	// Events is the number of accepted emits.
	Events int64
	// Refused counts emits refused for an undeclared phase id.
	Refused int
	// Duration covers instantiation (unless a pre-warmed instance was
	// taken) and the run.
	Duration time.Duration
}

// run is the state of one run, reached by the host functions through the context.
// Only the goroutine calling Plugin.Run touches it, except cancelled.
type run struct {
	plugin     *Plugin
	limits     Limits
	logger     *slog.Logger
	input      []byte
	output     []byte
	outputOver bool
	onEmit     func(Emit)
	events     int64
	overBudget int64
	refused    int
	failMsg    string
	fatal      *RunError
	cancelled  atomic.Bool
	// interrupt is the instance's interrupt global (nil when not interruptible).
	interrupt api.MutableGlobal
	// stopCause is why the host interrupted the guest; set before interrupt.
	stopCause  atomic.Pointer[error]
	logLeft    int64
	logDropped int64
	stderr     *guestWriter
	// warming: the run state of a warm instance's _initialize (warm.go);
	// touched: the guest called the ABI then.
	warming, touched bool
}

// runEntryHook, when set (benchmarks), is called just before the guest's run
// entry is called.
var runEntryHook func()

var (
	errTimeoutCause = errors.New("run timeout")
	errGraceCause   = errors.New("cancel grace expired")
)

// Run runs the plugin once, in a fresh instance. A failed run returns a
// *RunError; the Result is nil then.
func (p *Plugin) Run(ctx context.Context, req RunRequest) (*Result, error) {
	start := time.Now()
	res, err := p.run(ctx, req)
	outcome, cause := "succeeded", ""
	if err != nil {
		var re *RunError
		switch {
		case errors.Is(err, ErrCancelled):
			outcome = "cancelled"
		case errors.As(err, &re):
			outcome, cause = "failed", re.CauseName()
		default:
			outcome, cause = "failed", "host"
		}
	}
	p.engine.metrics.RunFinished(p.manifest.Name, p.manifest.Version, outcome, cause, time.Since(start))
	if res != nil {
		res.Duration = time.Since(start)
	}
	return res, err
}

func (p *Plugin) run(ctx context.Context, req RunRequest) (*Result, error) {
	if !p.beginRun() {
		return nil, &RunError{Plugin: p.Ref(), JobID: req.JobID, Cause: ErrInstantiate,
			Detail: "the plugin has been closed (removed or replaced since it was resolved)"}
	}
	defer p.endRun()
	logger := p.engine.logger.With(slog.String("plugin", p.manifest.Name), slog.String("version", p.manifest.Version), slog.String("job", req.JobID))
	r := &run{
		plugin:  p,
		limits:  p.limits,
		logger:  logger,
		input:   req.Input,
		onEmit:  req.OnEmit,
		logLeft: p.engine.policy.MaxLogBytes,
	}
	fail := func(re *RunError) (*Result, error) {
		re.Plugin, re.JobID = p.Ref(), req.JobID
		if re.Guest == "" {
			re.Guest = r.stderr.tail()
		}
		return nil, re
	}

	base, cancelBase := context.WithCancelCause(ctx)
	defer cancelBase(nil)
	runCtx, cancelTimeout := context.WithTimeoutCause(base, p.limits.Timeout, errTimeoutCause)
	defer cancelTimeout()
	runCtx = &runContext{Context: runCtx, run: r}
	if req.Cancel != nil {
		go watchCancel(runCtx, req.Cancel, &r.cancelled, p.engine.policy.CancelGrace, cancelBase)
	}

	stdout := &guestWriter{run: r, stream: "stdout"}
	r.stderr = &guestWriter{run: r, stream: "stderr", keepTail: true}
	var mod api.Module
	warm := p.takeWarm()
	if warm != nil {
		// Instantiated and initialised ahead (warm.go): bound to this run
		// from here on; the instance serves this run only.
		warm.stdout.set(stdout)
		warm.stderr.set(r.stderr)
		mod = warm.mod
	} else {
		cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions().
			WithStdout(stdout).WithStderr(r.stderr)
		var err error
		mod, err = p.rt.r.InstantiateModule(p.engine.withGuestMemory(runCtx), p.compiled, cfg)
		if err != nil {
			return fail(r.classify(runCtx, err, 0, "instantiating"))
		}
	}
	defer mod.Close(context.WithoutCancel(ctx))
	if p.interruptible {
		g, ok := mod.ExportedGlobal(wasmbin.InterruptExport).(api.MutableGlobal)
		if !ok {
			return fail(&RunError{Cause: ErrInstantiate, Detail: "instrumented module has no interrupt global"})
		}
		r.interrupt = g
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-runCtx.Done():
				r.stop(context.Cause(runCtx))
			case <-done:
			}
		}()
	}
	memSize := func() uint64 {
		if m := mod.Memory(); m != nil {
			return uint64(m.Size())
		}
		return 0
	}
	if p.hasInit && warm == nil {
		if _, err := mod.ExportedFunction(abi.ExportInitialize).Call(runCtx); err != nil || r.fatal != nil {
			return fail(r.classify(runCtx, err, memSize(), "in _initialize"))
		}
	}
	if runEntryHook != nil {
		runEntryHook()
	}
	results, err := mod.ExportedFunction(abi.ExportRun).Call(runCtx)
	stdout.flush()
	r.stderr.flush()
	r.summarise(ctx)
	if err != nil || r.fatal != nil {
		return fail(r.classify(runCtx, err, memSize(), ""))
	}
	if status := int32(results[0]); status != 0 {
		detail := r.failMsg
		if detail == "" {
			detail = fmt.Sprintf("run returned %d without calling fail", status)
		}
		cause := ErrFailed
		if r.cancelled.Load() {
			cause = ErrCancelled
		}
		return fail(&RunError{Cause: cause, Detail: detail, Status: status})
	}
	if r.outputOver {
		return fail(&RunError{Cause: ErrBadOutput, Detail: fmt.Sprintf("output exceeded max_output_bytes (%d); run returned 0 with its output cut short", r.limits.MaxOutputBytes)})
	}
	out := bytes.TrimSpace(r.output)
	if len(out) == 0 {
		out = []byte("null")
	} else if !docjson.Valid(out) { // json.Valid's answer, 4× as fast (RATIONALE.md)
		return fail(&RunError{Cause: ErrBadOutput, Detail: fmt.Sprintf("output (%d bytes) is not a JSON document", len(out))})
	}
	return &Result{Output: out, Events: r.events, Refused: r.refused}, nil
}

// watchCancel forwards a job's cancellation to the guest and stops the guest
// after the grace period.
func watchCancel(ctx context.Context, cancel <-chan struct{}, flag *atomic.Bool, grace time.Duration, stop context.CancelCauseFunc) {
	select {
	case <-cancel:
	case <-ctx.Done():
		return
	}
	flag.Store(true)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-t.C:
		stop(errGraceCause)
	case <-ctx.Done():
	}
}

// stop interrupts an instrumented guest: it traps at its next loop iteration.
func (r *run) stop(cause error) {
	if r.interrupt == nil {
		return
	}
	r.stopCause.CompareAndSwap(nil, &cause)
	r.interrupt.Set(1)
}

// classify turns what wazero returned into a RunError.
func (r *run) classify(ctx context.Context, err error, memBytes uint64, where string) *RunError {
	if r.fatal != nil {
		return r.fatal
	}
	prefix := ""
	if where != "" {
		prefix = where + ": "
	}
	stopped := func(cause error) *RunError {
		switch {
		case errors.Is(cause, errTimeoutCause):
			return &RunError{Cause: ErrTimeout, Detail: prefix + fmt.Sprintf("exceeded its %s timeout and was stopped", r.limits.Timeout), wrapped: err}
		case errors.Is(cause, errGraceCause):
			return &RunError{Cause: ErrCancelled, Detail: prefix + fmt.Sprintf("did not return within %s of cancellation and was stopped", r.plugin.engine.policy.CancelGrace), wrapped: err}
		default:
			return &RunError{Cause: ErrCancelled, Detail: prefix + "stopped: " + cause.Error(), wrapped: err}
		}
	}
	if c := r.stopCause.Load(); c != nil && err != nil {
		return stopped(*c)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			return stopped(context.Cause(ctx))
		}
		re := &RunError{Cause: ErrExit, Detail: prefix + fmt.Sprintf("guest exited with code %d", exit.ExitCode()), wrapped: err}
		r.markMemory(re, memBytes)
		return re
	}
	msg := err.Error()
	detail, stack, _ := strings.Cut(msg, "\nwasm stack trace:")
	if stack != "" {
		stack = "wasm stack trace:" + stack
	}
	cause := ErrTrap
	if where == "instantiating" {
		cause = ErrInstantiate
		if strings.Contains(detail, "over limit") || strings.Contains(detail, "memory") && strings.Contains(detail, "limit") {
			cause = ErrMemoryLimit
		}
	}
	re := &RunError{Cause: cause, Detail: prefix + strings.TrimPrefix(detail, "wasm error: "), Stack: strings.TrimRight(stack, "\n"), wrapped: err}
	r.markMemory(re, memBytes)
	return re
}

// markMemory turns a failure into ErrMemoryLimit when the guest had reached its
// memory limit (a failed memory.grow surfaces in the guest as a trap or an abort).
func (r *run) markMemory(re *RunError, memBytes uint64) {
	limit := uint64(pagesFor(r.limits.MemoryMB)) * 65536
	slack := max(limit/8, 1<<20)
	oom := strings.Contains(r.stderr.tail(), "out of memory")
	if memBytes > 0 && (memBytes+slack >= limit || oom) {
		re.Cause = ErrMemoryLimit
		re.Detail = fmt.Sprintf("reached its memory limit of %d MiB (guest memory %d MiB): %s", r.limits.MemoryMB, memBytes>>20, re.Detail)
	}
}

// summarise logs what was counted rather than logged one by one.
func (r *run) summarise(ctx context.Context) {
	if r.refused > maxRefusedLogs {
		r.logger.LogAttrs(ctx, slog.LevelWarn, "emits refused: undeclared phase ids", slog.Int("refused", r.refused))
	}
	if r.overBudget > 0 {
		r.logger.LogAttrs(ctx, slog.LevelWarn, "emits refused: event budget spent", slog.Int64("max_events", r.limits.MaxEvents), slog.Int64("refused", r.overBudget))
	}
	if r.logDropped > 0 {
		r.logger.LogAttrs(ctx, slog.LevelWarn, "guest log capped", slog.Int64("max_log_bytes", r.plugin.engine.policy.MaxLogBytes), slog.Int64("dropped_bytes", r.logDropped))
	}
}
