package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/metrics"
	"github.com/phasehost/phasehost/host/wasmbin"
	"github.com/phasehost/phasehost/sdk/go/abi"
)

// Options configures an Engine. The zero value is usable: default policy, an
// in-memory compilation cache, the default logger, no metrics.
type Options struct {
	Policy Policy
	// CacheDir, when set, keeps compiled code on disk so a restarted process
	// compiles nothing it compiled before.
	CacheDir string
	Logger   *slog.Logger
	Metrics  *metrics.Metrics
}

// Engine compiles and runs plugins. It owns one wazero runtime per distinct
// memory limit (wazero's memory cap is per runtime) and one compilation cache
// shared by all of them. An Engine is safe for concurrent use; Close it when done.
type Engine struct {
	policy  Policy
	logger  *slog.Logger
	metrics *metrics.Metrics
	cache   wazero.CompilationCache
	memory  *memoryPool // guest memories, reused from one instance to the next

	mu       sync.Mutex
	runtimes map[runtimeKey]*runtime
	closed   bool
}

// runtimeKey tells runtimes apart: wazero's memory cap and its
// close-on-context-done checks are runtime settings.
type runtimeKey struct {
	pages   uint32 // memory limit in 64 KiB pages
	checked bool   // WithCloseOnContextDone: for modules that could not be instrumented
}

// runtime is a wazero runtime with the phasehost and WASI host modules in it.
type runtime struct {
	r wazero.Runtime
	// wasi lists the WASI functions the runtime provides; read-only.
	wasi map[string]api.FunctionDefinition
}

// NewEngine makes an Engine.
func NewEngine(opts Options) (*Engine, error) {
	e := &Engine{
		policy:   opts.Policy.withDefaults(),
		logger:   opts.Logger,
		metrics:  opts.Metrics,
		runtimes: map[runtimeKey]*runtime{},
		memory:   newMemoryPool(opts.Metrics.GuestMemoryIdle),
	}
	if e.logger == nil {
		e.logger = slog.Default()
	}
	if opts.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache in %s: %w", opts.CacheDir, err)
		}
		e.cache = c
	} else {
		e.cache = wazero.NewCompilationCache()
	}
	return e, nil
}

// Policy returns the engine's policy with defaults filled in.
func (e *Engine) Policy() Policy { return e.policy }

// Close releases every runtime and the compilation cache. Plugins loaded by e
// must not be used afterwards.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	var errs []error
	for _, rt := range e.runtimes {
		errs = append(errs, rt.r.Close(ctx))
	}
	errs = append(errs, e.cache.Close(ctx))
	// After the runtimes, whose instances' memories come back to the pool.
	e.memory.Close()
	return errors.Join(errs...)
}

// runtimeFor returns the runtime for key, creating it.
func (e *Engine) runtimeFor(ctx context.Context, key runtimeKey) (*runtime, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.New("engine is closed")
	}
	if rt, ok := e.runtimes[key]; ok {
		return rt, nil
	}
	// See RATIONALE.md "Why instrument loops instead of WithCloseOnContextDone?".
	cfg := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(e.cache).
		WithMemoryLimitPages(key.pages).
		WithCloseOnContextDone(key.checked)
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	_, err := wasi_snapshot_preview1.Instantiate(ctx, r)
	if err == nil {
		_, err = hostModule(r).Instantiate(ctx)
	}
	if err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("creating runtime: %w", err)
	}
	rt := &runtime{r: r, wasi: r.Module(abi.WASIModuleName).ExportedFunctionDefinitions()}
	e.runtimes[key] = rt
	return rt, nil
}

// Load validates and compiles one module (the bytes of a .wasm file). On refusal
// the error is a *manifest.InvalidError listing every problem; see the package
// documentation for the lifecycle.
func (e *Engine) Load(ctx context.Context, wasm []byte) (*Plugin, error) {
	p, err := e.load(ctx, wasm)
	e.metrics.PluginLoad(err == nil)
	return p, err
}

