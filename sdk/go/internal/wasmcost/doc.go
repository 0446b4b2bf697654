// Package wasmcost holds benchmarks, no code: each measures one kind of Go
// work, so that running them natively and compiled to wasm (make
// bench-stages) shows what Go's wasm backend makes expensive. The figures
// and what to do about them are in sdk/PERFORMANCE.md.
package wasmcost
