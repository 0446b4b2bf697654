package plugin

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/sdk/go/abi"
)

// emitHarness is an instance of testdata/modules/bench/emit_bench.wasm whose
// phasehost.emit serves r, a run of a plugin with two phases (B_START,
// B_PROGRESS) and no event budget to speak of. Its "bench"."noop" import is a
// host function that does nothing.
type emitHarness struct {
	r   *run
	ctx context.Context // the run's context, as Plugin.Run makes it
	mod api.Module
}

func newEmitHarness(tb testing.TB, logger *slog.Logger, onEmit func(Emit)) *emitHarness {
	tb.Helper()
	ctx := context.Background()
	e, err := NewEngine(Options{Logger: logger})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = e.Close(ctx) })
	rt, err := e.runtimeFor(ctx, runtimeKey{pages: pagesFor(64)})
	require.NoError(tb, err)
	_, err = rt.r.NewHostModuleBuilder("bench").NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) { stack[0] = 0 }),
			[]api.ValueType{i32, i64, i64, i32, i32}, []api.ValueType{i32}).Export("noop").Instantiate(ctx)
	require.NoError(tb, err)
	wasm, err := os.ReadFile(filepath.Join(modules, "bench", "emit_bench.wasm"))
	require.NoError(tb, err)
	compiled, err := rt.r.CompileModule(ctx, wasm)
	require.NoError(tb, err)
	p := &Plugin{engine: e, rt: rt, compiled: compiled, limits: Limits{MaxEvents: 1 << 62, MaxOutputBytes: 1 << 20},
		manifest: manifest.Manifest{Name: "bench", Version: "1.0.0", Phases: []manifest.Phase{
			{Name: "B_START", Step: "b", MapsTo: "START"}, {Name: "B_PROGRESS", Step: "b", MapsTo: "PROGRESS"}}}}
	r := &run{plugin: p, limits: p.limits, logger: e.logger, onEmit: onEmit}
	runCtx := &runContext{Context: ctx, run: r}
	mod, err := rt.r.InstantiateModule(runCtx, compiled, wazero.NewModuleConfig().WithName(""))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = mod.Close(ctx) })
	return &emitHarness{r: r, ctx: runCtx, mod: mod}
}

// emit calls the emit host function as the guest would.
func (h *emitHarness) emit(phase int32, done, total int64, ptr, n uint32) int32 {
	stack := []uint64{api.EncodeI32(phase), uint64(done), uint64(total), api.EncodeU32(ptr), api.EncodeU32(n)}
	hostEmit(h.ctx, h.mod, stack)
	return api.DecodeI32(stack[0])
}

