package docjson

import (
	"encoding/json"
	"math"
	"math/big"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// jsonNumber is RFC 8259's number grammar.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// checkNumber compares parseNumber on s with the grammar and with
// strconv.ParseFloat, bit for bit.
func checkNumber(t *testing.T, s string) {
	t.Helper()
	checkNumberIn(t, s, s)
	// With bytes after it, as in a document (parseShortNumber needs 32).
	for _, after := range []string{",", "]", " ", "}", "\n", "x"} {
		checkNumberIn(t, s, s+after+`,"a":[1,2,3],"b":0.123456789012345678901234`)
	}
}

// checkNumberIn checks parseNumber on in, which starts with s.
func checkNumberIn(t *testing.T, s, in string) {
	t.Helper()
	v, end, st := parseNumber([]byte(in), 0)
	valid := jsonNumber.MatchString(s)
	if !valid {
		if st != numSyntax && end == len(s) {
			t.Errorf("parseNumber(%q) accepted a non-number: %v, status %d", s, v, st)
		}
		return
	}
	if end != len(s) || st == numSyntax {
		t.Fatalf("parseNumber(%q): end %d, status %d; want %d, not numSyntax", s, end, st, len(s))
	}
	want, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(want, 0) {
		if st != numRange {
			t.Fatalf("parseNumber(%q) = %v, status %d; want numRange (strconv: %v, %v)", s, v, st, want, err)
		}
		return
	}
	if st != numOK || math.Float64bits(v) != math.Float64bits(want) {
		t.Fatalf("parseNumber(%q) = %v (%#x), status %d; want %v (%#x)", s, v, math.Float64bits(v), st, want, math.Float64bits(want))
	}
}

func TestParseNumberEdges(t *testing.T) {
	for _, s := range []string{
		"0", "-0", "0.0", "-0.0", "0e5", "-0E-5", "0.000", "1", "-1", "9", "10", "0.5",
		"9007199254740992", "9007199254740993", "9007199254740991", "-9007199254740993",
		"9007199254740992e22", "9007199254740993e-22", "9007199254740992e-22", "9007199254740992e23",
		"1e22", "1e23", "1e-22", "1e-23", "8.98846567431158e307",
		"1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308", "1.8e308", "-1.8e308",
		"1e308", "1e309", "-1e309", "1e400", "1e99999999999999999999",
		"2.2250738585072014e-308", "2.2250738585072011e-308", "2.225073858507201e-308",
		"4.9e-324", "5e-324", "2e-324", "3e-324", "1e-400", "1e-99999999999999999999", "-1e-400",
		"0.1", "0.2", "0.3", "1.1", "123.456", "-77.0999", "0.37", "1e-3", "18499.63",
		"12.345678901234567", "0.30000000000000004", "1.0000000000000002", "0.9999999999999999",
		"1.2345678901234567e-05", "0.00012345678901234567", "0.000000000000000000001234",
		"12345678901234567890", "123456789012345678901234567890", "1234567890123456789",
		"9999999999999999999", "18446744073709551615", "18446744073709551616",
		"1.00000000000000011102230246251565404236316680908203125",
		"1.00000000000000011102230246251565404236316680908203124",
		"1.00000000000000011102230246251565404236316680908203126",
		"9007199254740993.0000000000000001", "7.2057594037927933e16", "7.205759403792794e16",
		"2.5e-1", "1.5", "2.5", "3.5", "4503599627370496.5", "4503599627370497.5",
		"0.000001", "0.0000001", "1e21", "1e20", "100000000000000000000",
		// not numbers, or not only a number
		"", "-", "+1", "01", "-01", "1.", ".5", "1e", "1e+", "1.e5", "0x10", "1_000", "Infinity",
		"NaN", "inf", "1.5e5.5", "--1", "1e5e5", "00", "0.", "-.5", " 1", "1 ",
	} {
		checkNumber(t, s)
	}
}

func TestParseNumberRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 100000
	if testing.Short() {
		n = 10000
	}
	for i := 0; i < n; i++ {
		var s string
		switch i % 6 {
		case 0: // any float64, shortest
			f := math.Float64frombits(r.Uint64())
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			s = strconv.FormatFloat(f, 'g', -1, 64)
		case 1: // typical coordinates
			s = strconv.FormatFloat((r.Float64()-0.5)*math.Pow(10, float64(r.IntN(12)-4)), 'f', -1, 64)
		case 2: // random digits and exponent
			s = strconv.FormatUint(r.Uint64()>>r.UintN(64), 10) + "e" + strconv.Itoa(r.IntN(700)-350)
		case 3: // 17 to 25 significant digits, a point somewhere
			digits := []byte(strconv.FormatUint(r.Uint64()|1<<60, 10) + strconv.FormatUint(r.Uint64N(1e6), 10))
			k := 1 + r.IntN(len(digits)-1)
			s = string(digits[:k]) + "." + string(digits[k:])
		case 4: // near halfway: the exact decimal of a midpoint between floats
			f := math.Float64frombits(r.Uint64() &^ (1 << 63))
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			next := math.Nextafter(f, math.Inf(1))
			if math.IsInf(next, 0) {
				continue
			}
			mid := new(big.Float).SetPrec(2000).Add(new(big.Float).SetFloat64(f), new(big.Float).SetFloat64(next))
			mid.Quo(mid, big.NewFloat(2))
			s = mid.Text('e', 40+r.IntN(20))
		case 5: // small decimals with a fraction, maybe negative
			s = strconv.FormatFloat(float64(r.IntN(2000000)-1000000)/math.Pow(10, float64(r.IntN(8))), 'f', -1, 64)
		}
		checkNumber(t, s)
	}
}

