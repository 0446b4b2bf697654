package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/metrics"
)

const modules = "../../testdata/modules"

// syncBuffer is a log sink safe for concurrent runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	engine  *Engine
	logs    *syncBuffer
	metrics *metrics.Metrics
	reg     *prometheus.Registry
}

func newFixture(t *testing.T, policy Policy) *fixture {
	t.Helper()
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	e, err := NewEngine(Options{Policy: policy, Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Metrics: m})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return &fixture{engine: e, logs: logs, metrics: m, reg: reg}
}

func (f *fixture) load(t *testing.T, rel string) *Plugin {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(modules, rel))
	require.NoError(t, err)
	p, err := f.engine.Load(context.Background(), b)
	require.NoError(t, err, rel)
	return p
}

type runOutcome struct {
	res    *Result
	err    error
	emits  []Emit
	output string
}

func runIt(t *testing.T, p *Plugin, input string, cancel <-chan struct{}) runOutcome {
	t.Helper()
	var o runOutcome
	o.res, o.err = p.Run(context.Background(), RunRequest{JobID: "job-1", Input: []byte(input), Cancel: cancel, OnEmit: func(e Emit) { o.emits = append(o.emits, e) }})
	if o.res != nil {
		o.output = string(o.res.Output)
	}
	return o
}

func TestValidModule(t *testing.T) {
	f := newFixture(t, Policy{})
	p := f.load(t, "valid/ok.wasm")
	assert.Equal(t, "ok@1.0.0", p.Ref())
	o := runIt(t, p, `{"hello":"world"}`, nil)
	require.NoError(t, o.err)
	assert.JSONEq(t, `{"ok":true,"input_len":17}`, o.output)
	var names []string
	for _, e := range o.emits {
		names = append(names, e.Phase.Name)
	}
	assert.Equal(t, []string{"OK_READ_START", "OK_READ_PROGRESS", "OK_READ_PROGRESS", "OK_READ_PROGRESS", "OK_READ_PROGRESS", "OK_READ_END"}, names)
	assert.Equal(t, int64(4), o.emits[4].Done)
	assert.Equal(t, int64(4), o.emits[4].Total)
	assert.Contains(t, f.logs.String(), `"text":"ok: hello from stdout"`)

	// A second run gets a fresh instance and the same answer.
	o2 := runIt(t, p, `{}`, nil)
	require.NoError(t, o2.err)
	assert.JSONEq(t, `{"ok":true,"input_len":2}`, o2.output)
}

// The C module proves ABI v1 from another language.
func TestCModule(t *testing.T) {
	f := newFixture(t, Policy{})
	p := f.load(t, "c/wordcount.wasm")
	o := runIt(t, p, `{"text":"hello wide world\nsecond line\n","pad":"0123456789"}`, nil)
	require.NoError(t, o.err)
	assert.JSONEq(t, `{"bytes":61,"lines":0,"words":4,"crc32":"4955c4f0"}`, o.output)
	assert.Len(t, o.emits, 4)
}

// Every hostile module fails its run with the right cause and a precise
// message, or is contained (budgets) and succeeds.
// With pre-warmed instances (warm 1) the outcome is the same.
func TestHostileModules(t *testing.T) {
	for _, warm := range []int{0, 1} {
		t.Run(fmt.Sprintf("warm=%d", warm), func(t *testing.T) { testHostileModules(t, warm) })
	}
}

