package docjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestObjectRoundTrip(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", `{}`, `{}`},
		{"spaces", " {\n \"a\" : 1 ,\t\"b\":[ 1, 2 ,{\"c\" :null} ] }\n", `{"a":1,"b":[ 1, 2 ,{"c" :null} ]}`},
		{"strings with brackets, quotes and escapes", `{"s":"a]}\"[{,","t":"\\","u":"é\u00e9"}`, `{"s":"a]}\"[{,","t":"\\","u":"é\u00e9"}`},
		{"escaped key", `{"a\"b":1,"\u00e9":2}`, `{"a\"b":1,"é":2}`},
		{"duplicate key keeps first position, last value", `{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`},
		{"nested", `{"a":{"b":{"c":[[1],[2,[3]]]}},"d":true,"e":false,"f":-1.5e-3}`, `{"a":{"b":{"c":[[1],[2,[3]]]}},"d":true,"e":false,"f":-1.5e-3}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, Check([]byte(tc.in)))
			o, err := ParseObject([]byte(tc.in))
			require.NoError(t, err)
			got := string(o.AppendTo(nil, nil))
			assert.Equal(t, tc.want, got)
			assert.JSONEq(t, tc.in, got)
		})
	}
}

func TestSplitArray(t *testing.T) {
	for in, want := range map[string][]string{
		`[]`:                      nil,
		` [ 1 , "a,]" , [2,3] ] `: {`1`, `"a,]"`, `[2,3]`},
		`[{"a":[1,{}]},null]`:     {`{"a":[1,{}]}`, `null`},
	} {
		got, err := SplitArray([]byte(in))
		require.NoError(t, err, in)
		var gs []string
		for _, g := range got {
			gs = append(gs, string(g))
		}
		assert.Equal(t, want, gs, in)
	}
	_, err := SplitArray([]byte(`{"a":1}`))
	assert.EqualError(t, err, "want an array, got an object")
}

func TestParseVerticesAndTriangles(t *testing.T) {
	v, err := ParseVertices([]byte(` [ [0, -1.5, 2e3] ,[1e-3,0,-0.0] ] `))
	require.NoError(t, err)
	assert.Equal(t, [][3]float64{{0, -1.5, 2000}, {0.001, 0, 0}}, v)
	tr, err := ParseTriangles([]byte(`[[0,1,2],[ 2 , 1 , -7 ]]`))
	require.NoError(t, err)
	assert.Equal(t, [][3]int64{{0, 1, 2}, {2, 1, -7}}, tr)
	v, err = ParseVertices([]byte(`[]`))
	require.NoError(t, err)
	assert.Empty(t, v)

	for in, want := range map[string]string{
		`{}`:                   "vertices: want an array, got an object",
		`[[1,2,3],[1,2]]`:      "vertices[1]: want 3 coordinates, got 2",
		`[[1,2,3,4]]`:          "vertices[0]: want 3 coordinates, got 4",
		`[[]]`:                 "vertices[0]: want 3 coordinates, got 0",
		`[[1,null,3]]`:         "vertices[0][1]: want a number, got null",
		`[[1,2,[3]]]`:          "vertices[0][2]: want a number, got an array",
		`[1]`:                  "vertices[0]: want an array of 3 coordinates, got a number",
		`[[1,2,-1e999]]`:       "vertices[0][2]: number -1e999 is out of range",
		`[[1,2,3],[1,2,true]]`: "vertices[1][2]: want a number, got a boolean",
	} {
		_, err := ParseVertices([]byte(in))
		assert.EqualError(t, err, want, in)
	}
	tr, err = ParseTriangles([]byte(`[[123456789012345678,-123456789012345678,1234567890123456789],[-0,0,-9223372036854775808]]`))
	require.NoError(t, err)
	assert.Equal(t, [][3]int64{{123456789012345678, -123456789012345678, 1234567890123456789}, {0, 0, -9223372036854775808}}, tr)
	for _, bad := range []string{"2.0", "1e3", "-1.5", "9223372036854775808"} {
		_, err = ParseTriangles([]byte(`[[0,1,` + bad + `]]`))
		assert.EqualError(t, err, "triangles[0][2]: want an integer vertex index, got "+bad)
	}
	_, err = ParseTriangles([]byte(`[[0,1,2.0]]`))
	assert.EqualError(t, err, "triangles[0][2]: want an integer vertex index, got 2.0")
	_, err = ParseTriangles([]byte(`[[0,1,99999999999999999999]]`))
	assert.EqualError(t, err, "triangles[0][2]: want an integer vertex index, got 99999999999999999999")
}

// FuzzObject checks that splitting any valid JSON object and writing it back
// gives valid JSON with the same meaning.
func FuzzObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":"]}","b":[{"c":"\""}],"a":null}`, ` { "x" : [ 1 , 2 ] } `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if Check([]byte(in)) != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal([]byte(in), &m) != nil || m == nil {
			return
		}
		o, err := ParseObject([]byte(in))
		require.NoError(t, err)
		out := o.AppendTo(nil, nil)
		require.True(t, json.Valid(out), "%s -> %s", in, out)
		var back map[string]any
		require.NoError(t, json.Unmarshal(out, &back))
		assert.Equal(t, m, back)
	})
}

