package docjson

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
)

// AppendFloatFixed appends v formatted as strconv.AppendFloat(buf, v, 'f',
// -1, 64) formats it: the shortest decimal that parses back to v, without an
// exponent. It is the same text, byte for byte, only cheaper in WebAssembly
// for the magnitudes coordinates have (1e-5 ≤ |v| < 2^53); others, and the
// rare values it cannot settle quickly, go to strconv.
//
// How: v = M × 2^E exactly, so v × 10^k for the k that gives v 17 or 18
// integer digits is M × 10^k / 2^-E, computed exactly in 128 bits. From
// that integer and its remainder come v rounded to 15, 16 and 17 significant
// digits. The shortest decimal is the first of them that parses back to v,
// trailing zeros dropped: a float's rounding interval is narrower than the
// gap between two 15-digit decimals, so if any decimal of at most 15 digits
// parses back to v it is v rounded to 15 digits; if none does, the 16-digit
// decimal nearest to v parses back to v or no 16-digit one does (except for
// M = 2^52, whose interval is lopsided: strconv decides); 17 digits always
// parse back. Ties, where the nearest decimal is ambiguous, go to strconv.
func AppendFloatFixed(buf []byte, v float64) []byte {
	a := math.Abs(v)
	if a == 0 {
		if math.Signbit(v) {
			return append(buf, "-0"...)
		}
		return append(buf, '0')
	}
	if !(a >= 1e-5 && a < 1<<53) { // NaN included
		return strconv.AppendFloat(buf, v, 'f', -1, 64)
	}
	digits, nd, e10, ok := shortestDecimal(a)
	if !ok {
		return strconv.AppendFloat(buf, v, 'f', -1, 64)
	}
	if v < 0 {
		buf = append(buf, '-')
	}
	// The nd digits as text at the end of tmp, 8 at a time (see
	// digitBytes), without their trailing zeros.
	var tmp [24]byte
	low, mid := digitBytes(digits%1e8), digitBytes(digits/1e8%1e8)
	tmp[7] = byte('0' + digits/1e16)
	binary.LittleEndian.PutUint64(tmp[8:], mid+zeros8)
	binary.LittleEndian.PutUint64(tmp[16:], low+zeros8)
	// The last digit is low's high byte: its high zero bytes are trailing
	// zeros. mid is not 0 as digits has at least 15 digits.
	zeros := bits.LeadingZeros64(low) >> 3
	if low == 0 {
		zeros = 8 + bits.LeadingZeros64(mid)>>3
	}
	text := tmp[len(tmp)-nd : len(tmp)-zeros]
	nd -= zeros
	switch point := e10 + 1; { // digits before the decimal point
	case point <= 0:
		buf = append(buf, '0', '.')
		for ; point < 0; point++ {
			buf = append(buf, '0')
		}
		buf = append(buf, text...)
	case point >= nd:
		buf = append(buf, text...)
		for ; point > nd; point-- {
			buf = append(buf, '0')
		}
	default:
		buf = append(buf, text[:point]...)
		buf = append(buf, '.')
		buf = append(buf, text[point:]...)
	}
	return buf
}

// digitBytes returns the 8 decimal digits of x < 10^8 (with leading zeros)
// as bytes 0 to 9, the first digit in the low byte, to add '0' to and store
// little-endian: x is split in halves of 4 digits, in 32-bit lanes, then
// of 2, in 16-bit lanes, then of 1, dividing each lane by 100 or 10 with a
// multiplication and a shift, exact in that range. A loop of a division per
// digit would take a branch per digit, costly in WebAssembly.
func digitBytes(x uint64) uint64 {
	v := x/10000 | x%10000<<32
	h := (v * 5243 >> 19) & 0x0000007f0000007f // lane / 100
	v = h | (v-h*100)<<16
	t := (v * 103 >> 10) & 0x000f000f000f000f // lane / 10
	return t | (v-t*10)<<8
}

// pow10U64 holds 10^n for n in 0..19.
var pow10U64 = [20]uint64{
	1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
}

