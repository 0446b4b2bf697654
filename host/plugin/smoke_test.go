package plugin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestSmokeAll(t *testing.T) {
	e, err := NewEngine(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	files, _ := filepath.Glob("../../testdata/modules/*/*.wasm")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		p, err := e.Load(context.Background(), b)
		if err != nil {
			fmt.Printf("== %s: LOAD ERR %v\n", f, err)
			continue
		}
		n := 0
		res, err := p.Run(context.Background(), RunRequest{JobID: "j1", Input: []byte(`{"text":"hello world"}`), OnEmit: func(Emit) { n++ }})
		if err != nil {
			fmt.Printf("== %s: RUN ERR (%d emits) %v\n", f, n, err)
			continue
		}
		fmt.Printf("== %s: OK %d emits out=%.100s\n", f, n, res.Output)
	}
}