func TestValid(t *testing.T) {
	for _, in := range []string{
		``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `01`, `-`, `1.`, `.5`, `1.5e`, `1e+5`, `1E-05`, `-0.0e0`, `tru`, `true`, `nul`, `null `,
		`{"a":1,}`, `[1,]`, `[1 2]`, `{"a" 1}`, `{"a":}`, `{1:2}`, `"\u12g4"`, `"\u1234"`, `"\x"`, `"a` + "\n" + `"`, `"é"`,
		`{"a":[1,{"b":null}],"c":"d"}`, `[[[[]]]]`, `[[[[]]]`, `{"a":1}}`, `1 2`, "\t[1]\r\n",
	} {
		assert.Equal(t, json.Valid([]byte(in)), Valid([]byte(in)), "%q", in)
	}
	// Nesting is bounded as encoding/json bounds it.
	for _, n := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		for _, in := range []string{
			strings.Repeat("[", n) + strings.Repeat("]", n),
			strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n),
			strings.Repeat("[", n-2) + `{"vertices":[[1,2,3]]}` + strings.Repeat("]", n-2),
		} {
			assert.Equal(t, json.Valid([]byte(in)), Valid([]byte(in)), "depth %d", n)
			assert.Equal(t, json.Valid([]byte(in)), validate([]byte(in), &preparsed{}), "depth %d", n)
		}
	}
}