// Emit's answers, in the order the ABI checks them, and the events it delivers.
func TestEmitStatuses(t *testing.T) {
	type event struct {
		id          int32
		phase       string
		done, total int64
		msg         string
	}
	var got []event
	logs := &syncBuffer{}
	h := newEmitHarness(t, slog.New(slog.NewJSONHandler(logs, nil)), func(e Emit) {
		got = append(got, event{e.PhaseID, e.Phase.Name, e.Done, e.Total, string(e.Message)})
	})
	mem := h.mod.Memory()
	put := func(at uint32, s string) (uint32, uint32) {
		require.True(t, mem.Write(at, []byte(s)))
		return at, uint32(len(s))
	}
	ascii, asciiLen := put(1000, "placed part 17 of 200")
	multi, multiLen := put(1100, "pièce 17 sur 200 placée (M8) ✓")
	long, _ := put(2000, strings.Repeat("a", 1025))
	var want []event
	ok := func(phase int32, done, total int64, ptr, n uint32) {
		t.Helper()
		require.Equal(t, int32(abi.OK), h.emit(phase, done, total, ptr, n))
		b, _ := mem.Read(ptr, n)
		want = append(want, event{phase, h.r.plugin.manifest.Phases[phase].Name, done, total, string(b)})
	}
	status := func(want int32, phase int32, done, total int64, ptr, n uint32) {
		t.Helper()
		require.Equal(t, want, h.emit(phase, done, total, ptr, n))
	}

	ok(0, 0, 0, 0, 0) // empty message
	ok(1, 3, 10, ascii, asciiLen)
	ok(1, 4, 10, multi, multiLen)
	ok(1, 5, 0, long, 1024)
	ok(1, math.MaxInt64, math.MaxInt64, ascii, 7)

	for _, id := range []int32{-1, 2, math.MaxInt32, math.MinInt32} {
		status(abi.UndeclaredPhase, id, 1, 2, ascii, asciiLen)
	}
	status(abi.UndeclaredPhase, 2, -1, 2, long, 1025) // the phase is checked first
	assert.Equal(t, 5, h.r.refused)
	for _, id := range []string{"-1", "2", "2147483647", "-2147483648"} {
		assert.Contains(t, logs.String(), `"phase_id":`+id+`,`)
	}

	status(abi.BadMessage, 1, 1, 2, long, 1025)
	status(abi.BadMessage, 1, 1, 2, math.MaxUint32, 1025) // too long: the range is not looked at
	status(abi.BadMessage, 1, -1, 2, ascii, asciiLen)
	status(abi.BadMessage, 1, 1, -1, ascii, asciiLen)
	status(abi.BadMessage, 1, math.MinInt64, math.MinInt64, ascii, asciiLen)
	for i, bad := range []string{"\xff", "\xc0\xaf", "\xed\xa0\x80", "ok\xe2\x82", "\xf4\x90\x80\x80",
		"placed part 17 of 200\xff", "placed part \xc3 of 200", "pièce 17 sur 200 \xe9"} {
		at, n := put(3000+uint32(i)*64, bad)
		status(abi.BadMessage, 1, 1, 2, at, n)
	}
	require.Nil(t, h.r.fatal)

	// The budget: only accepted emits count, and it is checked last.
	h.r.limits.MaxEvents = h.r.events + 1
	ok(1, 6, 10, ascii, asciiLen)
	status(abi.EventBudget, 1, 7, 10, ascii, asciiLen)
	status(abi.EventBudget, 0, 0, 0, 0, 0)
	status(abi.BadMessage, 1, 7, 10, long, 1025)
	status(abi.UndeclaredPhase, 5, 7, 10, ascii, asciiLen)
	assert.Equal(t, int64(2), h.r.overBudget)
	assert.Equal(t, int64(len(want)), h.r.events)

	// Cancellation comes before everything else.
	h.r.cancelled.Store(true)
	status(abi.Cancelled, 1, 8, 10, ascii, asciiLen)
	status(abi.Cancelled, 9, -1, -1, math.MaxUint32, 5000)
	h.r.cancelled.Store(false)
	h.r.limits.MaxEvents = 1 << 62

	assert.Equal(t, want, got, "every accepted emit delivered, in order, with its data")

	// A range outside memory fails the run: the guest is unwound at once, as
	// by proc_exit (the instance is not closed under it).
	unwound := func() (v any) {
		defer func() { v = recover() }()
		h.emit(1, 1, 2, 65536-10, 11)
		return nil
	}()
	var exit *sys.ExitError
	require.ErrorAs(t, unwound.(error), &exit)
	assert.Equal(t, uint32(exitFatal), exit.ExitCode())
	require.False(t, h.mod.IsClosed())
	require.NotNil(t, h.r.fatal)
	assert.ErrorIs(t, h.r.fatal, ErrOutOfBounds)
	assert.Contains(t, h.r.fatal.Detail, "emit: message [65526, 65537) lies outside guest memory of 65536 bytes")
	assert.Equal(t, want, got)
}

// validUTF8 must answer exactly as utf8.Valid: it decides which emits are
// refused with -2.
func TestValidUTF8(t *testing.T) {
	pieces := []string{
		"", "a", "placed part 17 of 200", "é", "€", "𝄞", "\uFFFD", "\u07ff", "\u0800", "\uffff", "\U00010000", "\U0010ffff",
		"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xc2", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
		"\xef\xbf", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xfe", "\xff",
	}
	check := func(b []byte) {
		t.Helper()
		if got, want := validUTF8(b), utf8.Valid(b); got != want {
			t.Fatalf("validUTF8(%q) = %v, utf8.Valid says %v", b, got, want)
		}
	}
	// Every piece at every offset of every length up to 40, amid ASCII.
	for _, p := range pieces {
		for n := 0; n <= 40; n++ {
			for at := 0; at <= n; at++ {
				check([]byte(strings.Repeat("x", at) + p + strings.Repeat("y", n-at)))
			}
		}
	}
	// Random mixes of the pieces and ASCII runs.
	rng := rand.New(rand.NewPCG(1, 2))
	var sb bytes.Buffer
	for range 200000 {
		sb.Reset()
		for k := rng.IntN(8); k > 0; k-- {
			sb.WriteString(strings.Repeat("z", rng.IntN(12)))
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		check(sb.Bytes())
	}
	// Random bytes, a quarter of them ASCII.
	buf := make([]byte, 64)
	for range 200000 {
		b := buf[:rng.IntN(len(buf)+1)]
		for i := range b {
			b[i] = byte(rng.IntN(256))
			if rng.IntN(4) == 0 {
				b[i] &= 0x7f
			}
		}
		check(b)
	}
}

func FuzzValidUTF8(f *testing.F) {
	for _, s := range []string{"", "placed part 17 of 200", "pièce 17 sur 200 placée (M8)", "\xed\xa0\x80 surrogate", "12345678\xc3"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validUTF8(b), utf8.Valid(b); got != want {
			t.Fatalf("validUTF8(%q) = %v, utf8.Valid says %v", b, got, want)
		}
	})
}