func testHostileModules(t *testing.T, warm int) {
	f := newFixture(t, Policy{})
	cases := []struct {
		module string
		input  string
		cause  error // nil: the run succeeds
		want   []string
		emits  int
	}{
		{module: "trap", cause: ErrTrap, want: []string{"trap@1.0.0: trap: unreachable", "wasm stack trace:"}, emits: 1},
		{module: "endless_loop", cause: ErrTimeout, want: []string{"endless-loop@1.0.0: timeout: exceeded its 200ms timeout and was stopped"}},
		{module: "init_loop", cause: ErrTimeout, want: []string{"timeout: in _initialize: exceeded its 200ms timeout"}},
		{module: "init_trap", cause: ErrTrap, want: []string{"trap: in _initialize: unreachable"}},
		{module: "recursion", cause: ErrTrap, want: []string{"trap: stack overflow"}},
		{module: "memory_grow", cause: ErrMemoryLimit, want: []string{"memory limit: reached its memory limit of 2 MiB"}},
		{module: "emit_oob", cause: ErrOutOfBounds, want: []string{"out of bounds: emit: message [4294967280, 4294967380) lies outside guest memory of 65536 bytes"}},
		{module: "output_oob", cause: ErrOutOfBounds, want: []string{"out of bounds: output_write: data [4294967040, 4294971136) lies outside guest memory"}},
		{module: "input_read_oob", input: `{"pad":"0123456789"}`, cause: ErrOutOfBounds, want: []string{"out of bounds: input_read: destination [65530, 65550) lies outside guest memory"}},
		{module: "log_oob", cause: ErrOutOfBounds, want: []string{"out of bounds: log: message"}},
		{module: "fail_oob", cause: ErrOutOfBounds, want: []string{"out of bounds: fail: message"}},
		{module: "big_output", cause: ErrFailed, want: []string{"big-output@1.0.0: failed: output over max_output_bytes"}},
		{module: "output_not_json", cause: ErrBadOutput, want: []string{"bad output: output (16 bytes) is not a JSON document"}},
		{module: "fail_boom", cause: ErrFailed, want: []string{"fail-boom@1.0.0: failed: boom: the flux capacitor overheated"}, emits: 1},
		{module: "return_nonzero", cause: ErrFailed, want: []string{"failed: run returned 3 without calling fail"}},
		{module: "proc_exit", cause: ErrExit, want: []string{"exit: guest exited with code 0"}},
		{module: "undeclared_phase", emits: 0},
		{module: "event_flood", emits: 100},
		{module: "bad_message", emits: 4},
		{module: "stdout_spam", emits: 0},
		{module: "wasi_probe", emits: 0},
	}
	for _, tc := range cases {
		t.Run(tc.module, func(t *testing.T) {
			p := f.load(t, "hostile/"+tc.module+".wasm")
			waitWarm(t, p, warm)
			input := tc.input
			if input == "" {
				input = "{}"
			}
			o := runIt(t, p, input, nil)
			assert.Len(t, o.emits, tc.emits)
			if tc.cause == nil {
				require.NoError(t, o.err)
				return
			}
			require.Error(t, o.err)
			assert.Nil(t, o.res)
			assert.ErrorIs(t, o.err, tc.cause)
			var re *RunError
			require.ErrorAs(t, o.err, &re)
			assert.Equal(t, "job-1", re.JobID)
			for _, w := range tc.want {
				assert.Contains(t, o.err.Error(), w)
			}
		})
	}
	// The host carries on: a good module still runs on the same engine.
	o := runIt(t, f.load(t, "valid/ok.wasm"), `{}`, nil)
	require.NoError(t, o.err)

	// Every instance gave its memory back to the pool, which Close unmaps,
	// however its run ended: none of these tests runs in parallel, so the
	// mapped total is this engine's.
	require.NoError(t, f.engine.Close(context.Background()))
	assert.Zero(t, mappedBytes.Load(), "address space still mapped for guest memory")
}

func TestUndeclaredPhaseLoggedAndCounted(t *testing.T) {
	f := newFixture(t, Policy{})
	p := f.load(t, "hostile/undeclared_phase.wasm")
	o := runIt(t, p, `{}`, nil)
	require.NoError(t, o.err)
	assert.Empty(t, o.emits, "an undeclared phase is never published")
	assert.Equal(t, 5, o.res.Refused)
	assert.Equal(t, 5.0, testutil.ToFloat64(f.metrics.RefusedPhaseCounter("undeclared-phase", "1.0.0")))
	logs := f.logs.String()
	for _, id := range []string{"3", "99", "-1", "2147483647", "-2147483648"} {
		assert.Contains(t, logs, `"plugin":"undeclared-phase","version":"1.0.0","job":"job-1","phase_id":`+id+`,`)
	}
}

