package stage

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/plugins/assembly4/phases"
	"github.com/phasehost/phasehost/sdk/go/sdktest"
)

// TestAppendFloatAsStrconv holds appendFloat to strconv's text: 'f', or 'e'
// for the smallest and largest magnitudes, shortest.
func TestAppendFloatAsStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 200000; i++ {
		var v float64
		switch i % 3 {
		case 0:
			v = (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(30)-10))
		case 1:
			v = math.Float64frombits(r.Uint64())
		default:
			v = float64(r.IntN(20000)-10000) / 16
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		format := byte('f')
		if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
			format = 'e'
		}
		got, err := appendFloat(nil, v)
		require.NoError(t, err)
		require.Equal(t, strconv.FormatFloat(v, format, -1, 64), string(got), "%v", v)
	}
}

// TestParseVerticesAsEncodingJSON holds parseVertices to encoding/json's
// numbers (strconv's), on arrays long enough for docjson's straight paths.
func TestParseVerticesAsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var verts [][3]float64
	for i := 0; i < 5000; i++ {
		var p [3]float64
		for k := range p {
			p[k] = (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(12)-4))
			if r.IntN(4) == 0 {
				p[k] = float64(r.IntN(1000)) / 8
			}
		}
		verts = append(verts, p)
	}
	raw, err := json.Marshal(verts)
	require.NoError(t, err)
	got, err := parseVertices(raw)
	require.NoError(t, err)
	require.Len(t, got, len(verts))
	for i, p := range verts {
		for k := range p {
			require.Equal(t, math.Float64bits(p[k]), math.Float64bits(got[i][k]), "vertex %d", i)
		}
	}
	// docjson refuses them; parseVertices names the fault.
	_, err = parseVertices([]byte(`[[1,2,3],[1,2,1e999]]`))
	assert.EqualError(t, err, "vertex 1: coordinate 2: number 1e999 out of range")
	_, err = parseVertices([]byte(`[[1,2,3],[1,2]]`))
	assert.EqualError(t, err, "vertex 1: has 2 coordinates, want 3")
}

// BenchmarkDecode reads BenchmarkStage's synthetic assembly (check, split,
// vertices).
func BenchmarkDecode(b *testing.B) {
	input := benchDoc(200, 2500)
	b.SetBytes(int64(len(input)))
	for b.Loop() {
		if _, err := decode(input); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode writes BenchmarkStage's synthetic assembly once placed.
func BenchmarkEncode(b *testing.B) {
	input := benchDoc(200, 2500)
	a, err := decode(input)
	if err != nil {
		b.Fatal(err)
	}
	h := sdktest.New(input, phases.All(), sdktest.Options{})
	if err := a.check(); err != nil {
		b.Fatal(err)
	}
	if err := a.solve(h); err != nil {
		b.Fatal(err)
	}
	if err := a.place(h); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(input)))
	for b.Loop() {
		if _, err := a.encode(); err != nil {
			b.Fatal(err)
		}
	}
}
