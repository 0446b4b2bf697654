// Command topology is the topology stage plugin of Phasehost, built as a
// WebAssembly module:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o topology.wasm .
//
// The stage itself is in package stage, which also runs natively under sdktest.
package main

import (
	sdk "github.com/phasehost/phasehost/sdk/go"

	"github.com/phasehost/phasehost/plugins/topology/phases"
	"github.com/phasehost/phasehost/plugins/topology/stage"
)

//go:wasmexport run
func run() int32 { return sdk.RunWithMemoryLimit(stage.Stage, phases.MemoryMB) }

func main() {}