// shortestDecimal returns the shortest decimal that parses back to a, a
// positive float64 in [1e-5, 2^53), as nd digits (15 to 17, trailing zeros
// included) whose first is at 10^e10; ok is false when the caller should ask strconv (see
// AppendFloatFixed).
func shortestDecimal(a float64) (digits uint64, nd, e10 int, ok bool) {
	b := math.Float64bits(a)
	m := b&(1<<52-1) | 1<<52
	e2 := int(b>>52) - 1023 // a in [2^e2, 2^(e2+1))
	sh := uint(52 - e2)     // a = m / 2^sh, sh in [0, 69]
	// floor(log10(a)) is est or est+1, est = floor(e2 × log10(2)).
	est := (e2 * 78913) >> 18
	k := 16 - est // 1..22
	// t = m × 10^k, below 2^127.
	var hi, lo uint64
	if k <= 19 {
		hi, lo = bits.Mul64(m, pow10U64[k])
	} else {
		hi, lo = bits.Mul64(m*pow10U64[k-19], pow10U64[19])
	}
	// q = floor(a × 10^k), with 17 or 18 digits; frac compares the rest,
	// t mod 2^sh, with half of 2^sh: -1, 0 or 1; zero tells whether it is 0.
	var q uint64
	var frac int
	var zero bool
	switch {
	case sh == 0:
		q, frac, zero = lo, -1, true
	case sh < 64:
		q = lo>>sh | hi<<(64-sh)
		r, half := lo&(1<<sh-1), uint64(1)<<(sh-1)
		frac, zero = cmpU64(r, half), r == 0
	default:
		q = hi >> (sh - 64)
		rh := hi & (1<<(sh-64) - 1)
		switch {
		case sh == 64: // half is 2^63 in lo
			frac = cmpU64(lo, 1<<63)
			if rh != 0 {
				frac = 1
			}
		default: // half is 2^(sh-65) in hi
			frac = cmpU64(rh, 1<<(sh-65))
			if frac == 0 && lo != 0 {
				frac = 1
			}
		}
		zero = rh == 0 && lo == 0
	}
	if q < pow10U64[16] || q >= pow10U64[18] { // est was off: cannot happen
		return 0, 0, 0, false
	}
	e10 = est
	if q >= pow10U64[17] {
		// 18 digits: fold the last one into the remainder, so that q has 17.
		r := q % 10
		q /= 10
		e10++
		switch {
		case r != 5:
			frac = cmpU64(r, 5)
		case zero:
			frac = 0
		default:
			frac = 1
		}
		zero = zero && r == 0
	}
	// a rounded to 15, 16 and 17 significant digits; a tie is when a is
	// exactly halfway (the constant divisors become multiplications).
	d15, r15 := q/100, q%100
	if r15 > 50 || r15 == 50 && !zero {
		d15++
	}
	d16, r16 := q/10, q%10
	if r16 > 5 || r16 == 5 && !zero {
		d16++
	}
	d17 := q
	if frac > 0 {
		d17++
	}
	if r15 == 50 && zero || d15 == pow10U64[15] {
		return 0, 0, 0, false // a tie, or rounded up to a power of ten
	}
	// Does d15 × 10^(e10-14) parse back to a? d15 < 2^53 and 10^|e10-14|
	// is exact: a float division or multiplication gives the answer.
	f := float64(d15)
	if x := e10 - 14; x < 0 {
		f /= pow10Exact[-x] // x ≥ -19
	} else {
		f *= pow10Exact[x]
	}
	if f == a {
		return d15, 15, e10, true
	}
	if m == 1<<52 || r16 == 5 && zero || d16 == pow10U64[16] {
		return 0, 0, 0, false // lopsided interval, a tie, or a power of ten
	}
	if d16 <= maxSafe {
		f = float64(d16)
		if x := e10 - 15; x < 0 {
			f /= pow10Exact[-x]
		} else {
			f *= pow10Exact[x]
		}
	} else if f, ok = eiselLemire(d16, e10-15, false); !ok {
		return 0, 0, 0, false
	}
	if f == a {
		return d16, 16, e10, true
	}
	if frac == 0 || d17 == pow10U64[17] {
		return 0, 0, 0, false
	}
	return d17, 17, e10, true
}

func cmpU64(x, y uint64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
