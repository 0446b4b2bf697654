package docjson

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
)

// Numbers are most of a mesh document, so their parse is the hot path of
// every stage. strconv.ParseFloat is exact but general (underscores, hex,
// "inf", a string argument), and under WebAssembly each of its many calls and
// branches is expensive: there it costs ~11× its native time. parseNumber
// reads a JSON number in one function, 8 digits at a time, into a 64-bit
// decimal mantissa and a power of ten, then converts exactly:
//
//   - Clinger's fast path when the mantissa and the power are both exact
//     float64s (≤ 2^53, 10^0..10^22): one IEEE multiplication or division is
//     then correctly rounded;
//   - else Eisel and Lemire's method: multiply by a 128-bit approximation of
//     the power of ten and keep the result only when its error cannot change
//     the rounding (nearly always: pipeline documents are full of 17-digit
//     shortest representations, out of reach of Clinger's path);
//   - else strconv.ParseFloat, which is also the judge of the tests (the
//     result must be the same, bit for bit).

// numStatus is parseNumber's verdict.
type numStatus uint8

const (
	numOK     numStatus = iota
	numSyntax           // not a JSON number
	numRange            // a JSON number out of float64's range
)

// swar8 constants: a byte-wise view of 8 input bytes in a uint64.
const (
	ones8   = 0x0101010101010101
	high8   = 0x8080808080808080
	zeros8  = '0' * ones8
	above9  = (0x80 - ('9' + 1)) * ones8 // adding it sets bit 7 of bytes > '9'
	maxSafe = 1 << 53
)

// digitRun returns how many of the 8 bytes in x (little-endian: x's low byte
// is the first) are leading ASCII digits, 0 to 8, without a branch per byte:
// a byte is no digit when it has bit 7 set, or gets it by subtracting '0'
// (it is below '0') or by adding above9 (it is above '9'). A borrow or carry
// only spreads to later bytes, past the first one that is no digit.
func digitRun(x uint64) int {
	m := (x | (x - zeros8) | (x + above9)) & high8
	return bits.TrailingZeros64(m) >> 3
}

// digitsValue returns the value of the n (1..8) leading ASCII digits of x.
// Shifting the digits up to the high bytes leaves zeros in front of them;
// then digits are combined pairwise in three multiplications: 8×1 → 4×2 →
// 2×4 → 1×8 digits.
func digitsValue(x uint64, n int) uint64 {
	x = (x - zeros8) << (64 - 8*uint(n))
	x = (x*10 + x>>8) & 0x00ff00ff00ff00ff
	x = (x*100 + x>>16) & 0x0000ffff0000ffff
	return (x*10000 + x>>32) & 0xffffffff
}

// pow10Exact holds the powers of ten a float64 represents exactly.
var pow10Exact = [23]float64{
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
}

// pow10Int holds 10^n for n in 0..8, to append n digits to a mantissa.
var pow10Int = [9]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}

// maxMantDigits is the most digits a uint64 mantissa holds without overflow.
const maxMantDigits = 19

// parseNumber parses the JSON number starting at d[i] (RFC 8259:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?), returning its value, the
// index just past it, and numOK; numRange when it is a number too large for
// a float64 (strconv.ParseFloat's ErrRange), numSyntax when d[i:] does not
// start with a JSON number. The value is strconv.ParseFloat's, bit for bit.
//
// Numbers that fit parseShortNumber (nearly all of a mesh's) take no call
// past it: every call costs in WebAssembly. The general path, for long
// numbers and numbers at the very end of the text, reads its digit runs
// with appendDigits.
func parseNumber(d []byte, i int) (float64, int, numStatus) {
	if i+32 <= len(d) {
		if f, end, ok := parseShortNumber(d, i); ok {
			return f, end, numOK
		}
	}
	return parseNumberGeneral(d, i)
}

