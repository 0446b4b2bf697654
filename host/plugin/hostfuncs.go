package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/phasehost/phasehost/sdk/go/abi"
)

// exitFatal is the exit code an instance is closed with when a host function
// finds the guest misbehaving (e.g. a pointer out of bounds); the cause is
// recorded on the run.
const exitFatal = 0xfa7a1

type runKey struct{}

// runContext is the context a run's guest calls are made with: it carries
// the run, so host functions find it with one type check instead of a walk
// up the context chain (emit is on the hot path).
type runContext struct {
	context.Context
	run *run
}

// Value implements context.Context.
func (c *runContext) Value(key any) any {
	if key == (runKey{}) {
		return c.run
	}
	return c.Context.Value(key)
}

func runFrom(ctx context.Context) *run {
	r, ok := ctx.(*runContext)
	var rn *run
	if ok {
		rn = r.run
	} else {
		rn, _ = ctx.Value(runKey{}).(*run)
	}
	if rn != nil && rn.warming {
		// _initialize of a warm instance: there is no run to serve yet.
		// The instance is discarded (warm.go).
		rn.touched = true
		return nil
	}
	return rn
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// hostModule builds the "phasehost" module: ABI v1. The functions find the run
// they serve in the context, so one host module serves every instance of a
// runtime. None of them panics: misbehaviour is answered with a status code, or,
// for a pointer out of bounds, by recording the cause and closing the instance.
func hostModule(r wazero.Runtime) wazero.HostModuleBuilder {
	b := r.NewHostModuleBuilder(abi.ModuleName)
	fn := func(name string, f api.GoModuleFunc, params, results []api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, results).Export(name)
	}
	fn(abi.FuncInputLen, func(ctx context.Context, mod api.Module, stack []uint64) {
		if r := runFrom(ctx); r != nil {
			stack[0] = api.EncodeI32(int32(len(r.input)))
		}
	}, nil, []api.ValueType{i32})

	fn(abi.FuncInputRead, func(ctx context.Context, mod api.Module, stack []uint64) {
		r := runFrom(ctx)
		if r == nil {
			return
		}
		ptr := api.DecodeU32(stack[0])
		if !mod.Memory().Write(ptr, r.input) {
			r.outOfBounds(ctx, mod, abi.FuncInputRead, "destination", ptr, uint32(len(r.input)))
		}
	}, []api.ValueType{i32}, nil)

	fn(abi.FuncOutputWrite, func(ctx context.Context, mod api.Module, stack []uint64) {
		r := runFrom(ctx)
		if r == nil {
			return
		}
		ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
		b, ok := mod.Memory().Read(ptr, n)
		if !ok {
			r.outOfBounds(ctx, mod, abi.FuncOutputWrite, "data", ptr, n)
			stack[0] = api.EncodeI32(abi.OutputLimit)
			return
		}
		if int64(len(r.output))+int64(n) > r.limits.MaxOutputBytes {
			r.outputOver = true
			stack[0] = api.EncodeI32(abi.OutputLimit)
			return
		}
		r.output = append(r.output, b...)
		stack[0] = api.EncodeI32(abi.OK)
	}, []api.ValueType{i32, i32}, []api.ValueType{i32})

	fn(abi.FuncEmit, func(ctx context.Context, mod api.Module, stack []uint64) {
		r := runFrom(ctx)
		if r == nil {
			return
		}
		stack[0] = api.EncodeI32(r.emit(ctx, mod, api.DecodeI32(stack[0]), int64(stack[1]), int64(stack[2]), api.DecodeU32(stack[3]), api.DecodeU32(stack[4])))
	}, []api.ValueType{i32, i64, i64, i32, i32}, []api.ValueType{i32})

	fn(abi.FuncLog, func(ctx context.Context, mod api.Module, stack []uint64) {
		r := runFrom(ctx)
		if r == nil {
			return
		}
		level, ptr, n := api.DecodeI32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
		b, ok := mod.Memory().Read(ptr, n)
		if !ok {
			r.outOfBounds(ctx, mod, abi.FuncLog, "message", ptr, n)
			return
		}
		r.guestLog(ctx, slogLevel(level), "plugin log", string(b))
	}, []api.ValueType{i32, i32, i32}, nil)

	fn(abi.FuncFail, func(ctx context.Context, mod api.Module, stack []uint64) {
		r := runFrom(ctx)
		if r == nil {
			return
		}
		ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
		b, ok := mod.Memory().Read(ptr, n)
		if !ok {
			r.outOfBounds(ctx, mod, abi.FuncFail, "message", ptr, n)
			return
		}
		r.failMsg = sanitize(b, maxFailBytes)
	}, []api.ValueType{i32, i32}, nil)

	fn(abi.FuncCancelled, func(ctx context.Context, mod api.Module, stack []uint64) {
		r := runFrom(ctx)
		if r != nil && r.cancelled.Load() {
			stack[0] = api.EncodeI32(1)
			return
		}
		stack[0] = 0
	}, nil, []api.ValueType{i32})
	return b
}

