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

func FuzzAppendFloatFixed(f *testing.F) {
	for _, b := range []uint64{0, 1, 0x3ff0000000000000, 0x4034000000000000, 0x3fb999999999999a} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b uint64) {
		checkFormat(t, math.Float64frombits(b))
		// The same mantissa with an exponent in the fast path's range.
		e := 1023 - 17 + (b>>52&0x7ff)%70
		checkFormat(t, math.Float64frombits(b&^(0x7ff<<52)|e<<52))
	})
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
