package stage

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"

	"github.com/phasehost/phasehost/sdk/go/docjson"
)

// appendCoord appends v as docjson.AppendFloatFixed does, which is
// strconv.AppendFloat(buf, v, 'f', -1, 64): the shortest decimal that parses
// back to v, without an exponent. It is the same text, byte for byte, for
// less in WebAssembly for coordinates (1e-5 ≤ |v| < 1e15): the exact product
// of v by a power of ten is computed with float arithmetic (Dekker's
// two-product), which Go's wasm runs at native speed, where AppendFloatFixed
// uses 128-bit integer products (math/bits.Mul64 is 6-7 times slower in
// wasm than natively). Other values, and the few it cannot settle (ties,
// results that round to a power of ten, a 16-digit decimal above 2^53, a
// power of two), go to AppendFloatFixed. On the transformed coordinates of
// the benchmark's 100-part assembly (406,200 numbers) it takes about 10 ms
// off the stage in wasm and nothing natively; it would belong in docjson,
// as AppendFloatFixed's fast path.
//
// How: with 10^e10 ≤ |v| < 10^(e10+1), v rounded to 15, 16 and 17
// significant digits is the integer nearest to |v|·10^(n-1-e10), n = 15, 16,
// 17. The shortest decimal is the first of them that parses back to v,
// trailing zeros dropped (AppendFloatFixed's reasoning, docjson/format.go:
// at most one decimal of 15 digits parses back to v, the nearest 16-digit
// one does if any does, 17 digits always do). Whether d·10^-k parses back
// to v, for d ≤ 2^53 and k ≤ 22, is whether the float division d / 10^k,
// both exact, gives v (Clinger's fast path).
func appendCoord(buf []byte, v float64) []byte {
	a := math.Abs(v)
	if !(a >= 1e-5 && a < 1e15) { // NaN included
		return docjson.AppendFloatFixed(buf, v)
	}
	// floor(log10(a)) is est or est+1, est = floor(e2·log10(2)) for a in
	// [2^e2, 2^(e2+1)) (78913/2^18 is log10(2) from below, close enough
	// over this range); which one, the exact a·10^(14-est) says.
	e10 := ((int(math.Float64bits(a)>>52) - 1023) * 78913) >> 18
	k := 14 - e10
	if uint(k) > 20 {
		return docjson.AppendFloatFixed(buf, v)
	}
	// a·10^k = x + e exactly (Dekker's two-product: a and 10^k split into
	// halves of 26 bits, whose products are exact; the conversions keep
	// the compiler from fusing a multiplication and an addition). It is
	// written out for each power, as calls are dear in WebAssembly.
	t := float64(split * a)
	ah := float64(t - float64(t-a))
	al := float64(a - ah)
	p := &pow10Split[k]
	x := float64(a * p.v)
	e := float64(float64(float64(float64(ah*p.hi)-x)+float64(ah*p.lo))+float64(al*p.hi)) + float64(al*p.lo)
	if x > 1e15 || x == 1e15 && e >= 0 {
		e10++
		k--
		p = &pow10Split[k]
		x = float64(a * p.v)
		e = float64(float64(float64(float64(ah*p.hi)-x)+float64(ah*p.lo))+float64(al*p.hi)) + float64(al*p.lo)
	}
	// a·10^k is in [1e14, 1e15): a rounded to 15 digits is the integer
	// nearest to x + e. x's ulp is below 1: that is r = RoundToEven(x)
	// unless x is r ± 0.5 (then e decides), as |e| is at most half an ulp
	// of x.
	r := math.RoundToEven(x)
	if f := x - r; f == 0.5 || f == -0.5 {
		if e == 0 {
			return docjson.AppendFloatFixed(buf, v) // a tie
		}
		if f > 0 && e > 0 {
			r++
		} else if f < 0 && e < 0 {
			r--
		}
	}
	if r < 1e14 || r >= 1e15 {
		// Rounded up to a power of ten (or est was off).
		return docjson.AppendFloatFixed(buf, v)
	}
	digits, nd := uint64(r), 15
	if float64(digits)/p.v != a {
		if math.Float64bits(a)&(1<<52-1) == 0 {
			// A power of two: its rounding interval is lopsided.
			return docjson.AppendFloatFixed(buf, v)
		}
		// 16 digits: x + e in [1e15, 1e16), x's ulp at most 1 below
		// 2^53; above, the digits are not exact in float64 and the check
		// below would not hold.
		p = &pow10Split[k+1]
		x = float64(a * p.v)
		e = float64(float64(float64(float64(ah*p.hi)-x)+float64(ah*p.lo))+float64(al*p.hi)) + float64(al*p.lo)
		if x >= 1<<53 {
			return docjson.AppendFloatFixed(buf, v)
		}
		r = math.RoundToEven(x)
		if f := x - r; f == 0 {
			if e == 0.5 || e == -0.5 { // ulp 1 (x ≥ 2^52): a tie
				return docjson.AppendFloatFixed(buf, v)
			}
		} else if f == 0.5 || f == -0.5 {
			if e == 0 {
				return docjson.AppendFloatFixed(buf, v)
			}
			if f > 0 && e > 0 {
				r++
			} else if f < 0 && e < 0 {
				r--
			}
		}
		if r >= 1e16 || r > 1<<53 {
			return docjson.AppendFloatFixed(buf, v)
		}
		digits, nd = uint64(r), 16
		if float64(digits)/p.v != a {
			// 17 digits, which always parse back: x + e in [1e16,
			// 1e17), x an integer of ulp 2 to 16; e says how far the
			// nearest integer is.
			p = &pow10Split[k+2]
			x = float64(a * p.v)
			e = float64(float64(float64(float64(ah*p.hi)-x)+float64(ah*p.lo))+float64(al*p.hi)) + float64(al*p.lo)
			adj := math.RoundToEven(e)
			if math.Abs(e-adj) == 0.5 || !(x >= 1e16) {
				return docjson.AppendFloatFixed(buf, v) // a tie
			}
			digits, nd = uint64(x)+uint64(int64(adj)), 17
			if digits >= 1e17 {
				return docjson.AppendFloatFixed(buf, v)
			}
		}
	}
	// The nd digits at the end of tmp[:24], 8 at a time, then without
	// their trailing zeros (as AppendFloatFixed writes them). No division
	// of 64-bit integers, which in WebAssembly are multiplications of 128
	// bits: digits / 10^8 is the float quotient's floor, off by one at
	// most (digits is exact in float64 up to 2^53, and beyond only off by
	// a few units), which the remainder corrects; the rest is 32-bit.
	hi := uint64(float64(digits) / 1e8)
	rem := int64(digits) - int64(hi)*1e8
	if rem < 0 {
		hi--
		rem += 1e8
	} else if rem >= 1e8 {
		hi++
		rem -= 1e8
	}
	var tmp [32]byte // 32 bytes at most are cleared without a call
	top := uint32(hi) / 1e8
	low, mid := digitBytes(uint32(rem)), digitBytes(uint32(hi)-top*1e8)
	tmp[7] = byte('0' + top)
	binary.LittleEndian.PutUint64(tmp[8:], mid+zeros8)
	binary.LittleEndian.PutUint64(tmp[16:], low+zeros8)
	zeros := bits.LeadingZeros64(low) >> 3
	if low == 0 {
		zeros = 8 + bits.LeadingZeros64(mid)>>3
	}
	src := 24 - nd // the text is tmp[src:src+n], src 7 to 9
	n := nd - zeros
	// The text is written with 8-byte loads and stores that may run past
	// its end, into room reserved for them, each overwriting the excess of
	// the one before: no call to memmove per piece.
	at := len(buf)
	if cap(buf)-at < 48 {
		buf = slices.Grow(buf, 48)
	}
	out := buf[at : at+48]
	out[0] = '-'
	j := int(math.Float64bits(v) >> 63) // past the '-' of a negative v
	// point is the number of digits before the decimal point, 15 at most.
	switch point := e10 + 1; {
	case point > 0 && point < n:
		binary.LittleEndian.PutUint64(out[j:], binary.LittleEndian.Uint64(tmp[src:]))
		binary.LittleEndian.PutUint64(out[j+8:], binary.LittleEndian.Uint64(tmp[src+8:]))
		out[j+point] = '.'
		// The fraction, n - point digits: 16 at most, and fewer than 8
		// when they start past tmp[16].
		f := src + point
		binary.LittleEndian.PutUint64(out[j+point+1:], binary.LittleEndian.Uint64(tmp[f:]))
		if n-point > 8 {
			binary.LittleEndian.PutUint64(out[j+point+9:], binary.LittleEndian.Uint64(tmp[f+8:]))
		}
		j += n + 1
	case point <= 0: // -3 at least: a ≥ 1e-5
		out[j], out[j+1] = '0', '.'
		binary.LittleEndian.PutUint32(out[j+2:], zeros4)
		j += 2 - point
		binary.LittleEndian.PutUint64(out[j:], binary.LittleEndian.Uint64(tmp[src:]))
		binary.LittleEndian.PutUint64(out[j+8:], binary.LittleEndian.Uint64(tmp[src+8:]))
		out[j+16] = tmp[src+16]
		j += n
	default: // an integer: point ≥ n, followed by point - n zeros
		binary.LittleEndian.PutUint64(out[j:], binary.LittleEndian.Uint64(tmp[src:]))
		binary.LittleEndian.PutUint64(out[j+8:], binary.LittleEndian.Uint64(tmp[src+8:]))
		binary.LittleEndian.PutUint64(out[j+n:], zeros8)
		binary.LittleEndian.PutUint64(out[j+n+8:], zeros8)
		j += point
	}
	return buf[:at+j]
}

