package docjson

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func checkFormat(t *testing.T, v float64) {
	t.Helper()
	want := strconv.AppendFloat(nil, v, 'f', -1, 64)
	if got := AppendFloatFixed(nil, v); string(got) != string(want) {
		t.Fatalf("AppendFloatFixed(%v) = %s, want %s (bits %#x)", v, got, want, math.Float64bits(v))
	}
	// Both ways AppendFloatFixed has, whichever this target takes.
	if got := appendFixedFloat([]byte("[1,"), v); string(got) != "[1,"+string(want) {
		t.Fatalf("appendFixedFloat([1,, %v) = %s, want [1,%s (bits %#x)", v, got, want, math.Float64bits(v))
	}
	if got := appendFixedInt([]byte("[1,"), v); string(got) != "[1,"+string(want) {
		t.Fatalf("appendFixedInt([1,, %v) = %s, want [1,%s (bits %#x)", v, got, want, math.Float64bits(v))
	}
}

func TestAppendFloatFixed(t *testing.T) {
	for _, v := range []float64{
		0, math.Copysign(0, -1), 1, -1, 2, 0.5, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 20, 0.9375, 0.625, 100, 1e15, 1e16,
		1<<53 - 1, 1 << 53, 1<<53 + 2, 1 << 52, 1 << 50, 1 << 51, 1e-5, 1e-6, 9.99999e-6, 1.5e-7, 1e21, 1e22, 123456789.125,
		math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.NaN(), 0.30000000000000004,
		1.0000000000000002, 0.9999999999999999, 12.345678901234567, 5e-324, 4503599627370496.5, 9007199254740991,
		99999999999999.99, 9.999999999999999e14, 999999999999999.9, 0.00001, 0.00009999999999999999,
	} {
		checkFormat(t, v)
		checkFormat(t, -v)
	}
	for e := -60; e <= 60; e++ {
		p := math.Ldexp(1, e)
		for _, v := range []float64{p, math.Nextafter(p, 0), math.Nextafter(p, math.Inf(1)), math.Pow(10, float64(e/3))} {
			checkFormat(t, v)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	n := 1000000
	if testing.Short() {
		n = 100000
	}
	for i := 0; i < n; i++ {
		var v float64
		switch i % 4 {
		case 0: // coordinates of any magnitude the fast path takes
			v = (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(22)-6))
		case 1: // any float64
			v = math.Float64frombits(r.Uint64())
		case 2: // short decimals
			v = float64(r.IntN(2000001)-1000000) / math.Pow(10, float64(r.IntN(10)))
		case 3: // neighbors of short decimals
			v = float64(r.IntN(20001)-10000) / math.Pow(10, float64(r.IntN(6)))
			for k := r.IntN(4); k > 0; k-- {
				v = math.Nextafter(v, math.Inf(1))
			}
		}
		checkFormat(t, v)
	}
}

// TestAppendFloatFixedCoordinates holds AppendFloatFixed to strconv on 8M
// values in and around its fast path (1e-5 ≤ |v| < 1e15): random
// coordinates of every magnitude, the neighbours of powers of ten and two,
// and short decimals.
func TestAppendFloatFixedCoordinates(t *testing.T) {
	n := 2000000
	if testing.Short() {
		n = 200000
	}
	r := rand.New(rand.NewPCG(11, 12))
	check := func(v float64) {
		t.Helper()
		for _, w := range [...]float64{v, -v, math.Nextafter(v, 0), math.Nextafter(v, math.Inf(1))} {
			checkFormat(t, w)
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

func FuzzAppendFloatFixed(f *testing.F) {
	for _, b := range []uint64{0, 1, 0x3ff0000000000000, 0x4034000000000000, 0x3fb999999999999a} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b uint64) {
		checkFormat(t, math.Float64frombits(b))
		// The same mantissa with an exponent in the fast path's range.
		e := 1023 - 17 + (b>>52&0x7ff)%70
		checkFormat(t, math.Float64frombits(b&^(0x7ff<<52)|e<<52))
		// A decimal of up to 17 digits and its neighbours, in and
		// around the fast path's range: ties and 15- and 16-digit
		// decimals.
		d := float64(b>>8%1e17) / pow10Exact[b%23]
		checkFormat(t, d)
		checkFormat(t, math.Nextafter(d, 0))
		checkFormat(t, math.Nextafter(d, math.Inf(1)))
	})
}

// BenchmarkAppendFloatFixedCoords formats rotated geometry: coordinates
// of 17 significant digits, mostly.
func BenchmarkAppendFloatFixedCoords(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]float64, 4096)
	for i := range vals {
		vals[i] = (r.Float64() - 0.5) * 200
	}
	buf := make([]byte, 0, 1<<20)
	for b.Loop() {
		buf = buf[:0]
		for _, v := range vals {
			buf = AppendFloatFixed(buf, v)
		}
	}
}

func BenchmarkAppendFloatFixed(b *testing.B) {
	vals := benchFloats()
	buf := make([]byte, 0, 64)
	for b.Loop() {
		for _, v := range vals {
			buf = AppendFloatFixed(buf[:0], v)
		}
	}
}

// BenchmarkAppendFloatStrconv is BenchmarkAppendFloatFixed with strconv.
func BenchmarkAppendFloatStrconv(b *testing.B) {
	vals := benchFloats()
	buf := make([]byte, 0, 64)
	for b.Loop() {
		for _, v := range vals {
			buf = strconv.AppendFloat(buf[:0], v, 'f', -1, 64)
		}
	}
}

// benchFloats returns coordinates as a transform makes them (17 digits) and
// as a grid has them (few digits).
func benchFloats() []float64 {
	return []float64{12.345678901234567, -0.30000000000000004, 20, 0.9375, 187.04999999999998, -3.552713678800501e-05, 1.25, 7.0710678118654755}
}

// TestAppendFloatFixedSixteen holds AppendFloatFixed to strconv where
// appendFixedFloat's 16-digit first step has its edges: mesh coordinates
// (15 to 17 digits), 16-digit decimals whose scaled value is at or above
// 2^53 (leading digits 9.007 to 9.999, settled without a division), and
// 16-digit decimals ending in 0 or 5 (the 15-digit step's edges), each with
// its neighbours.
func TestAppendFloatFixedSixteen(t *testing.T) {
	check := func(v float64) {
		t.Helper()
		for _, w := range [...]float64{v, -v, math.Nextafter(v, 0), math.Nextafter(v, math.Inf(1))} {
			checkFormat(t, w)
		}
	}
	for _, v := range meshCoords(t) {
		check(v)
	}
	n := 300000
	if testing.Short() {
		n = 30000
	}
	r := rand.New(rand.NewPCG(13, 14))
	for i := 0; i < n; i++ {
		e := r.IntN(21) - 6
		switch i % 3 {
		case 0: // leading digits 9.007 to 9.999, any bits
			check((9.007 + r.Float64()*0.993) * math.Pow(10, float64(e)))
		case 1: // a 16-digit decimal ending in 5
			d := (1e14+r.Int64N(9e14))*10 + 5
			check(float64(d) / math.Pow(10, float64(15-e)))
		default: // a 16-digit decimal ending in 0, or in any digit
			d := 1e15 + r.Int64N(9e15)
			if i%2 == 0 {
				d -= d % 10
			}
			check(float64(d) / math.Pow(10, float64(15-e)))
		}
	}
}
