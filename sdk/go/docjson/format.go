package docjson

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strconv"
)

// AppendFloatFixed appends v formatted as strconv.AppendFloat(buf, v, 'f',
// -1, 64) formats it: the shortest decimal that parses back to v, without an
// exponent. It is the same text, byte for byte, only cheaper in WebAssembly
// for the magnitudes coordinates have (1e-5 ≤ |v| < 2^53); others, and the
// rare values it cannot settle quickly, go to strconv. Like append, it may
// use buf's spare capacity; it may also leave bytes there past the text it
// appends (up to 80 bytes past len(buf)).
//
// How: with 10^e10 ≤ |v| < 10^(e10+1), v rounded to 15, 16 and 17
// significant digits is the integer nearest to |v| × 10^(n-1-e10), n = 15,
// 16, 17. The shortest decimal is the first of them that parses back to v,
// trailing zeros dropped: a float's rounding interval is narrower than the
// gap between two 15-digit decimals, so if any decimal of at most 15 digits
// parses back to v it is v rounded to 15 digits; if none does, the 16-digit
// decimal nearest to v parses back to v or no 16-digit one does (except for
// a power of two, whose interval is lopsided); 17 digits always parse back.
// Whether d × 10^-k parses back to v, for d ≤ 2^53 and k ≤ 22, is whether
// the float division d / 10^k, both exact, gives v (Clinger's fast path).
//
// It computes the exact product of |v| by a power of ten with float
// arithmetic (Dekker's two-product, appendFixedFloat), which Go's wasm runs
// at native speed, where math/bits.Mul64 and 64-bit divisions by a constant
// cost 6 to 7 times what they cost natively; it is faster natively too than
// the same in 128-bit integers (43 vs 47 ns a mesh coordinate,
// BenchmarkFormatMesh). appendFixedInt, the integer way (see
// shortestDecimal), takes the values the float way leaves; the tests hold
// both to strconv on every target.
func AppendFloatFixed(buf []byte, v float64) []byte {
	return appendFixedFloat(buf, v)
}

