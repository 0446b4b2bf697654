// Command assembly4 is the assembly4 reference plugin built as a wasip1
// module (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared): it exports
// run, which runs stage.Stage against the host that loaded the module, with
// the guest's garbage collection sized by the manifest's memory_mb.
package main

import (
	"github.com/phasehost/phasehost/plugins/assembly4/phases"
	"github.com/phasehost/phasehost/plugins/assembly4/stage"
	sdk "github.com/phasehost/phasehost/sdk/go"
)

//go:wasmexport run
func run() int32 { return sdk.RunWithMemoryLimit(stage.Stage, phases.MemoryMB) }

func main() {}