func (e *Engine) load(ctx context.Context, wasm []byte) (*Plugin, error) {
	subject := "module"
	refuse := func(problems ...manifest.Problem) error {
		return &manifest.InvalidError{Subject: subject, Problems: problems}
	}
	if int64(len(wasm)) > e.policy.MaxModuleBytes {
		return nil, refuse(manifest.Problem{Message: fmt.Sprintf("module is %d bytes, over the %d-byte limit", len(wasm), e.policy.MaxModuleBytes)})
	}
	mod, err := wasmbin.Parse(wasm)
	if err != nil {
		return nil, refuse(manifest.Problem{Message: err.Error()})
	}
	m, problems := readManifest(mod)
	if m != nil {
		subject = "module " + m.Ref()
	}
	pages := pagesFor(e.policy.Effective(limitsOf(m)).MemoryMB)
	key := runtimeKey{pages: pages}
	// What is compiled: the module with its data segments joined (each
	// instance then starts with a few copies, not one per segment), then
	// instrumented. Checks and the module's digest are of what was given.
	prepared := wasmbin.CoalesceData(wasm)
	instrumented, ierr := wasmbin.InstrumentLoops(prepared)
	if ierr != nil {
		key.checked = true
	}
	rt, err := e.runtimeFor(ctx, key)
	if err != nil {
		return nil, err
	}
	modProblems, hasInit := checkModule(mod, rt.wasi, pages)
	problems = append(problems, modProblems...)
	if len(problems) > 0 {
		return nil, refuse(problems...)
	}
	limits := e.policy.Effective(m.Limits)
	if m.Limits != nil && m.Limits.MemoryMB > limits.MemoryMB {
		// A Go plugin built with sdk.RunWithMemoryLimit sizes its garbage
		// collection by the manifest's limit: with less, it may run out of
		// memory where it would otherwise have collected in time.
		e.logger.LogAttrs(ctx, slog.LevelWarn, "the policy caps the plugin's memory below what its manifest asks for",
			slog.String("plugin", m.Ref()), slog.Int64("manifest_memory_mb", m.Limits.MemoryMB), slog.Int64("memory_mb", limits.MemoryMB))
	}
	code := instrumented
	if ierr != nil {
		code = prepared
		e.logger.LogAttrs(ctx, slog.LevelWarn, "module not instrumented for interruption; running it with wazero's slower context checks",
			slog.String("plugin", m.Ref()), slog.String("error", ierr.Error()))
	}
	compiled, err := rt.r.CompileModule(ctx, code)
	if err != nil && ierr == nil {
		// Should the instrumented module not compile where the original
		// would, run the original with the runtime's own checks.
		ierr = fmt.Errorf("instrumented module does not compile: %w", err)
		e.logger.LogAttrs(ctx, slog.LevelWarn, "module not instrumented for interruption; running it with wazero's slower context checks",
			slog.String("plugin", m.Ref()), slog.String("error", ierr.Error()))
		if rt, err = e.runtimeFor(ctx, runtimeKey{pages: pages, checked: true}); err != nil {
			return nil, err
		}
		compiled, err = rt.r.CompileModule(ctx, prepared)
	}
	if err != nil {
		return nil, refuse(manifest.Problem{Path: "module", Message: "does not compile: " + err.Error()})
	}
	sum := sha256.Sum256(wasm)
	return &Plugin{
		engine:        e,
		rt:            rt,
		compiled:      compiled,
		manifest:      *m,
		limits:        limits,
		sha256:        hex.EncodeToString(sum[:]),
		hasInit:       hasInit,
		interruptible: ierr == nil,
		size:          len(wasm),
	}, nil
}

func limitsOf(m *manifest.Manifest) *manifest.Limits {
	if m == nil {
		return nil
	}
	return m.Limits
}

// pagesFor converts MiB to 64 KiB wasm pages, within wasm's 4 GiB.
func pagesFor(mb int64) uint32 {
	pages := mb * 16
	return uint32(min(max(pages, 1), 65536))
}

// readManifest reads and validates the manifest section.
func readManifest(mod *wasmbin.Module) (*manifest.Manifest, []manifest.Problem) {
	var payloads [][]byte
	for _, s := range mod.Sections {
		if s.ID == wasmbin.SectionCustom && s.Name == abi.ManifestSection {
			payloads = append(payloads, s.Data)
		}
	}
	path := fmt.Sprintf("custom_section[%q]", abi.ManifestSection)
	switch len(payloads) {
	case 0:
		return nil, []manifest.Problem{{Path: path, Message: "missing: a plugin carries its manifest in this custom section (phasectl plugin pack --manifest plugin.yaml --module in.wasm -o out.wasm)"}}
	case 1:
	default:
		return nil, []manifest.Problem{{Path: path, Message: fmt.Sprintf("appears %d times; a module has exactly one manifest", len(payloads))}}
	}
	m, err := manifest.ParseJSON(payloads[0])
	var inv *manifest.InvalidError
	if errors.As(err, &inv) {
		return nil, inv.Problems
	}
	if err != nil {
		return nil, []manifest.Problem{{Path: path, Message: err.Error()}}
	}
	return m, nil
}

// ReadManifest reads and validates the manifest embedded in a module without
// compiling it: a cheap way to learn a file's name and version.
func ReadManifest(wasm []byte) (*manifest.Manifest, error) {
	mod, err := wasmbin.Parse(wasm)
	if err != nil {
		return nil, &manifest.InvalidError{Subject: "module", Problems: []manifest.Problem{{Message: err.Error()}}}
	}
	m, problems := readManifest(mod)
	if len(problems) > 0 {
		return nil, &manifest.InvalidError{Subject: "module", Problems: problems}
	}
	return m, nil
}