// appendFixedFloat is AppendFloatFixed for 1e-5 ≤ |v| < 1e15 with float
// arithmetic: a × 10^k and its rounding error from Dekker's two-product,
// checked by Clinger's exact division. It leaves to appendFixedInt zero,
// other magnitudes and the few values it cannot settle: ties, results that
// round to a power of ten, a power of two that 16 digits do not settle.
//
// It tries 16 digits first, as most coordinates of a transformed mesh need
// 16 or 17: if the 16-digit decimal nearest to a does not parse back, no
// shorter one does either (a decimal of 15 digits or fewer that parses back
// is also the nearest of 16 digits, trailing zero added), so 17 it is; if
// it does, the 15-digit one may too, and it is the 16-digit one rounded to
// 15 digits (unless that ends in 5, when neither neighbour can parse back).
func appendFixedFloat(buf []byte, v float64) []byte {
	a := math.Abs(v)
	if !(a >= 1e-5 && a < 1e15) { // NaN included
		return appendFixedInt(buf, v)
	}
	// floor(log10(a)) is est or est+1, est = floor(e2 × log10(2)) for a in
	// [2^e2, 2^(e2+1)) (78913/2^18 is log10(2) from below, close enough
	// over this range); which one, the exact a × 10^(15-est) says.
	e10 := ((int(math.Float64bits(a)>>52) - 1023) * 78913) >> 18
	k := 15 - e10
	if uint(k-1) > 20 {
		return appendFixedInt(buf, v)
	}
	// a × 10^k = x + e exactly (Dekker's two-product: a and 10^k split
	// into halves of 26 bits, whose products are exact; the conversions
	// keep the compiler from fusing a multiplication and an addition). It
	// is written out for each power, as calls are dear in WebAssembly.
	t := float64(veltkamp * a)
	ah := float64(t - float64(t-a))
	al := float64(a - ah)
	p := &pow10Split[k]
	x := float64(a * p.v)
	e := float64(float64(float64(float64(ah*p.hi)-x)+float64(ah*p.lo))+float64(al*p.hi)) + float64(al*p.lo)
	if x > 1e16 || x == 1e16 && e >= 0 {
		e10++
		k--
		p = &pow10Split[k]
		x = float64(a * p.v)
		e = float64(float64(float64(float64(ah*p.hi)-x)+float64(ah*p.lo))+float64(al*p.hi)) + float64(al*p.lo)
	}
	// a × 10^k is in [1e15, 1e16): a rounded to 16 digits is the integer
	// nearest to x + e, r + adj with r = RoundToEven(x) and adj the
	// integer nearest to g = x - r + e, -1, 0 or 1 (|x - r| ≤ 1/2 and |e|
	// is at most half an ulp of x, 1 at most). x - r is exact, and g is
	// ±1/2 if x + e is a tie; a g rounded to ±1/2 is sent away too.
	r := math.RoundToEven(x)
	g := float64(x-r) + e
	if math.Abs(g) == 0.5 {
		return appendFixedInt(buf, v)
	}
	adj := math.RoundToEven(g)
	digits, nd := uint64(int64(r)+int64(adj)), 16
	if digits >= 1e16 {
		return appendFixedInt(buf, v) // rounded up to a power of ten
	}
	// Does digits × 10^-k parse back to a? Below 2^53 Clinger's division
	// says; from 2^53 on, it always does: a's rounding interval is then
	// more than ±1/2 wide around x + e (its ulp is 2^-52 × a at least),
	// except below a power of two, where it is half that.
	mant := math.Float64bits(a) & (1<<52 - 1)
	if x < 1<<53 && float64(r+adj)/p.v == a || x >= 1<<53 && mant != 0 {
		// 15 digits: the 16 are 10q + s, q = floor(r / 10) (exact: r is
		// an integer below 2^54 with its last bit 0 above 2^53) and s in
		// [-1, 10] (adj included); the candidate is q or q + 1 as s < 5
		// or s > 5 (and q when s is 5, which fails the check).
		q := math.Floor(r / 10)
		s := float64(r-q*10) + adj
		c := q + math.RoundToEven(s*0.1)
		if float64(c)/pow10Split[k-1].v == a {
			if c >= 1e15 {
				return appendFixedInt(buf, v) // a power of ten
			}
			digits, nd = uint64(c), 15
		}
	} else {
		if mant == 0 {
			// A power of two: its rounding interval is lopsided.
			return appendFixedInt(buf, v)
		}
		// 17 digits, which always parse back: x + e in [1e16, 1e17), x
		// an integer of ulp 2 to 16; e says how far the nearest integer
		// is.
		p = &pow10Split[k+1]
		x = float64(a * p.v)
		e = float64(float64(float64(float64(ah*p.hi)-x)+float64(ah*p.lo))+float64(al*p.hi)) + float64(al*p.lo)
		adj := math.RoundToEven(e)
		if math.Abs(e-adj) == 0.5 || !(x >= 1e16) {
			return appendFixedInt(buf, v) // a tie
		}
		digits, nd = uint64(x)+uint64(int64(adj)), 17
		if digits >= 1e17 {
			return appendFixedInt(buf, v)
		}
	}
	return appendDecimal(buf, int(math.Float64bits(v)>>63), digits, nd, e10)
}