// appendDigits reads the decimal digits at d[i:] into mant, which holds nd
// digits so far: 8 at a time while 8 bytes are left, then one by one. Past
// maxMantDigits it still scans them, for the syntax and the fallback, and
// reports long. It returns the index past the digits.
func appendDigits(d []byte, i int, mant uint64, nd int) (int, uint64, int, bool) {
	long := false
	for i+8 <= len(d) {
		x := binary.LittleEndian.Uint64(d[i:])
		n := digitRun(x)
		if n == 0 {
			break
		}
		if nd+n > maxMantDigits {
			long = true
			break
		}
		mant = mant*pow10Int[n] + digitsValue(x, n)
		nd += n
		i += n
		if n < 8 {
			break
		}
	}
	for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		if nd == maxMantDigits {
			long = true
			continue
		}
		mant = mant*10 + uint64(d[i]-'0')
		nd++
	}
	return i, mant, nd, long
}

// parseNumberGeneral is parseNumber without parseShortNumber's path.
func parseNumberGeneral(d []byte, i int) (float64, int, numStatus) {
	start := i
	neg := false
	if i < len(d) && d[i] == '-' {
		neg = true
		i++
	}
	if i >= len(d) {
		return 0, i, numSyntax
	}
	var mant uint64
	nd := 0    // digits in mant, leading zeros excluded
	exp10 := 0 // the value is mant × 10^exp10
	long := false
	switch c := d[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		i, mant, nd, long = appendDigits(d, i, mant, nd)
	default:
		return 0, i, numSyntax
	}
	if i < len(d) && d[i] == '.' {
		i++
		fracStart := i
		if nd == 0 {
			// 0.000123: leading zeros only move the decimal point.
			for i < len(d) && d[i] == '0' {
				i++
			}
		}
		var fracLong bool
		i, mant, nd, fracLong = appendDigits(d, i, mant, nd)
		long = long || fracLong
		if i == fracStart {
			return 0, i, numSyntax
		}
		exp10 = fracStart - i
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		eneg := false
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			eneg = d[i] == '-'
			i++
		}
		expStart := i
		e := 0
		for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
			if e < 100000 { // far past any float64: saturate
				e = e*10 + int(d[i]-'0')
			}
		}
		if i == expStart {
			return 0, i, numSyntax
		}
		if eneg {
			e = -e
		}
		exp10 += e
	}
	if long {
		return parseNumberSlow(d[start:i], neg, i)
	}
	if mant == 0 {
		if neg {
			return math.Copysign(0, -1), i, numOK
		}
		return 0, i, numOK
	}
	// Clinger: mant and 10^|exp10| are exact, so is one rounding.
	if mant <= maxSafe && exp10 >= -22 && exp10 <= 22 {
		f := float64(mant)
		if exp10 < 0 {
			f /= pow10Exact[-exp10]
		} else {
			f *= pow10Exact[exp10]
		}
		if neg {
			f = -f
		}
		return f, i, numOK
	}
	if f, ok := eiselLemire(mant, exp10, neg); ok {
		return f, i, numOK
	}
	return parseNumberSlow(d[start:i], neg, i)
}

// parseShortNumber is parseNumber's straight path for the numbers of a
// mesh: -?[0-9]{1,7}(\.[0-9]{1,16})? without an exponent, of at most 19
// digits, with 32 bytes to read at d[i]. Each part is a block of 8 bytes
// read at once, whose first byte that is no digit is the next part's first
// byte, so there is no loop, and few branches are taken, which is what
// costs in WebAssembly. It reports false when the number is anything else,
// for parseNumber's general loop.
func parseShortNumber(d []byte, i int) (float64, int, bool) {
	// The sign without a branch: an if that is usually not taken costs a
	// jump in WebAssembly (Go lays the if's body out next).
	minus := (int(d[i]) ^ '-' - 1) >> 63 & 1 // 1 for '-', else 0
	i += minus
	x := binary.LittleEndian.Uint64(d[i:])
	n := digitRun(x)
	if uint(n-1) >= 7 || n > 1 && x&0xff == '0' { // 1 to 7 digits, no leading 0
		return 0, 0, false
	}
	mant := digitsValue(x, n)
	i += n
	c := byte(x >> (8 * uint(n)))
	nf := 0 // fraction digits
	if c == '.' {
		y := binary.LittleEndian.Uint64(d[i+1:])
		m := digitRun(y)
		switch {
		case m == 0:
			return 0, 0, false
		case m < 8:
			mant = mant*pow10Int[m] + digitsValue(y, m)
			nf = m
			c = byte(y >> (8 * uint(m)))
		default: // 8 digits, and more in the next block
			z := binary.LittleEndian.Uint64(d[i+9:])
			m2 := digitRun(z)
			// 16 fraction digits when the byte after them is no digit
			// (read within the 32 bytes): a shortest float64 in [1, 10)
			// has 17 digits, 1 before the point.
			c = d[i+9+m2]
			if c-'0' < 10 || n+8+m2 > maxMantDigits {
				return 0, 0, false
			}
			mant = (mant*1e8+digitsValue(y, 8))*pow10Int[m2] + digitsValue(z, m2)
			nf = 8 + m2
		}
		i += 1 + nf
	}
	if c|0x20 == 'e' {
		return 0, 0, false
	}
	if mant <= maxSafe { // Clinger, as in parseNumber
		return float64(mant) / pow10Exact[nf] * signs[minus], i, true
	}
	f, ok := eiselLemire(mant, -nf, minus == 1)
	return f, i, ok
}

