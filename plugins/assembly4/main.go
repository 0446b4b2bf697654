// Command assembly4 is the assembly4 reference plugin built as a wasip1
// module (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared): it exports
// run, which runs stage.Stage against the host that loaded the module.
package main

import (
	"github.com/phasehost/phasehost/plugins/assembly4/stage"
	sdk "github.com/phasehost/phasehost/sdk/go"
)

//go:wasmexport run
func run() int32 { return sdk.Run(stage.Stage) }

func main() {}