func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"0", "-0.0", "1e23", "12.345678901234567", "9007199254740993", "1e-400", "1.8e308", "01", "1.5e5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkNumber(t, s)
	})
}

// TestPow10Table checks every entry against the exact power of ten: the
// rounded-down 128 bits, with the exponent eiselLemire derives.
func TestPow10Table(t *testing.T) {
	for q := pow10Min; q <= pow10Max; q++ {
		e := ((q * 217706) >> 16) - 127 // as in eiselLemire
		p := pow10Table[q-pow10Min]
		m := new(big.Int).Lsh(new(big.Int).SetUint64(p[0]), 64)
		m.Or(m, new(big.Int).SetUint64(p[1]))
		// M × 2^e ≤ 10^q < (M+1) × 2^e, compared as integers.
		ten := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(q, -q))), nil)
		lo, hi := new(big.Int).Set(m), new(big.Int).Add(m, big.NewInt(1))
		x := new(big.Int).Set(ten)
		if q < 0 { // compare M × 2^e × 10^-q with 1
			lo.Mul(lo, ten)
			hi.Mul(hi, ten)
			x = big.NewInt(1)
		}
		if e >= 0 {
			lo.Lsh(lo, uint(e))
			hi.Lsh(hi, uint(e))
		} else {
			x.Lsh(x, uint(-e))
		}
		if lo.Cmp(x) > 0 || hi.Cmp(x) <= 0 {
			t.Fatalf("pow10Table[1e%d] or its exponent %d is wrong", q, e)
		}
	}
}

// TestMeshArraysAgainstEncodingJSON parses large arrays of numbers of every
// form (so that the straight paths, which need bytes ahead, see them all)
// and compares with encoding/json, which parses with strconv.
func TestMeshArraysAgainstEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	number := func() string {
		switch r.IntN(6) {
		case 0:
			return strconv.FormatFloat((r.Float64()-0.5)*math.Pow(10, float64(r.IntN(14)-4)), 'f', -1, 64)
		case 1:
			return strconv.FormatFloat(math.Float64frombits(r.Uint64()&^(0x7ff<<52)|uint64(r.IntN(2046)+1)<<52), 'g', -1, 64)
		case 2:
			return strconv.Itoa(r.IntN(100000000) - 1000)
		case 3:
			return strconv.FormatFloat(float64(r.IntN(100000))/16, 'f', -1, 64)
		case 4:
			return strconv.FormatFloat(r.Float64()*1000, 'e', r.IntN(20), 64)
		}
		return "0." + strconv.FormatUint(r.Uint64()|1<<63, 10)[:1+r.IntN(18)]
	}
	space := func() string {
		if r.IntN(10) == 0 {
			return " \n\t"[:1+r.IntN(3)]
		}
		return ""
	}
	for round := 0; round < 20; round++ {
		var vb, tb []byte
		vb = append(vb, '[')
		tb = append(tb, '[')
		for i := 0; i < 2000; i++ {
			if i > 0 {
				vb = append(vb, ","+space()...)
				tb = append(tb, ","+space()...)
			}
			vb = append(vb, '[')
			tb = append(tb, '[')
			for k := 0; k < 3; k++ {
				if k > 0 {
					vb = append(vb, space()+","+space()...)
					tb = append(tb, space()+","+space()...)
				}
				vb = append(vb, number()...)
				idx := strconv.Itoa(r.IntN(1 << (1 + r.IntN(40))))
				if r.IntN(50) == 0 {
					idx = "-" + idx
				}
				tb = append(tb, idx...)
			}
			vb = append(vb, ']')
			tb = append(tb, ']')
		}
		vb = append(vb, ']')
		tb = append(tb, ']')
		var wantV [][3]float64
		if err := json.Unmarshal(vb, &wantV); err != nil {
			t.Fatal(err)
		}
		gotV, err := ParseVertices(vb)
		if err != nil {
			t.Fatal(err)
		}
		for i := range wantV {
			for k := 0; k < 3; k++ {
				if math.Float64bits(gotV[i][k]) != math.Float64bits(wantV[i][k]) {
					t.Fatalf("vertices[%d][%d] = %v, want %v", i, k, gotV[i][k], wantV[i][k])
				}
			}
		}
		var wantT [][3]int64
		if err := json.Unmarshal(tb, &wantT); err != nil {
			t.Fatal(err)
		}
		gotT, err := ParseTriangles(tb)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(gotT, wantT) {
			t.Fatal("triangles differ")
		}
	}
}