// appendFixedInt is AppendFloatFixed with the digits from shortestDecimal
// (128-bit integer products) when it settles them, else strconv's.
func appendFixedInt(buf []byte, v float64) []byte {
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
	low, mid := digitBytes(uint32(digits%1e8)), digitBytes(uint32(digits/1e8%1e8))
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

// appendDecimal appends the decimal of nd digits (15 to 17, digits < 10^17,
// trailing zeros included) whose first is at 10^e10 (-5 ≤ e10 ≤ 14),
// negative if sign is 1 (0 if not), without its trailing zeros and without an exponent:
// appendFixedFloat's writer, shaped for WebAssembly (appendFixedInt, for the
// values the float way leaves, has its own, with append).
func appendDecimal(buf []byte, sign int, digits uint64, nd, e10 int) []byte {
	// No division of 64-bit integers, which in WebAssembly are
	// multiplications of 128 bits: digits / 10^8 is the float quotient's
	// floor, off by one at most (digits is exact in float64 up to 2^53,
	// and beyond only off by a few units), which the remainder corrects;
	// the rest is 32-bit.
	// The correction is arithmetic on masks (m is -1 or 0): a branch not
	// taken costs as much as it does.
	hi := int64(float64(digits) / 1e8)
	rem := int64(digits) - hi*1e8
	m := rem >> 63 // rem < 0
	hi, rem = hi+m, rem+m&1e8
	m = (1e8 - 1 - rem) >> 63 // rem ≥ 1e8
	hi, rem = hi-m, rem-m&1e8
	top := uint32(hi) / 1e8
	low, mid := digitBytes(uint32(rem)), digitBytes(uint32(hi)-top*1e8)
	// The text is written with 8-byte loads and stores that may run past
	// its end, each overwriting the excess of the one before: no call to
	// memmove per piece. It is built in the room reserved past len(buf),
	// out: the nd digits first, as scratch, at the end of out[40:64]
	// (tmp[24-nd:24] below), then the text from out[0], 34 bytes at most.
	// Every index is masked to where it can be, so that the compiler
	// drops its bounds check (each one a branch).
	at := len(buf)
	if cap(buf)-at < 80 {
		buf = slices.Grow(buf, 80)
	}
	out := (*[80]byte)(buf[at : at+80])
	tmp := (*[40]byte)(out[40:])
	tmp[7] = byte('0' + top)
	binary.LittleEndian.PutUint64(tmp[8:], mid+zeros8)
	binary.LittleEndian.PutUint64(tmp[16:], low+zeros8)
	// The last digit is low's high byte: its high zero bytes are trailing
	// zeros. mid is not 0 as digits has at least 15 digits. low's count
	// is 8 if low is 0, and then mid's is added (without a branch).
	zeros := bits.LeadingZeros64(low) >> 3
	zeros += bits.LeadingZeros64(mid) >> 3 & -(zeros >> 3)
	src := 24 - nd // the text is tmp[src:src+n], src 7 to 9
	n := nd - zeros
	out[0] = '-'
	j := sign // past the '-' if there is one
	// point is the number of digits before the decimal point, 15 at most.
	switch point := e10 + 1; {
	case point > 0 && point < n:
		put64(out, j, load64(tmp, src))
		put64(out, j+8, load64(tmp, src+8))
		out[(j+point)&31] = '.'
		// The fraction, n - point digits: 16 at most, and fewer than 8
		// when they start past tmp[16].
		f := src + point
		put64(out, j+point+1, load64(tmp, f))
		if n-point > 8 {
			put64(out, j+point+9, load64(tmp, f+8))
		}
		j += n + 1
	case point <= 0: // -4 at least: e10 ≥ -5
		binary.LittleEndian.PutUint64(out[j&1:], '0'|'.'<<8|zeros4<<16)
		j += 2 - point
		put64(out, j, load64(tmp, src))
		put64(out, j+8, load64(tmp, src+8))
		out[(j+16)&31] = tmp[(src+16)&31]
		j += n
	default: // an integer: point ≥ n, followed by point - n zeros
		put64(out, j, load64(tmp, src))
		put64(out, j+8, load64(tmp, src+8))
		put64(out, j+n, zeros8)
		put64(out, j+n+8, zeros8)
		j += point
	}
	return buf[:at+j]
}

// load64 and put64 are the 8 bytes of a scratch buffer at i (0 ≤ i < 32):
// i is masked so that the compiler sees them in range.
func load64(b *[40]byte, i int) uint64 {
	return binary.LittleEndian.Uint64(b[i&31:])
}

func put64(b *[80]byte, i int, x uint64) {
	binary.LittleEndian.PutUint64(b[i&31:], x)
}

// digitBytes returns the 8 decimal digits of x < 10^8 (with leading zeros)
// as bytes 0 to 9, the first digit in the low byte, to add '0' to and store
// little-endian: x is split in halves of 4 digits (a 32-bit division), in
// 32-bit lanes, then of 2, in 16-bit lanes, then of 1, dividing each lane by
// 100 or 10 with a multiplication and a shift, exact in that range. A loop
// of a division per digit would take a branch per digit, costly in
// WebAssembly.
func digitBytes(x uint32) uint64 {
	q := x / 10000
	v := uint64(q) | uint64(x-q*10000)<<32
	h := (v * 5243 >> 19) & 0x0000007f0000007f // lane / 100
	v = h | (v-h*100)<<16
	t := (v * 103 >> 10) & 0x000f000f000f000f // lane / 10
	return t | (v-t*10)<<8
}

// zeros4 is '0' in each of 4 bytes (zeros8's half).
const zeros4 = zeros8 & 0xffffffff

// veltkamp is Veltkamp's constant for splitting a float64 into halves of
// 26 bits: 2^27 + 1.
const veltkamp = 1<<27 + 1

// pow10Split holds 10^k for k in 0..22 (exact) and its halves for Dekker's
// two-product (see appendFixedFloat).
var pow10Split = func() (t [23]struct{ v, hi, lo float64 }) {
	for k := range t {
		v := pow10Exact[k]
		s := float64(veltkamp * v)
		hi := float64(s - float64(s-v))
		t[k].v, t[k].hi, t[k].lo = v, hi, float64(v-hi)
	}
	return t
}()

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
