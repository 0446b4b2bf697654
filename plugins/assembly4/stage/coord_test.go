package stage

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestAppendCoordAsStrconv holds appendCoord to strconv's shortest 'f'
// text, on random coordinates of every magnitude it takes, on the
// neighbours of powers of ten and two, and on short decimals.
func TestAppendCoordAsStrconv(t *testing.T) {
	n := 2000000
	if testing.Short() {
		n = 200000
	}
	r := rand.New(rand.NewPCG(11, 12))
	check := func(v float64) {
		t.Helper()
		for _, w := range [...]float64{v, -v, math.Nextafter(v, 0), math.Nextafter(v, math.Inf(1))} {
			got := string(appendCoord(nil, w))
			if want := strconv.FormatFloat(w, 'f', -1, 64); got != want {
				t.Fatalf("appendCoord(%b) = %s, want %s", w, got, want)
			}
		}
	}
	for e := -7; e <= 16; e++ {
		p := math.Pow(10, float64(e))
		check(p)
		check(p * (1 - 1e-16))
		check(p * (1 + 1e-16))
		check(p * (1 - 5e-16))
	}
	for e := -20; e <= 52; e++ {
		check(math.Ldexp(1, e))
		check(math.Ldexp(3, e))
	}
	for i := 0; i < n; i++ {
		var v float64
		switch i % 5 {
		case 0: // any magnitude coordinates take
			v = math.Pow(10, r.Float64()*21-6)
		case 1: // a few digits
			v = float64(r.IntN(2000000)) / math.Pow(10, float64(r.IntN(12)))
		case 2: // binary fractions
			v = float64(r.IntN(1<<20)) / float64(int(1)<<r.IntN(30))
		case 3: // rotated geometry
			v = (r.Float64() - 0.5) * 200
		default: // any bits in the range
			v = math.Float64frombits(uint64(r.Int64N(int64(math.Float64bits(1e15)-math.Float64bits(1e-6)))) + math.Float64bits(1e-6))
		}
		check(v)
	}
}

func BenchmarkAppendCoord(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]float64, 4096)
	for i := range vals {
		vals[i] = (r.Float64() - 0.5) * 200
	}
	buf := make([]byte, 0, 1<<20)
	for b.Loop() {
		buf = buf[:0]
		for _, v := range vals {
			buf = appendCoord(buf, v)
		}
	}
}
