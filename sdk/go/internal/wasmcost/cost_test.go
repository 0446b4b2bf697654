package wasmcost

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"testing"
)

const n = 1 << 16

var (
	floats = func() []float64 {
		x := make([]float64, n)
		for i := range x {
			x[i] = math.Sin(float64(i)) * 1000
		}
		return x
	}()
	keys = func() []uint64 {
		k := make([]uint64, n)
		s := uint64(88172645463325252)
		for i := range k {
			s ^= s << 13
			s ^= s >> 7
			s ^= s << 17
			k[i] = s
		}
		return k
	}()
	// text is JSON-like bytes: numbers, commas, brackets and spaces.
	text = func() []byte {
		var b []byte
		for i, f := range floats {
			if i%3 == 0 {
				b = append(b, "], ["...)
			}
			b = strconv.AppendFloat(b, f, 'f', 6, 64)
			b = append(b, ',')
		}
		return b
	}()
	sink    float64
	sinkInt int
)

// Straight-line arithmetic over a slice: no branch but the loop's own.
func BenchmarkFloatLoop(b *testing.B) {
	for b.Loop() {
		s := 0.0
		for _, v := range floats {
			s += v * v
		}
		sink = s
	}
}

// A branch per byte: counting the bytes of a class.
func BenchmarkByteLoop(b *testing.B) {
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		c := 0
		for _, ch := range text {
			if ch == ',' || ch == '[' || ch == ']' {
				c++
			}
		}
		sinkInt = c
	}
}

// The same count, branch-free: the comparison becomes a 0/1 value.
func BenchmarkByteLoopBranchless(b *testing.B) {
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		c := 0
		for _, ch := range text {
			c += b2i(ch == ',') + b2i(ch == '[') + b2i(ch == ']')
		}
		sinkInt = c
	}
}

func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

// The same count, eight bytes at a time (SWAR): one load, arithmetic, and a
// popcount per word instead of a branch per byte.
func BenchmarkByteLoopSWAR(b *testing.B) {
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		c, i := 0, 0
		for ; i+8 <= len(text); i += 8 {
			w := binary.LittleEndian.Uint64(text[i:])
			c += bits.OnesCount64(hasByte(w, ',') | hasByte(w, '[') | hasByte(w, ']'))
		}
		for _, ch := range text[i:] {
			c += b2i(ch == ',') + b2i(ch == '[') + b2i(ch == ']')
		}
		sinkInt = c
	}
}

// hasByte sets the high bit of each byte of w equal to c (exact, no false
// positives).
func hasByte(w uint64, c byte) uint64 {
	const lo7 = 0x7f7f7f7f7f7f7f7f
	x := w ^ (0x0101010101010101 * uint64(c))
	return ^(((x & lo7) + lo7) | x | lo7)
}

//go:noinline
func add(a, b float64) float64 { return a + b }

// A call that is not inlined, per element.
func BenchmarkCallPerElement(b *testing.B) {
	for b.Loop() {
		s := 0.0
		for _, v := range floats {
			s = add(s, v)
		}
		sink = s
	}
}

// A closure called per element (as a callback-style parser does).
func BenchmarkClosurePerElement(b *testing.B) {
	visit := func(f func(float64)) {
		for _, v := range floats {
			f(v)
		}
	}
	for b.Loop() {
		s := 0.0
		visit(func(v float64) { s += v })
		sink = s
	}
}

// A map lookup per element.
func BenchmarkMapLookup(b *testing.B) {
	m := make(map[uint64]int32, n)
	for i, k := range keys {
		m[k] = int32(i)
	}
	for b.Loop() {
		s := 0
		for _, k := range keys {
			s += int(m[k])
		}
		sinkInt = s
	}
}

// Sorting 64-bit keys: with a comparison callback, and with slices.Sort.
func BenchmarkSortSlice(b *testing.B) {
	buf := make([]uint64, n)
	for b.Loop() {
		copy(buf, keys)
		sort.Slice(buf, func(i, j int) bool { return buf[i] < buf[j] })
	}
}

func BenchmarkSlicesSort(b *testing.B) {
	buf := make([]uint64, n)
	for b.Loop() {
		copy(buf, keys)
		slices.Sort(buf)
	}
}

// 64×64→128-bit multiplication: one instruction natively, four 32-bit
// products in wasm.
func BenchmarkMul64(b *testing.B) {
	for b.Loop() {
		var acc uint64
		for _, k := range keys {
			hi, lo := bits.Mul64(k, 0x9e3779b97f4a7c15)
			acc ^= hi + lo
		}
		sinkInt = int(acc)
	}
}

// Number text to float64 and back.
func BenchmarkParseFloat(b *testing.B) {
	toks := make([]string, 1024)
	for i := range toks {
		toks[i] = strconv.FormatFloat(floats[i], 'g', -1, 64)
	}
	for b.Loop() {
		s := 0.0
		for _, t := range toks {
			v, _ := strconv.ParseFloat(t, 64)
			s += v
		}
		sink = s
	}
}

func BenchmarkAppendFloat(b *testing.B) {
	buf := make([]byte, 0, 64)
	for b.Loop() {
		for _, v := range floats[:1024] {
			buf = strconv.AppendFloat(buf[:0], v, 'g', -1, 64)
		}
	}
}

// encoding/json, by reflection.
func BenchmarkJSONUnmarshal(b *testing.B) {
	doc, err := json.Marshal(map[string]any{"vertices": floats[:3000]})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		var v struct{ Vertices []float64 }
		if err := json.Unmarshal(doc, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// Allocation of small objects (GC included).
func BenchmarkAlloc(b *testing.B) {
	type node struct {
		next *node
		v    [4]float64
	}
	for b.Loop() {
		var head *node
		for i := range 4096 {
			head = &node{next: head, v: [4]float64{float64(i)}}
		}
		sink = head.v[0]
	}
}
