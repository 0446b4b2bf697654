package docjson

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// meshCoords returns coordinates as a rigid transform makes them from a
// mesh: a grid of binary fractions rotated by a random angle about a
// random axis and moved, of 15 to 17 significant digits mostly (like the
// assembly4 plugin's output), with a few short ones (a part not rotated).
// DOCJSON_BENCH_COORDS names a file of little-endian float64s to use
// instead (e.g. the coordinates of a real pipeline output).
func meshCoords(tb testing.TB) []float64 {
	if name := os.Getenv("DOCJSON_BENCH_COORDS"); name != "" {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		vals := make([]float64, len(b)/8)
		for i := range vals {
			vals[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return vals
	}
	r := rand.New(rand.NewPCG(5, 6))
	var vals []float64
	for part := 0; part < 64; part++ {
		// A rotation from a random unit quaternion, and a translation.
		w, x, y, z := r.NormFloat64(), r.NormFloat64(), r.NormFloat64(), r.NormFloat64()
		n := math.Sqrt(w*w + x*x + y*y + z*z)
		w, x, y, z = w/n, x/n, y/n, z/n
		m := [3][3]float64{
			{1 - 2*(y*y+z*z), 2 * (x*y - w*z), 2 * (x*z + w*y)},
			{2 * (x*y + w*z), 1 - 2*(x*x+z*z), 2 * (y*z - w*x)},
			{2 * (x*z - w*y), 2 * (y*z + w*x), 1 - 2*(x*x+y*y)},
		}
		if part%16 == 0 {
			m = [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
		}
		t := [3]float64{float64(r.IntN(400)) * 2.5, float64(r.IntN(400)) * 1.25, float64(r.IntN(40))}
		for i := 0; i < 16; i++ {
			for j := 0; j < 16; j++ {
				p := [3]float64{float64(i) * 0.9375, float64(j) * 0.625, 20}
				for c := 0; c < 3; c++ {
					vals = append(vals, m[c][0]*p[0]+m[c][1]*p[1]+m[c][2]*p[2]+t[c])
				}
			}
		}
	}
	return vals
}

// BenchmarkFormatMesh formats meshCoords as the assembly4 plugin does: one
// after the other into a large buffer, with AppendFloatFixed and each of its
// two ways. ns/op is per number.
func BenchmarkFormatMesh(b *testing.B) {
	vals := meshCoords(b)
	b.Run("AppendFloatFixed", func(b *testing.B) { benchFormat(b, vals, AppendFloatFixed) })
	b.Run("float", func(b *testing.B) { benchFormat(b, vals, appendFixedFloat) })
	b.Run("int", func(b *testing.B) { benchFormat(b, vals, appendFixedInt) })
}

func benchFormat(b *testing.B, vals []float64, format func([]byte, float64) []byte) {
	buf := make([]byte, 0, 32*len(vals)+64)
	b.ResetTimer()
	for i := 0; i < b.N; i += len(vals) {
		buf = buf[:0]
		for _, v := range vals {
			buf = format(buf, v)
		}
	}
}

// BenchmarkFormatRandom formats random coordinates in [-100, 100). ns/op
// is per number.
func BenchmarkFormatRandom(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	vals := make([]float64, 1<<14)
	for i := range vals {
		vals[i] = (r.Float64() - 0.5) * 200
	}
	b.Run("AppendFloatFixed", func(b *testing.B) { benchFormat(b, vals, AppendFloatFixed) })
	b.Run("float", func(b *testing.B) { benchFormat(b, vals, appendFixedFloat) })
}