// FuzzValid checks Valid against json.Valid.
func FuzzValid(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2.5e-3,true,null,"x\"y"]}`, `[1,]`, `"\u00e9"`, `-01`,
		`{"vertices":[[1,2,3],[4.5,-6e7,0]],"triangles":[[0,1,2]]}`, `{"vertices":[[1,2,3,]]}`,
		`{"m":{"triangles":[ [0 ,1,2 ] , [3,4,-5]] ,"vertices":[]}}`, `{"vertices":[[1,2,01]]}`, `{"triangles":[[1,2,1.5]]}`,
		`{"vertices":[[1,2,3]]`, `{"triangles":[[1,2,3]],}`, `{"vertices":[[1e999,2,3]]}`} {
		f.Add(s)
	}
	// Kilobytes of elements of numbers, for skipNumberArraysPaired's runs.
	rows := string(randomRows(nil, rand.New(rand.NewPCG(3, 4)), 200))
	// Valid's two-goroutine check on every input, not only from a MiB.
	defer func(n int) { parallelMin = n }(parallelMin)
	parallelMin = 64
	f.Fuzz(func(t *testing.T, in string) {
		want := json.Valid([]byte(in))
		assert.Equal(t, want, Valid([]byte(in)), "%q", in)
		// Followed by more (the straight paths need 32 bytes ahead).
		long := "[[" + in + `,[1,2,3]],[[1.25,2.5,3.75],"abcdefghijklmnopqrstuvwxyz0123456789"]]`
		assert.Equal(t, json.Valid([]byte(long)), Valid([]byte(long)), "%q", long)
		// Among long arrays of numbers, as an element and within one.
		for _, big := range []string{"[" + rows + "," + in + "," + rows + "]", "[" + rows + ",[1," + in + "]," + rows + "]"} {
			assert.Equal(t, json.Valid([]byte(big)), Valid([]byte(big)), "%q among elements", in)
		}
		// With the mesh arrays parsed on the way: the same verdict, and the
		// arrays the scanner would parse.
		pre := &preparsed{}
		assert.Equal(t, want, validate([]byte(in), pre), "%q with meshes", in)
		if !want {
			return
		}
		for start, a := range pre.arrays {
			s := NewScanner([]byte(in))
			s.pos = start
			switch a.kind {
			case 'v':
				v, err := s.Vertices()
				assert.NoError(t, err, "%q", in)
				assert.Equal(t, v, a.vertices, "%q", in)
			case 't':
				v, err := s.Triangles()
				assert.NoError(t, err, "%q", in)
				assert.Equal(t, v, a.triangles, "%q", in)
			}
			assert.Equal(t, s.pos, a.end, "%q", in)
		}
	})
}

// FuzzValueEnd checks ValueEnd (through Scanner.Value and SplitArray) against
// encoding/json on valid JSON text.
func FuzzValueEnd(f *testing.F) {
	for _, s := range []string{` [1, "a,]\"[" , [2,[3]], {"b":"\\"}] `, `"abc\"defghijklmnop\\"`, `{"a":[[1,2,3],[4,5,6]],"b":{}}`, `-1.5e3 `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d := []byte(in)
		if !json.Valid(d) {
			return
		}
		assert.Equal(t, strings.TrimSpace(in), string(NewScanner(d).Value()), "%q", in)
		var want []json.RawMessage
		if json.Unmarshal(d, &want) != nil {
			return // not an array
		}
		got, err := SplitArray(d)
		require.NoError(t, err)
		require.Equal(t, len(want), len(got), "%q", in)
		for i := range want {
			assert.Equal(t, string(want[i]), string(got[i]), "%q", in)
		}
	})
}

// fastVertices takes arrays of [x, y, z] numbers, spaces included, and
// refuses anything else for the general parser to report.
func TestFastVertices(t *testing.T) {
	in := ` [ [0, -1.5, 2e3] ,[1e-3,0,-0.0] ] x`
	v, end, ok := fastVertices([]byte(in), 1, nil)
	assert.True(t, ok)
	assert.Equal(t, [][3]float64{{0, -1.5, 2000}, {0.001, 0, 0}}, v)
	assert.Equal(t, " x", in[end:])
	v, end, ok = fastVertices([]byte(`[]`), 0, nil)
	assert.True(t, ok)
	assert.Empty(t, v)
	assert.Equal(t, 2, end)
	for _, bad := range []string{`[[1,2]]`, `[[1,2,3,4]]`, `[[1,2,1e999]]`, `{}`, `[[1,2,null]]`, `[[1,2,3]`} {
		_, _, ok := fastVertices([]byte(bad), 0, nil)
		assert.False(t, ok, bad)
	}
}

func TestValueEndLarge(t *testing.T) {
	doc := benchDocument()
	doc = append(doc[:len(doc)-1], `,"s":["]]]]]]]]]]]]]]]\"]]]]]]]]",{"k]}":"{{{{{{{{{{{{{{{{{"}],"e":[[[[[[[[[[[[]]]]]]]]]]]]}`...)
	require.True(t, json.Valid(doc))
	for _, pad := range []string{"", " ", "  ", "   ", "       "} {
		d := append([]byte(pad), doc...)
		d = append(d, "  ,"...)
		assert.Equal(t, len(d)-3, ValueEnd(d, len(pad)))
	}
	top, err := ParseObject(doc)
	require.NoError(t, err)
	parts, _ := top.Get("parts")
	elems, err := SplitArray(parts)
	require.NoError(t, err)
	var want []json.RawMessage
	require.NoError(t, json.Unmarshal(parts, &want))
	require.Len(t, elems, len(want))
	for i := range want {
		assert.Equal(t, string(want[i]), string(elems[i]))
	}
}

// TestValidLarge checks Valid on long runs of numbers (the straight path
// needs 32 bytes ahead), valid and broken in several ways.
func TestValidLarge(t *testing.T) {
	m := benchMesh()
	assert.True(t, Valid(m))
	for _, c := range []struct{ old, new string }{
		{"[1,", "[01,"}, {",7]", ",7.]"}, {",2,", ",2e,"}, {",2,", ",-,"}, {",2,", ",2,,"}, {"[1,", "[1 ,"},
		{",7]", ",7e+1]"}, {",2,", ",2.5E-3,"}, {"0.37,", "0.37e1,"}, {"],[", "]],[["}, {"[1,", "[-0,"}, {"],[", "], ["}, {"],[", "] ,["}, {"],[", "],\n["},
		{"],[", "],[ "}, {"],[", "],"}, {"],[", "],1,["}, {"],[", `],"x",[`}, {"],[", "],[[]],["}, {"],[", "],[],["},
	} {
		in := bytes.Replace(m, []byte(c.old), []byte(c.new), 1)
		assert.Equal(t, json.Valid(in), Valid(in), "%s → %s", c.old, c.new)
		obj := []byte(`{"a":1` + strings.Repeat(",\"b\":123456789.123", 5) + `,2}`)
		assert.Equal(t, json.Valid(obj), Valid(obj))
	}
}

// FuzzParseDocumentMesh puts arbitrary text where a mesh's arrays go, in the
// one-pass path of ParseDocument (validation and mesh parsing together): a
// document json.Valid refuses must be refused, and a mesh that parses must
// hold what encoding/json reads.
func FuzzParseDocumentMesh(f *testing.F) {
	for _, s := range []string{`[[1,2,3],[4.5,-6e2,0]]`, `[[1,2,3]`, `[[01,2,3]]`, `[[1.,2,3]]`, `[[-,2,3]]`, `[[1,2,3],]`,
		`[[1e400,2,3]]`, `[ [ 1 , 2 , 3 ] ]`, `[[1,2,3,4]]`, `[]`, `[[1,2,"3"]]`, `[[1,2,3]]]`, `[[1,2,3e]]`, `[[0.1e-5,2E+3,3]]`} {
		f.Add(s, `[[0,1,2]]`)
		f.Add(`[[0,0,0],[1,0,0],[0,1,0]]`, s)
	}
	malformed := errors.New("malformed document")
	f.Fuzz(func(t *testing.T, vertices, triangles string) {
		doc := []byte(`{"parts":[{"mesh":{"vertices":` + vertices + `,"triangles":` + triangles + `}}],"z":1}`)
		mesh := func(i int, s *Scanner) (Mesh, error) {
			_, m, meshErr, err := s.ObjectWithMesh("mesh")
			if err == nil {
				err = meshErr
			}
			return m, err
		}
		_, meshes, err := ParseDocument(doc, "parts", malformed, mesh)
		// Triangles left as text while checking: the same answer, and the
		// scanner parses them when asked.
		_, rawMeshes, rawErr := ParseDocumentWith(doc, "parts", malformed, ParseOptions{RawTriangles: true}, mesh)
		if err != nil {
			require.EqualError(t, rawErr, err.Error())
		} else {
			require.NoError(t, rawErr)
			require.Equal(t, meshes, rawMeshes)
		}
		if !json.Valid(doc) {
			require.Error(t, err, "invalid JSON accepted: %q", doc)
			require.ErrorIs(t, err, malformed)
			return
		}
		if err != nil {
			return // valid JSON, but not a mesh: the error is the caller's to word
		}
		var want struct {
			Parts []struct {
				Mesh struct {
					Vertices  [][3]float64
					Triangles [][3]int64
				}
			}
		}
		require.NoError(t, json.Unmarshal(doc, &want))
		require.Len(t, meshes, 1)
		assert.Equal(t, nonNil(want.Parts[0].Mesh.Vertices), nonNil(meshes[0].Vertices))
		assert.Equal(t, nonNil(want.Parts[0].Mesh.Triangles), nonNil(meshes[0].Triangles))
	})
}

func nonNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// randomRows appends n elements of numbers of many shapes, as skipNumberArrays
// and its paired runs take them or leave them to validate (exponents, long
// numbers, leading zeros, a few spaces), separated by commas.
func randomRows(b []byte, r *rand.Rand, n int) []byte {
	digits := func(k int) {
		for range k {
			b = append(b, byte('0'+r.IntN(10)))
		}
	}
	for e := range n {
		if e > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		k := 3
		if r.IntN(20) == 0 {
			k = 1 + r.IntN(5)
		}
		for j := range k {
			if j > 0 {
				b = append(b, ',')
			}
			if r.IntN(2) == 0 {
				b = append(b, '-')
			}
			if r.IntN(4) == 0 {
				b = append(b, '0')
			} else {
				b = append(b, byte('1'+r.IntN(9)))
				digits(r.IntN(4 + 4*r.IntN(2)))
			}
			if r.IntN(3) > 0 {
				b = append(b, '.')
				digits(1 + r.IntN(8+16*r.IntN(2)))
			}
			if r.IntN(100) == 0 {
				b = append(b, "e-7"...)
			}
			if r.IntN(500) == 0 {
				b = append(b, ' ')
			}
		}
		b = append(b, ']')
	}
	return b
}

// TestValidNumberArrays holds Valid, and validate with the mesh arrays
// parsed, to json.Valid on long arrays of numbers (long enough for the
// paired runs of skipNumberArraysPaired), whole and with a few bytes
// changed, removed or added anywhere.
func TestValidNumberArrays(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const edits = ",[]-.0123456789e \"{}x"
	rounds := 3000
	if testing.Short() {
		rounds = 300
	}
	for round := range rounds {
		doc := []byte(`{"vertices":[`)
		if round%2 == 1 {
			doc = []byte(`[`)
		}
		doc = randomRows(doc, r, 100+r.IntN(800))
		doc = append(doc, ']')
		if doc[0] == '{' {
			doc = append(doc, '}')
		}
		for range r.IntN(4) {
			p := r.IntN(len(doc))
			switch c := edits[r.IntN(len(edits))]; r.IntN(3) {
			case 0:
				doc[p] = c
			case 1:
				doc = append(doc[:p], doc[p+1:]...)
			default:
				doc = append(doc[:p], append([]byte{c}, doc[p:]...)...)
			}
		}
		want := json.Valid(doc)
		require.Equal(t, want, Valid(doc), "round %d: %s", round, doc)
		require.Equal(t, want, validate(doc, &preparsed{}), "round %d with meshes: %s", round, doc)
	}
}

// TestValidParallel holds Valid's two-goroutine check (rowMemo) to the
// one-goroutine check and to json.Valid, on documents of arrays of
// number elements with changes at random places, the split in every
// position relative to them.
func TestValidParallel(t *testing.T) {
	defer func(n int) { parallelMin = n }(parallelMin)
	parallelMin = 0
	r := rand.New(rand.NewPCG(7, 8))
	rows := string(randomRows(nil, r, 300))
	docs := []string{
		`{"parts":[{"mesh":{"vertices":[` + rows + `],"triangles":[` + rows + `]}},{"mesh":{"vertices":[` + rows + `]}}]}`,
		`[[` + rows + `],"[[1,2]],[[3",[` + rows + `]]`,
		`{"a":"[[1,2,3],[4,5,6],","b":[[1,2,3],[4,5,6]]}`,
	}
	edits := []string{"", "x", "]", "[", ",", "\"", "1e5", "-", "]]", "[[", " "}
	for _, doc := range docs {
		for range 300 {
			b := []byte(doc)
			if e := edits[r.IntN(len(edits))]; e != "" {
				at := r.IntN(len(b))
				b = append(b[:at:at], append([]byte(e), b[at:]...)...)
			}
			want := json.Valid(b)
			require.Equal(t, want, validate(b, nil), "one goroutine")
			require.Equal(t, want, Valid(b), "two goroutines, %d bytes", len(b))
		}
	}
}