// maxFailBytes caps a fail message.
const maxFailBytes = 16 << 10

// emit implements the emit host function.
func (r *run) emit(ctx context.Context, mod api.Module, id int32, done, total int64, ptr, n uint32) int32 {
	if r.cancelled.Load() {
		return abi.Cancelled
	}
	if id < 0 || int(id) >= len(r.plugin.manifest.Phases) {
		r.refused++
		r.plugin.engine.metrics.RefusedPhase(r.plugin.manifest.Name, r.plugin.manifest.Version)
		if r.refused <= maxRefusedLogs {
			r.logger.LogAttrs(ctx, slog.LevelWarn, "emit refused: undeclared phase id",
				slog.Int("phase_id", int(id)), slog.Int("declared", len(r.plugin.manifest.Phases)))
		}
		return abi.UndeclaredPhase
	}
	if n > abi.MaxMessageBytes || done < 0 || total < 0 {
		return abi.BadMessage
	}
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		r.outOfBounds(ctx, mod, abi.FuncEmit, "message", ptr, n)
		return abi.BadMessage
	}
	if !utf8.Valid(b) {
		return abi.BadMessage
	}
	if r.events >= r.limits.MaxEvents {
		r.overBudget++
		return abi.EventBudget
	}
	r.events++
	if r.onEmit != nil {
		r.onEmit(Emit{PhaseID: id, Phase: &r.plugin.manifest.Phases[id], Done: done, Total: total, Message: b})
	}
	return abi.OK
}

// maxRefusedLogs is how many refused phase ids a run logs one by one; the rest
// are counted in the metric and summed up when the run ends.
const maxRefusedLogs = 10

// outOfBounds records that the guest passed memory it does not have and
// stops the instance: an instrumented guest traps at its next loop iteration,
// another is closed and stops at its next check.
func (r *run) outOfBounds(ctx context.Context, mod api.Module, fn, what string, ptr, n uint32) {
	if r.fatal == nil {
		r.fatal = &RunError{Cause: ErrOutOfBounds, Detail: fmt.Sprintf("%s: %s [%d, %d) lies outside guest memory of %d bytes",
			fn, what, ptr, uint64(ptr)+uint64(n), mod.Memory().Size())}
	}
	if r.interrupt != nil {
		r.stop(errFatalCause)
		return
	}
	_ = mod.CloseWithExitCode(ctx, exitFatal)
}

// errFatalCause is the stop cause of a guest stopped for a fatal host-call error.
var errFatalCause = errors.New("fatal host call")

func slogLevel(level int32) slog.Level {
	switch level {
	case abi.LevelDebug:
		return slog.LevelDebug
	case abi.LevelWarn:
		return slog.LevelWarn
	case abi.LevelError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// sanitize makes guest bytes a valid UTF-8 string of at most max bytes.
func sanitize(b []byte, max int) string {
	if len(b) > max {
		b = b[:max]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
