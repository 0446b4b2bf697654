package wasmbin

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// seg is a data segment as written in a test module: the bytes of its
// mode and offset expression, then its contents.
type seg struct {
	head []byte
	init []byte
}

// at is an active segment of memory 0 at an i32.const offset.
func at(offset int32, init string) seg {
	head := append([]byte{0x00, 0x41}, appendSLEB(nil, int64(offset))...)
	return seg{append(head, 0x0b), []byte(init)}
}

// dataModule is a module with one exported memory of two pages, the given
// data segments and, if dataCount, a data count section.
func dataModule(segs []seg, dataCount bool) []byte {
	section := func(out []byte, id byte, body []byte) []byte {
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(body)))
		return append(out, body...)
	}
	out := append([]byte(nil), header...)
	out = section(out, SectionMemory, []byte{1, 0x00, 2})
	out = section(out, SectionExport, []byte{1, 6, 'm', 'e', 'm', 'o', 'r', 'y', KindMemory, 0})
	if dataCount {
		out = section(out, SectionDataCount, binary.AppendUvarint(nil, uint64(len(segs))))
	}
	body := binary.AppendUvarint(nil, uint64(len(segs)))
	for _, s := range segs {
		body = append(body, s.head...)
		body = binary.AppendUvarint(body, uint64(len(s.init)))
		body = append(body, s.init...)
	}
	return section(out, SectionData, body)
}

// memoryOf instantiates wasm and returns a copy of its memory.
func memoryOf(t *testing.T, wasm []byte) []byte {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	mod, err := r.Instantiate(ctx, wasm)
	require.NoError(t, err)
	b, ok := mod.Memory().Read(0, mod.Memory().Size())
	require.True(t, ok)
	return append([]byte(nil), b...)
}

func segmentCount(t *testing.T, wasm []byte) int {
	secs, err := Sections(wasm)
	require.NoError(t, err)
	for _, s := range secs {
		if s.ID == SectionData {
			segs, err := activeSegments(s.Data)
			require.NoError(t, err)
			return len(segs)
		}
	}
	return 0
}

func TestCoalesceData(t *testing.T) {
	// Out of order; gaps of 0, 1 and CoalesceGap bytes (joined) and of
	// CoalesceGap+1 (not joined); an empty segment; one on the second page.
	segs := []seg{
		at(1000, "world"),
		at(100, "hello"),
		at(105, ", "),
		at(108, "dear"),
		at(1005+CoalesceGap, "far"),
		at(1008+2*CoalesceGap+1, "farther"),
		at(3000, ""),
		at(50000, "second page"),
	}
	in := dataModule(segs, false)
	out := CoalesceData(in)
	require.NotEqual(t, in, out)
	assert.Equal(t, 5, segmentCount(t, out), "[100,112) [1000,1520) [2033,2040) [3000,3000) [50000,50011)")
	assert.Equal(t, memoryOf(t, in), memoryOf(t, out), "the same memory at instantiation")
	assert.Equal(t, out, CoalesceData(out), "nothing left to join")

	// A segment past the memory's end fails the instantiation either way.
	over := dataModule(append(segs[:2:2], at(2*65536-2, "abc")), false)
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	_, err := r.Instantiate(ctx, CoalesceData(over))
	assert.Error(t, err)
}

func TestCoalesceDataLeavesAlone(t *testing.T) {
	passive := seg{[]byte{0x01}, []byte("passive")}
	globalOffset := seg{[]byte{0x00, 0x23, 0x00, 0x0b}, []byte("x")} // global.get 0
	otherMemory := seg{[]byte{0x02, 0x01, 0x41, 0x10, 0x0b}, []byte("y")}
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"overlapping segments", dataModule([]seg{at(100, "hello"), at(102, "LL"), at(110, "z")}, false)},
		{"a passive segment", dataModule([]seg{at(100, "a"), at(102, "b"), passive}, false)},
		{"an offset that is not a constant", dataModule([]seg{at(100, "a"), at(102, "b"), globalOffset}, false)},
		{"a segment of another memory", dataModule([]seg{at(100, "a"), at(102, "b"), otherMemory}, false)},
		{"a data count section", dataModule([]seg{at(100, "a"), at(102, "b")}, true)},
		{"one segment", dataModule([]seg{at(100, "a")}, false)},
		{"segments too far apart", dataModule([]seg{at(100, "a"), at(101+CoalesceGap+1, "b")}, false)},
		{"not a module", []byte("garbage")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.wasm, CoalesceData(tc.wasm))
		})
	}
}

func TestReadS32(t *testing.T) {
	for _, v := range []int32{0, 1, -1, 63, 64, -64, -65, 1 << 20, -1 << 31, 1<<31 - 1} {
		r := &reader{b: appendSLEB(nil, int64(v))}
		got, err := r.s32()
		require.NoError(t, err)
		assert.Equal(t, v, got)
	}
	r := &reader{b: appendSLEB(nil, 1<<31)}
	_, err := r.s32()
	assert.Error(t, err, "past i32")
}

// TestCoalesceDataGoModule builds a Go program for wasip1 and checks that
// joining its data segments leaves its memory at instantiation unchanged
// and leaves far fewer segments.
func TestCoalesceDataGoModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(`package main

import (
	"fmt"
	"strings"
	"unicode"
)

var table = map[string]int{"one": 1, "two": 2}

func main() { fmt.Println(strings.ToUpper("hello"), table, unicode.IsUpper('A')) }
`), 0o644))
	cmd := exec.Command(goBin, "build", "-o", "hello.wasm", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	in, err := os.ReadFile(filepath.Join(dir, "hello.wasm"))
	require.NoError(t, err)

	joined := CoalesceData(in)
	before, after := segmentCount(t, in), segmentCount(t, joined)
	t.Logf("%d data segments joined into %d", before, after)
	assert.Greater(t, before, 1000)
	assert.Less(t, after, 10)

	memory := func(wasm []byte) []byte {
		ctx := context.Background()
		r := wazero.NewRuntime(ctx)
		defer r.Close(ctx)
		wasi_snapshot_preview1.MustInstantiate(ctx, r)
		mod, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions())
		require.NoError(t, err)
		b, ok := mod.Memory().Read(0, mod.Memory().Size())
		require.True(t, ok)
		return append([]byte(nil), b...)
	}
	assert.Equal(t, memory(in), memory(joined))
}

func TestCoalesceDataBoundsGrowth(t *testing.T) {
	// 4,000 one-byte segments CoalesceGap bytes apart: joined, the module
	// would be a hundred times larger.
	var segs []seg
	for i := range 4000 {
		segs = append(segs, at(int32(i*(CoalesceGap+1)), "x"))
	}
	in := dataModule(segs, false)
	assert.Equal(t, in, CoalesceData(in))
}

// FuzzCoalesceData: any input is returned as it is or as a module whose
// sections still parse, with no more data segments than it had.
func FuzzCoalesceData(f *testing.F) {
	f.Add(dataModule([]seg{at(1000, "world"), at(100, "hello"), at(105, ", ")}, false))
	f.Add(dataModule([]seg{at(100, "hello"), at(102, "LL"), at(110, "z")}, false))
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out := CoalesceData(wasm)
		if bytes.Equal(out, wasm) {
			return
		}
		_, err := Sections(out)
		require.NoError(t, err)
		assert.Less(t, segmentCount(t, out), segmentCount(t, wasm))
	})
}
