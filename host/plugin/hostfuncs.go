package plugin

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

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

// runFrom returns the run a host function serves, or nil during a warm
// instance's _initialize.
func runFrom(ctx context.Context) *run {
	if r := ownRun(ctx); r != nil {
		return r
	}
	return otherRun(ctx)
}

// ownRun is runFrom's common case, small enough to be inlined (emit is on the
// hot path): the context is the run's own and the run is not a warm
// instance's _initialize. It returns nil otherwise.
func ownRun(ctx context.Context) *run {
	if c, ok := ctx.(*runContext); ok && c.run != nil && !c.run.warming {
		return c.run
	}
	return nil
}

// otherRun is runFrom for a context that is not a run's own, and for the
// _initialize of a warm instance.
func otherRun(ctx context.Context) *run {
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
			r.outOfBounds(mod, abi.FuncInputRead, "destination", ptr, uint32(len(r.input)))
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
			r.outOfBounds(mod, abi.FuncOutputWrite, "data", ptr, n)
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

	fn(abi.FuncEmit, hostEmit, []api.ValueType{i32, i64, i64, i32, i32}, []api.ValueType{i32})

	fn(abi.FuncLog, func(ctx context.Context, mod api.Module, stack []uint64) {
		r := runFrom(ctx)
		if r == nil {
			return
		}
		level, ptr, n := api.DecodeI32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
		b, ok := mod.Memory().Read(ptr, n)
		if !ok {
			r.outOfBounds(mod, abi.FuncLog, "message", ptr, n)
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
			r.outOfBounds(mod, abi.FuncFail, "message", ptr, n)
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

// hostEmit implements the emit host function; stack holds its parameters
// (phase, done, total, msg_ptr, msg_len) and gets its status. It is the hot
// path of the ABI: the rare outcomes are handled out of line so that the
// common one stays short.
func hostEmit(ctx context.Context, mod api.Module, stack []uint64) {
	r := ownRun(ctx)
	if r == nil {
		if r = otherRun(ctx); r == nil {
			return
		}
	}
	_ = stack[4]
	id, done, total := api.DecodeI32(stack[0]), int64(stack[1]), int64(stack[2])
	ptr, n := api.DecodeU32(stack[3]), api.DecodeU32(stack[4])
	status := int32(abi.OK)
	phases := r.plugin.manifest.Phases
	switch {
	case r.cancelled.Load():
		status = abi.Cancelled
	case uint64(uint32(id)) >= uint64(len(phases)): // id < 0 or id >= len
		status = r.refusePhase(ctx, id)
	case n > abi.MaxMessageBytes || done|total < 0: // done < 0 or total < 0
		status = abi.BadMessage
	default:
		b, ok := mod.Memory().Read(ptr, n)
		switch {
		case !ok:
			r.outOfBounds(mod, abi.FuncEmit, "message", ptr, n)
			status = abi.BadMessage
		case !validUTF8(b):
			status = abi.BadMessage
		case r.events >= r.limits.MaxEvents:
			r.overBudget++
			status = abi.EventBudget
		default:
			r.events++
			if r.onEmit != nil {
				r.onEmit(Emit{PhaseID: id, Phase: &phases[id], Done: done, Total: total, Message: b})
			}
		}
	}
	stack[0] = api.EncodeI32(status)
}

// refusePhase answers an emit on an undeclared phase id: counted in the
// metric, logged (the first maxRefusedLogs of a run), never guessed.
//
//go:noinline
func (r *run) refusePhase(ctx context.Context, id int32) int32 {
	r.refused++
	r.plugin.engine.metrics.RefusedPhase(r.plugin.manifest.Name, r.plugin.manifest.Version)
	if r.refused <= maxRefusedLogs {
		r.logger.LogAttrs(ctx, slog.LevelWarn, "emit refused: undeclared phase id",
			slog.Int("phase_id", int(id)), slog.Int("declared", len(r.plugin.manifest.Phases)))
	}
	return abi.UndeclaredPhase
}

// validUTF8 reports whether b is valid UTF-8, exactly as utf8.Valid does,
// faster for the mostly-ASCII text progress messages are: it tests ASCII 8
// bytes at a time (utf8.Valid does too, but from the first non-ASCII byte on
// it goes byte by byte to the end), checks a non-ASCII sequence on its own
// and goes back to 8 bytes at a time after it.
func validUTF8(b []byte) bool {
	n, i := len(b), 0
	for i < n {
		if n-i >= 8 {
			w := binary.LittleEndian.Uint64(b[i:]) & hi8
			if w == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(w) >> 3
		} else if asciiTail(b, i) {
			return true
		} else {
			for b[i] < utf8.RuneSelf { // stops: b[i:] has a non-ASCII byte
				i++
			}
		}
		// b[i] starts a non-ASCII sequence. Two bytes (U+0080..U+07FF:
		// Latin, Greek, Cyrillic, ...) are checked here.
		if n-i >= 2 && b[i] >= 0xc2 && binary.LittleEndian.Uint16(b[i:])&0xc0e0 == 0x80c0 { // 110xxxxx 10xxxxxx
			i += 2
			continue
		}
		k := seqLen(b[i:])
		if k == 0 {
			return false
		}
		i += k
	}
	return true
}

// hi8 has the high bit of each of 8 bytes.
const hi8 = 0x8080808080808080

// asciiTail reports whether b[i:], fewer than 8 bytes, is ASCII.
func asciiTail(b []byte, i int) bool {
	n := len(b)
	switch {
	case n >= 8: // the last 8 bytes, less those before i
		return (binary.LittleEndian.Uint64(b[n-8:])&hi8)>>(8*(8-(n-i))) == 0
	case n-i >= 4:
		return (binary.LittleEndian.Uint32(b[i:])|binary.LittleEndian.Uint32(b[n-4:]))&0x80808080 == 0
	}
	for _, c := range b[i:] {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// seqLen returns the length of the UTF-8 sequence at the start of b, whose
// first byte is not ASCII, or 0 if it is not a valid one: utf8.DecodeRune
// refuses overlong forms, surrogates, code points past U+10FFFF and cut
// sequences, answering (RuneError, 1), which a well-formed U+FFFD is not.
func seqLen(b []byte) int {
	if r, size := utf8.DecodeRune(b); r != utf8.RuneError || size > 1 {
		return size
	}
	return 0
}

// maxRefusedLogs is how many refused phase ids a run logs one by one; the rest
// are counted in the metric and summed up when the run ends.
const maxRefusedLogs = 10

// outOfBounds records that the guest passed memory it does not have and
// stops the instance: an instrumented guest traps at its next loop iteration;
// another is unwound at once by a panic, which wazero turns into the call's
// error (its proc_exit does the same). Closing that instance here instead
// would free its memory (memory_linux.go) while the guest still ran to its
// next check.
func (r *run) outOfBounds(mod api.Module, fn, what string, ptr, n uint32) {
	if r.fatal == nil {
		r.fatal = &RunError{Cause: ErrOutOfBounds, Detail: fmt.Sprintf("%s: %s [%d, %d) lies outside guest memory of %d bytes",
			fn, what, ptr, uint64(ptr)+uint64(n), mod.Memory().Size())}
	}
	if r.interrupt != nil {
		r.stop(errFatalCause)
		return
	}
	panic(sys.NewExitError(exitFatal))
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
