package wasmbin

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// minimal is (module (type (func (result i32))) (import "phasehost" "cancelled" (func (type 0)))
// (func (type 0) i32.const 0) (memory 1 2) (export "run" (func 1)) (export "memory" (memory 0))).
var minimal = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type
	0x02, 0x17, 0x01, 0x09, 'p', 'h', 'a', 's', 'e', 'h', 'o', 's', 't', 0x09, 'c', 'a', 'n', 'c', 'e', 'l', 'l', 'e', 'd', 0x00, 0x00, // import
	0x03, 0x02, 0x01, 0x00, // function
	0x05, 0x04, 0x01, 0x01, 0x01, 0x02, // memory
	0x07, 0x10, 0x02, 0x03, 'r', 'u', 'n', 0x00, 0x01, 0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00, // export
	0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x00, 0x0b, // code
}

func TestParse(t *testing.T) {
	m, err := Parse(minimal)
	require.NoError(t, err)
	require.Len(t, m.Imports, 1)
	assert.Equal(t, Import{Module: "phasehost", Name: "cancelled", Kind: KindFunc, TypeIndex: 0}, m.Imports[0])
	assert.Equal(t, []Limits{{Min: 1, Max: 2, HasMax: true}}, m.Memories)
	run, ok := m.Export("run")
	require.True(t, ok)
	ft, ok := m.FuncTypeOf(run.Index)
	require.True(t, ok)
	assert.Empty(t, ft.Params)
	assert.Equal(t, []byte{0x7f}, ft.Results)
	_, ok = m.FuncTypeOf(7)
	assert.False(t, ok)
}

func TestCustomSectionRoundTrip(t *testing.T) {
	out, err := SetCustomSection(minimal, "phasehost.manifest", []byte(`{"a":1}`))
	require.NoError(t, err)
	got, err := CustomSections(out, "phasehost.manifest")
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte(`{"a":1}`)}, got)

	// Setting again replaces, never duplicates.
	out2, err := SetCustomSection(out, "phasehost.manifest", []byte(`{"b":2}`))
	require.NoError(t, err)
	got, err = CustomSections(out2, "phasehost.manifest")
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte(`{"b":2}`)}, got)

	// The rest of the module is unchanged.
	m, err := Parse(out2)
	require.NoError(t, err)
	assert.Len(t, m.Exports, 2)
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, ErrNotWasm.Error()},
		{"text", []byte("hello world, not wasm"), ErrNotWasm.Error()},
		{"version 2", []byte{0, 'a', 's', 'm', 2, 0, 0, 0}, "unsupported wasm binary version 2 (want 1)"},
		{"section past the end", append(append([]byte{}, minimal[:8]...), 0x01, 0x7f), "section 1 at offset 8: size 127: unexpected end of data"},
		{"bad LEB", append(append([]byte{}, minimal[:8]...), 0x01, 0xff, 0xff, 0xff, 0xff, 0xff), "section at offset 8: LEB128 value too long"},
		{"huge vector count", append(append([]byte{}, minimal[:8]...), 0x07, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f), "section 7 at offset 8: vector of 4294967295 entries in 0 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
		})
	}
}

func FuzzSections(f *testing.F) {
	f.Add(minimal)
	withSection, _ := SetCustomSection(minimal, "phasehost.manifest", []byte(`{}`))
	f.Add(withSection)
	f.Add([]byte{0, 'a', 's', 'm', 1, 0, 0, 0, 0, 3, 1, 'x'})
	f.Fuzz(func(t *testing.T, data []byte) {
		secs, err := Sections(data)
		if err != nil {
			return
		}
		_, _ = Parse(data)
		// Rewriting the manifest section of anything readable must give a
		// module whose section list reads back the same, plus our section.
		out, err := SetCustomSection(data, "phasehost.manifest", []byte("m"))
		if err != nil {
			t.Fatalf("SetCustomSection after Sections succeeded: %v", err)
		}
		got, err := CustomSections(out, "phasehost.manifest")
		if err != nil || len(got) != 1 || string(got[0]) != "m" {
			t.Fatalf("round trip: %v %q", err, got)
		}
		secs2, _ := Sections(out)
		n := 0
		for _, s := range secs {
			if !(s.ID == SectionCustom && s.Name == "phasehost.manifest") {
				n++
			}
		}
		if len(secs2) != n+1 {
			t.Fatalf("section count %d, want %d", len(secs2), n+1)
		}
	})
}