func TestLogCap(t *testing.T) {
	f := newFixture(t, Policy{MaxLogBytes: 64 << 10})
	o := runIt(t, f.load(t, "hostile/stdout_spam.wasm"), `{}`, nil)
	require.NoError(t, o.err)
	logs := f.logs.String()
	assert.Less(t, len(logs), 400<<10, "log stays near the 64 KiB cap")
	assert.Contains(t, logs, `"msg":"guest log capped","plugin":"stdout-spam"`)
}

func TestCancel(t *testing.T) {
	f := newFixture(t, Policy{CancelGrace: 5 * time.Second})
	p := f.load(t, "valid/cancel.wasm")
	cancel := make(chan struct{})
	var once sync.Once
	res, err := p.Run(context.Background(), RunRequest{JobID: "j", Input: []byte(`{}`), Cancel: cancel, OnEmit: func(e Emit) {
		if e.Phase.Name == "CANCEL_SPIN_PROGRESS" {
			once.Do(func() { close(cancel) })
		}
	}})
	assert.Nil(t, res)
	require.ErrorIs(t, err, ErrCancelled)
	assert.Contains(t, err.Error(), "cancel@1.0.0: cancelled: cancelled")
}

func TestCancelGraceStopsAGuestThatIgnoresIt(t *testing.T) {
	f := newFixture(t, Policy{CancelGrace: 50 * time.Millisecond, MaxTimeout: time.Minute})
	b, err := os.ReadFile(filepath.Join(modules, "hostile/endless_loop.wasm"))
	require.NoError(t, err)
	p, err := f.engine.Load(context.Background(), b)
	require.NoError(t, err)
	cancel := make(chan struct{})
	close(cancel)
	_, err = p.Run(context.Background(), RunRequest{JobID: "j", Input: []byte(`{}`), Cancel: cancel})
	require.ErrorIs(t, err, ErrCancelled)
	assert.Contains(t, err.Error(), "did not return within 50ms of cancellation and was stopped")
}

// Allowed/denied pairs: the operator's policy caps what the manifest asks for.
func TestPolicyCaps(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		f := newFixture(t, Policy{MaxTimeout: 50 * time.Millisecond})
		p := f.load(t, "hostile/endless_loop.wasm") // asks for 200ms
		assert.Equal(t, 50*time.Millisecond, p.Limits().Timeout)
		o := runIt(t, p, `{}`, nil)
		assert.ErrorIs(t, o.err, ErrTimeout)
		assert.Contains(t, o.err.Error(), "exceeded its 50ms timeout")
	})
	t.Run("events", func(t *testing.T) {
		f := newFixture(t, Policy{MaxEvents: 10})
		p := f.load(t, "hostile/event_flood.wasm") // asks for 100
		o := runIt(t, p, `{}`, nil)
		require.NoError(t, o.err)
		assert.Len(t, o.emits, 10)
		f2 := newFixture(t, Policy{})
		assert.Len(t, runIt(t, f2.load(t, "hostile/event_flood.wasm"), `{}`, nil).emits, 100)
	})
	t.Run("output", func(t *testing.T) {
		f := newFixture(t, Policy{MaxOutputBytes: 16})
		o := runIt(t, f.load(t, "valid/ok.wasm"), `{"padding":"0123456789"}`, nil)
		// ok.wasm checks every status and fails itself when output_write says -1.
		assert.ErrorIs(t, o.err, ErrFailed)
		assert.Contains(t, o.err.Error(), "ok@1.0.0: failed: unexpected status from output_write")
		f2 := newFixture(t, Policy{MaxOutputBytes: 64})
		assert.NoError(t, runIt(t, f2.load(t, "valid/ok.wasm"), `{"padding":"0123456789"}`, nil).err)
	})
	t.Run("memory", func(t *testing.T) {
		got := Policy{MaxMemoryMB: 1}.Effective(&manifest.Limits{MemoryMB: 2})
		assert.Equal(t, int64(1), got.MemoryMB)
		got = Policy{MaxMemoryMB: 4}.Effective(&manifest.Limits{MemoryMB: 2})
		assert.Equal(t, int64(2), got.MemoryMB)
		got = Policy{}.Effective(nil)
		assert.Equal(t, DefaultPolicy().DefaultMemoryMB, got.MemoryMB)

		// Capping below the manifest's ask is logged at load (a Go plugin
		// sizes its garbage collection by the manifest's limit).
		warning := "the policy caps the plugin's memory below what its manifest asks for"
		f := newFixture(t, Policy{MaxMemoryMB: 8})
		assert.Equal(t, int64(8), f.load(t, "valid/ok.wasm").Limits().MemoryMB) // asks for 16
		assert.Contains(t, f.logs.String(), warning)
		assert.Contains(t, f.logs.String(), `"manifest_memory_mb":16,"memory_mb":8`)
		f2 := newFixture(t, Policy{})
		f2.load(t, "valid/ok.wasm")
		assert.NotContains(t, f2.logs.String(), warning)
	})
}

