// Package plugin loads, validates and runs Phasehost stage plugins under wazero.
//
// # Lifecycle of a module
//
// Engine.Load takes the bytes of one .wasm file and either returns a *Plugin or
// an *manifest.InvalidError listing every problem at once:
//
//  1. size cap, then the wasm structure is read (wasmbin) without compiling;
//  2. the "phasehost.manifest" custom section is parsed and validated (manifest.Parse);
//  3. the module is checked against ABI v1: exports memory and run: () -> i32,
//     optional _initialize: () -> (), imports only ABI v1 host functions with
//     their exact signatures and WASI functions the host provides;
//  4. the effective limits are the manifest's, capped by the operator's Policy;
//  5. the module is compiled (wazero's compiler, through the Engine's shared
//     compilation cache) in the runtime for its memory limit.
//
// Anything built on the way is released when a later step fails.
// `phasectl plugin validate` and the server both go through Load.
//
// # Runs
//
// A *Plugin is compiled once and safe for concurrent use; each Run gets a fresh
// instance (nothing leaks between runs): WASI with no files, network,
// environment or arguments, stdout/stderr into the log (capped), _initialize
// once, then run. Timeout, memory, event-count and output limits are enforced;
// a pointer out of bounds, a trap, a timeout or memory past the limit fails the
// run with a *RunError naming plugin@version and the cause (traps carry the
// wasm stack); the host and other runs carry on.
//
// An emit with an undeclared phase id is refused (-1), never published, logged
// with plugin, version, job and id, and counted.
//
// # Pre-warmed instances
//
// Plugin.SetWarm keeps a few instances made ahead (instantiated, _initialize
// run under their own deadline and run state) so a run starts at the guest's
// run entry; the registry keeps them for the active version of each name. An
// instance still serves exactly one run, the run's limits and timeout clock
// are unchanged, and its stdout/stderr and interrupt are bound to the run that
// takes it. See warm.go.
//
// # Retirement
//
// A plugin taken out of service is retired (Plugin.Retire), not closed: its
// compiled code is closed once no run is in flight and no hold
// (Plugin.Acquire, taken by a queued or running job) remains. See Plugin.
package plugin