// signs turns a sign bit into a factor: multiplying by -1 is exact and
// makes -0 of 0, as negation does.
var signs = [2]float64{1, -1}

// parseNumberSlow is parseNumber's fallback through strconv.ParseFloat, for
// the rare numbers the fast paths cannot round with certainty: more than 19
// digits, halfway cases, subnormal or overflowing results.
func parseNumberSlow(tok []byte, neg bool, end int) (float64, int, numStatus) {
	f, err := strconv.ParseFloat(bytesString(tok), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, end, numRange
	}
	return f, end, numOK
}

// eiselLemire converts mant × 10^exp10 (mant > 0) to the nearest float64,
// reporting false when it cannot be sure of the rounding or the result is
// not a normal number.
//
// pow10Table holds 10^q as a 128-bit M (rounded down) and an implied binary
// exponent, so w × M for the normalized mantissa w is a 192-bit
// approximation of the value, short of it by less than w units of its low
// 64 bits. The 54 top bits of the product are the float's 53 bits and a
// rounding bit; the approximation only matters when the error could carry
// into them, or when the bits below the rounding bit are all zero (a tie
// that the exact value may or may not be).
func eiselLemire(mant uint64, exp10 int, neg bool) (float64, bool) {
	if exp10 < pow10Min || exp10 > pow10Max {
		return 0, false
	}
	lz := bits.LeadingZeros64(mant)
	w := mant << uint(lz)
	p := &pow10Table[exp10-pow10Min]
	hi, lo := bits.Mul64(w, p[0])
	// hi:lo is w × M's top 128 bits with M cut to its top 64 bits: the exact
	// value is within w units of lo above it. Only when that could carry
	// into hi's bits we keep (bits 9 and up) take M's low 64 bits in.
	if hi&0x1ff == 0x1ff && lo+w < lo {
		h2, _ := bits.Mul64(w, p[1])
		var carry uint64
		lo, carry = bits.Add64(lo, h2, 0)
		hi += carry
		// Now within 2 units of lo: a carry is still possible at lo's maximum.
		if hi&0x1ff == 0x1ff && lo == math.MaxUint64 {
			return 0, false
		}
	}
	// hi is in [2^62, 2^64): keep 54 bits.
	msb := hi >> 63
	shift := 9 + msb
	m := hi >> shift
	if lo == 0 && hi&(1<<shift-1) == 0 && m&3 == 1 {
		// Exactly halfway by the approximation: the exact value may be a tie
		// (to round to even, down here) or just above it.
		return 0, false
	}
	m += m & 1 // round half up; ties were excluded above
	m >>= 1
	// value ≈ hi × 2^(128 + e_q - lz) with e_q = floor(exp10 × log2(10)) - 127,
	// and hi ≈ m × 2^(shift+1).
	e2 := int(msb) + 10 + 1 + ((exp10 * 217706) >> 16) - lz
	if m >= 1<<53 {
		m >>= 1
		e2++
	}
	biased := e2 + 52 + 1023
	if biased < 1 || biased > 2046 {
		return 0, false // subnormal, zero or infinite: strconv decides
	}
	b := uint64(biased)<<52 | m&(1<<52-1)
	if neg {
		b |= 1 << 63
	}
	return math.Float64frombits(b), true
}
