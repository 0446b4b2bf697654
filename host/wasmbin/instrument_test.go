package wasmbin

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInstrumentLoops(t *testing.T) {
	files, err := filepath.Glob("../../testdata/modules/*/*.wasm")
	require.NoError(t, err)
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		m, err := Parse(b)
		if err != nil {
			continue // garbage and truncated modules
		}
		if _, ok := m.Export("memory"); !ok {
			continue
		}
		out, err := InstrumentLoops(b)
		require.NoError(t, err, f)
		n++
		m2, err := Parse(out)
		require.NoError(t, err, f)
		ex, ok := m2.Export(InterruptExport)
		require.True(t, ok, f)
		assert.Equal(t, byte(KindGlobal), ex.Kind)
		assert.Len(t, m2.Exports, len(m.Exports)+1)
		assert.Equal(t, m.Imports, m2.Imports, "imports (and so function indices) unchanged")
		assert.Equal(t, m.Functions, m2.Functions)
		// Custom sections other than DWARF are kept, the manifest included.
		want, _ := CustomSections(b, "phasehost.manifest")
		got, _ := CustomSections(out, "phasehost.manifest")
		assert.Equal(t, want, got)
		_, err = InstrumentLoops(out)
		assert.ErrorContains(t, err, "already exports")
	}
	assert.Greater(t, n, 40)
}

func TestInstrumentInsertsSafepointAtEveryLoop(t *testing.T) {
	b, err := os.ReadFile("../../testdata/modules/hostile/endless_loop.wasm")
	require.NoError(t, err)
	out, err := InstrumentLoops(b)
	require.NoError(t, err)
	sp := safepoint(0, 1) // endless_loop defines no globals of its own
	assert.Equal(t, 0, bytes.Count(b, sp))
	assert.Equal(t, 1, bytes.Count(out, sp), "its one loop gets one safepoint")
}

func TestInstrumentRefusesUnknownOpcode(t *testing.T) {
	// (module (memory 1) (export "memory" (memory 0)) (func) (code with opcode 0x06, "try"))
	mod := []byte{
		0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 4, 1, 0x60, 0, 0, // type () -> ()
		3, 2, 1, 0, // one function
		5, 3, 1, 0, 1, // memory 1
		7, 10, 1, 6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 0, // export memory
		10, 6, 1, 4, 0, 0x06, 0x40, 0x0b, // body: try (blocktype) end
	}
	_, err := InstrumentLoops(mod)
	require.ErrorIs(t, err, ErrUnsupported)
}

func FuzzInstrumentLoops(f *testing.F) {
	for _, name := range []string{"valid/ok.wasm", "valid/cancel.wasm", "c/wordcount.wasm"} {
		b, err := os.ReadFile("../../testdata/modules/" + name)
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := InstrumentLoops(data)
		if err != nil {
			return
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("instrumented module does not parse: %v", err)
		}
	})
}