// zeros4 is '0' in each of 4 bytes.
const zeros4 = 0x30303030

// zeros8 is '0' in each byte.
const zeros8 = 0x3030303030303030

// digitBytes returns the 8 decimal digits of x < 10^8 (with leading zeros)
// as bytes 0 to 9, the first digit in the low byte, to add '0' to and store
// little-endian: docjson's (see AppendFloatFixed), the first split in 32
// bits, then multiplications and shifts in lanes.
func digitBytes(x uint32) uint64 {
	q := x / 10000
	v := uint64(q) | uint64(x-q*10000)<<32
	h := (v * 5243 >> 19) & 0x0000007f0000007f // lane / 100
	v = h | (v-h*100)<<16
	t := (v * 103 >> 10) & 0x000f000f000f000f // lane / 10
	return t | (v-t*10)<<8
}

// split is Veltkamp's constant for splitting a float64 into halves of 26
// bits: 2^27 + 1.
const split = 1<<27 + 1

// pow10Split holds 10^k for k in 0..22 (exact) and its halves for
// Dekker's two-product (see appendCoord).
var pow10Split = func() (t [23]struct{ v, hi, lo float64 }) {
	for k := range t {
		v := math.Pow10(k)
		s := float64(split * v)
		hi := float64(s - float64(s-v))
		t[k].v, t[k].hi, t[k].lo = v, hi, float64(v-hi)
	}
	return t
}()