// Every invalid module is refused at load with the field and value named.
func TestInvalidModules(t *testing.T) {
	f := newFixture(t, Policy{})
	cases := map[string][]string{
		"no_manifest":                 {`custom_section["phasehost.manifest"]: missing`},
		"two_manifest_sections":       {`custom_section["phasehost.manifest"]: appears 2 times`},
		"manifest_not_json":           {"not valid JSON: line 1, column 1"},
		"manifest_truncated_json":     {"not valid JSON"},
		"manifest_unknown_field":      {`phase_map: unknown field "phase_map"`},
		"maps_to_undeclared":          {`phases[1].maps_to: "LIBRARY_LOAD_START" is not a unified phase (START, PROGRESS, END)`},
		"duplicate_phase_name":        {`phases[2].name: "WORK_PROGRESS" is declared twice (first at phases[0])`},
		"two_start_same_step":         {`phases[1].maps_to: "START": step "work" already has a START`},
		"two_end_same_step":           {`phases[2].maps_to: "END": step "work" already has an END`},
		"abi_2":                       {`abi: 2 is not supported: this host speaks ABI 1`},
		"bad_name":                    {`name: "Bad Name" is not a valid name`},
		"bad_version":                 {`version: "1.x" is not a semantic version`},
		"bad_phase_name":              {`phases[0].name: "work_start" is not a phase name`},
		"bad_step":                    {`phases[0].step: "LoadMesh" is not a lower_snake step name`},
		"no_phases":                   {`phases: has 0 items, needs at least 1`},
		"bad_weight":                  {`weight: 0 must be greater than 0`},
		"no_memory_export":            {`exports.memory: missing`},
		"no_run_export":               {`exports.run: missing; a plugin exports run: () -> (i32)`},
		"run_wrong_signature":         {`exports.run: has signature (i32) -> (i32), want () -> (i32)`},
		"initialize_wrong_signature":  {`exports._initialize: has signature () -> (i32), want () -> ()`},
		"import_unknown_function":     {`imports[0]: "phasehost"."sleep" is not an ABI v1 host function`},
		"import_emit_wrong_signature": {`imports[0]: "phasehost"."emit" has signature (i32, i32, i32, i32, i32) -> (i32), want (i32, i64, i64, i32, i32) -> (i32)`},
		"import_env_module":           {`imports[0]: "env"."abort": module "env" cannot be imported`},
		"import_wasi_unknown":         {`imports[0]: "wasi_snapshot_preview1"."sock_open" is not a WASI preview1 function this host provides`},
		"memory_initial_over_limit":   {`memories[0]: declares 1000 pages (62 MiB) at start, over the plugin's memory limit of 2 MiB`},
		"garbage":                     {`not a WebAssembly module`},
		"start_function":              {`start: a plugin must not have a start function`},
		"truncated":                   {`unexpected end of data`},
		"many_problems": {
			`abi: 2`, `colour: unknown field`, `limits.timeout_ms: "fast" is a string, want integer`, `name: "Many Problems"`,
			`phases[1].maps_to: "START"`, `phases[1].name: "LOAD_START" is declared twice`, `phases[2].maps_to: "LIBRARY_LOAD_START"`,
			`version: "1.x"`, `imports[0]: "phasehost"."sleep"`, `imports[1]: "env"."abort"`, `exports.run: missing`,
		},
	}
	files, err := filepath.Glob(filepath.Join(modules, "invalid", "*.wasm"))
	require.NoError(t, err)
	require.Len(t, files, len(cases), "every invalid module has a case")
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".wasm")
		t.Run(name, func(t *testing.T) {
			want, ok := cases[name]
			require.True(t, ok, "no case for %s", name)
			b, err := os.ReadFile(file)
			require.NoError(t, err)
			p, err := f.engine.Load(context.Background(), b)
			require.Error(t, err)
			assert.Nil(t, p)
			var inv *manifest.InvalidError
			require.True(t, errors.As(err, &inv))
			assert.Len(t, inv.Problems, len(want), "%v", err)
			for _, w := range want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// Hostile runs in parallel with good ones: each gets its own answer, the good
// ones are unharmed. Run with -race.
func TestConcurrentRunsAreIsolated(t *testing.T) {
	f := newFixture(t, Policy{})
	ok := f.load(t, "valid/ok.wasm")
	trap := f.load(t, "hostile/trap.wasm")
	loop := f.load(t, "hostile/endless_loop.wasm")
	oob := f.load(t, "hostile/emit_oob.wasm")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 8; i++ {
		for _, p := range []*Plugin{ok, trap, loop, oob} {
			wg.Add(1)
			go func(p *Plugin) {
				defer wg.Done()
				res, err := p.Run(context.Background(), RunRequest{JobID: p.Name(), Input: []byte(`{"a":1}`)})
				switch p {
				case ok:
					if err != nil || string(res.Output) != `{"ok":true,"input_len":7}` {
						errs <- errors.Join(errors.New("ok run harmed"), err)
					}
				case trap:
					if !errors.Is(err, ErrTrap) {
						errs <- errors.Join(errors.New("trap run"), err)
					}
				case loop:
					if !errors.Is(err, ErrTimeout) {
						errs <- errors.Join(errors.New("loop run"), err)
					}
				case oob:
					if !errors.Is(err, ErrOutOfBounds) {
						errs <- errors.Join(errors.New("oob run"), err)
					}
				}
			}(p)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLoadRefusesOversizedModule(t *testing.T) {
	f := newFixture(t, Policy{MaxModuleBytes: 100})
	b, err := os.ReadFile(filepath.Join(modules, "valid/ok.wasm"))
	require.NoError(t, err)
	_, err = f.engine.Load(context.Background(), b)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "over the 100-byte limit")
}

// A spinning guest must not block the Go garbage collector (native code in
// between safepoints cannot be preempted), and must still stop at its timeout.
// Once the guest spins, collections are run until the run ends: at least
// one must finish while it still runs (a blocked one would finish only when
// the guest is stopped, 200 ms later).
func TestSpinningGuestDoesNotBlockGC(t *testing.T) {
	f := newFixture(t, Policy{})
	p := f.load(t, "hostile/endless_loop.wasm")
	entered := make(chan struct{})
	runEntryHook = func() { close(entered) }
	defer func() { runEntryHook = nil }()
	var finished atomic.Bool
	gcs := make(chan int)
	go func() {
		<-entered
		time.Sleep(20 * time.Millisecond) // into the loop
		n := 0
		for !finished.Load() {
			goruntime.GC() // stops the world: needs the spinning goroutine at a safepoint
			if !finished.Load() {
				n++
			}
		}
		gcs <- n
	}()
	o := runIt(t, p, `{}`, nil)
	finished.Store(true)
	assert.ErrorIs(t, o.err, ErrTimeout)
	assert.GreaterOrEqual(t, <-gcs, 1, "no collection finished while the guest ran")
}

func TestModulesAreInstrumented(t *testing.T) {
	f := newFixture(t, Policy{})
	for _, m := range []string{"valid/ok.wasm", "c/wordcount.wasm", "hostile/endless_loop.wasm"} {
		assert.True(t, f.load(t, m).interruptible, m)
	}
}
