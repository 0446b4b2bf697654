package docjson

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"runtime"
	"slices"
	"sync/atomic"
)

// validate reports whether data is exactly one JSON value with optional
// surrounding spaces (see Valid). When pre is not nil, arrays that are the
// value of a "vertices" or "triangles" member are parsed as they are checked
// (by fastVertices and fastTriangles) and kept in pre, so that the mesh
// scanner that comes next does not read them again; an array those parsers
// do not take is checked as any other value.
//
// The check is one loop over the input with an explicit stack of the open
// arrays and objects, rather than a function per kind of value calling
// itself: in WebAssembly a call costs much more than natively, and a
// document is mostly small arrays of numbers. For the same reason numbers
// and strings are read 8 bytes at a time where possible, and arrays of
// arrays of numbers have a loop of their own (skipNumberArrays).
func validate(data []byte, pre *preparsed) bool {
	return validateWith(data, pre, nil)
}

// validateWith is validate, taking the arrays of number elements memo has
// checked from memo (see Valid); memo may be nil.
func validateWith(data []byte, pre *preparsed, memo *rowMemo) bool {
	d := data
	var stack []byte // the open containers, '[' or '{'
	i := skipSpaces(d, 0)
	for {
		// A value starts at d[i].
		if i >= len(d) {
			return false
		}
		switch c := d[i]; {
		case c == '[' || c == '{':
			if len(stack) >= maxDepth {
				return false
			}
			i = skipSpaces(d, i+1)
			if i < len(d) && d[i] == c+2 { // "[]" or "{}": ']' is '['+2, '}' is '{'+2
				i++
				break
			}
			stack = append(stack, c)
			if c == '[' && i < len(d) && d[i] == '[' && len(stack) < maxDepth {
				i = skipSpaces(d, memo.skip(d, i))
			}
			if c == '{' {
				var ok bool
				if i, ok = validateMember(d, i, len(stack), pre); !ok {
					return false
				}
				if i < 0 { // the member's value is already checked
					i = -i
					break
				}
			}
			continue // the first element or member value
		case c == '"':
			if i = skipStringChecked(d, i); i < 0 {
				return false
			}
		case c == '-' || c-'0' < 10:
			// A run of numbers separated by bare commas in an array, as in
			// a mesh, in one loop.
			for {
				j := -1
				if i+32 <= len(d) {
					j = skipShortNumber(d, i)
				}
				if j < 0 {
					if j = skipNumber(d, i); j < 0 {
						return false
					}
				}
				i = j
				if i+1 < len(d) && d[i] == ',' && (d[i+1] == '-' || d[i+1]-'0' < 10) &&
					len(stack) > 0 && stack[len(stack)-1] == '[' {
					i++
					continue
				}
				break
			}
		case c == 't':
			if !hasLiteral(d, i, "true") {
				return false
			}
			i += 4
		case c == 'f':
			if !hasLiteral(d, i, "false") {
				return false
			}
			i += 5
		case c == 'n':
			if !hasLiteral(d, i, "null") {
				return false
			}
			i += 4
		default:
			return false
		}
		// After a value: close the containers it ends, up to a ',' that
		// announces the next value.
		for {
			if i < len(d) && isSpace[d[i]] {
				i = skipSpaces(d, i)
			}
			if len(stack) == 0 {
				return i == len(d)
			}
			if i >= len(d) {
				return false
			}
			top := stack[len(stack)-1]
			if d[i] == ',' {
				i = skipSpaces(d, i+1)
				if top == '[' && i < len(d) && d[i] == '[' && len(stack) < maxDepth {
					// After an element that skipNumberArrays left, such
					// as one with a long number: the next ones may be its.
					i = skipSpaces(d, memo.skip(d, i))
				}
				if top == '{' {
					var ok bool
					if i, ok = validateMember(d, i, len(stack), pre); !ok {
						return false
					}
					if i < 0 {
						i = -i
						continue
					}
				}
				break
			}
			if d[i] != top+2 {
				return false
			}
			stack = stack[:len(stack)-1]
			i++
		}
	}
}

// validateMember checks an object member's key and colon at d[i], returning
// the index of its value. depth is the number of open containers. When pre
// holds the member's value, parsed as it was checked, the index returned is
// minus the index just past the value.
func validateMember(d []byte, i, depth int, pre *preparsed) (int, bool) {
	if i >= len(d) || d[i] != '"' {
		return 0, false
	}
	k := i
	if i = skipStringChecked(d, i); i < 0 {
		return 0, false
	}
	key := d[k:i]
	i = skipSpaces(d, i)
	if i >= len(d) || d[i] != ':' {
		return 0, false
	}
	i = skipSpaces(d, i+1)
	// The parsed arrays are two levels deep.
	if pre == nil || i >= len(d) || d[i] != '[' || depth+2 > maxDepth {
		return i, true
	}
	switch string(key) {
	case `"vertices"`:
		if v, end, ok := fastVertices(d, i, pre.vertexScratch); ok {
			if len(v) > 0 { // the parse's room kept for the next array
				pre.vertexScratch, v = v[:0], slices.Clone(v)
			}
			pre.add(i, preArray{end: end, kind: 'v', vertices: v})
			return -end, true
		}
	case `"triangles"`:
		if pre.rawTriangles {
			break
		}
		if t, end, ok := fastTriangles(d, i, pre.triangleScratch); ok {
			if len(t) > 0 {
				pre.triangleScratch, t = t[:0], slices.Clone(t)
			}
			pre.add(i, preArray{end: end, kind: 't', triangles: t})
			return -end, true
		}
	}
	return i, true
}

// hasLiteral reports whether d[i:] starts with lit.
func hasLiteral(d []byte, i int, lit string) bool {
	return len(d)-i >= len(lit) && string(d[i:i+len(lit)]) == lit
}

// skipDigits returns the index of the first byte at or after i that is no
// ASCII digit, looking at 8 bytes at a time while it can.
func skipDigits(d []byte, i int) int {
	for i+8 <= len(d) {
		n := digitRun(binary.LittleEndian.Uint64(d[i:]))
		i += n
		if n < 8 {
			return i
		}
	}
	for i < len(d) && d[i]-'0' < 10 {
		i++
	}
	return i
}

// skipNumber checks the number at d[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, returning the index just
// past it, or -1.
func skipNumber(d []byte, i int) int {
	if d[i] == '-' {
		i++
	}
	if i < len(d) && d[i] == '0' {
		i++
	} else {
		j := skipDigits(d, i)
		if j == i {
			return -1
		}
		i = j
	}
	if i < len(d) && d[i] == '.' {
		j := skipDigits(d, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(d) && d[i]|0x20 == 'e' {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := skipDigits(d, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// skipNumberArrays checks, at d[i] in an array, the elements that are
// arrays of numbers written without spaces and followed by a comma, as a
// mesh's vertices and triangles are, and returns the index of the first
// element it did not take (at the latest the last one, followed by ']'), or
// of the spaces before it, for validate to go on with. It is one loop per
// element and per number (checkRow), without validate's general machinery:
// that is what a document mostly is. Natively it first checks two runs of
// elements at once (skipNumberArraysPaired).
func skipNumberArrays(d []byte, i int) int {
	if runtime.GOARCH != "wasm" {
		i = skipNumberArraysPaired(d, i)
	}
	for i < len(d) && d[i] == '[' {
		j := checkRow(d, i)
		if j < 0 {
			return i
		}
		i = j
	}
	return i
}

// skipNumberArraysPaired is skipNumberArrays for the bulk of a long array,
// natively, where the host checks every stage's output: the check of a
// number waits for the one before it (where a number starts depends on where
// the previous one ends), so the processor mostly waits for loads. Here two
// runs of elements are checked at once, a number from one and then a number
// from the other, which the processor overlaps: the second run starts at a
// "],[" found further on, and counts only if the first run ends exactly
// there, which it does when all it read were such elements (they hold no ']'
// before their end). With checkRow's reads, this took the host's check of a
// reference plugin's output (12 MB) from 10.3 to 7.1 ms. In WebAssembly the
// jumps cost more than the waits, and one run is checked.
//
// It returns the index of an element (or of the end of d's array) up to
// which the elements are checked; skipNumberArrays goes on from there.
func skipNumberArraysPaired(d []byte, i int) int {
	const window = 4096 // bytes checked per pair of runs, about
	for i+window+64 <= len(d) && d[i] == '[' {
		// The second run starts at the element after the first "],[" in
		// the second half of the window.
		q := i + window/2
		k := bytes.Index(d[q:q+64], rowBoundary)
		if k < 0 {
			return i
		}
		q += k + 2
		end := i + window
		// a and b are the next numbers of each run, ra and rb the '[' of
		// the elements they are in.
		a, ra, b, rb := i+1, i, q+1, q
		for ra < q && rb < end {
			na, nra := checkRowNumber(d, a)
			nb, nrb := checkRowNumber(d, b)
			if na < 0 || nb < 0 {
				break
			}
			a, b = na, nb
			if nra {
				ra = na - 1
			}
			if nrb {
				rb = nb - 1
			}
		}
		for ra < q { // the first run, alone when the second stopped
			na, nra := checkRowNumber(d, a)
			if na < 0 {
				return ra
			}
			a = na
			if nra {
				ra = na - 1
			}
		}
		if ra != q { // cannot be (see above), but the verdict rests on it
			return ra
		}
		i = rb // checked up to there: the second run's next element
	}
	return i
}

var rowBoundary = []byte("],[")

// rowWindow is how many bytes checkRow reads from an element's start, and
// numberWindow how many checkRowNumber reads from a number's start: enough
// for the numbers they take. Reading a fixed window of d, as an array, lets
// the compiler drop the bounds checks of the reads within it.
const (
	rowWindow    = 96
	numberWindow = 40
)

// checkRow checks the element of skipNumberArrays at d[i] == '[', and the
// comma after it, returning the index after the comma, or -1 when it does
// not take them: a number with an exponent or more than 7 integer or 23
// fraction digits, spaces, anything but numbers, an element over about 60
// bytes, or invalid JSON, all left to validate.
func checkRow(d []byte, i int) int {
	if i+rowWindow > len(d) {
		return -1
	}
	w := (*[rowWindow]byte)(d[i : i+rowWindow])
	k := uint(1)
	for {
		if k > 56 { // past what a number and its separator may need
			return -1
		}
		k += uint(b2i(w[k] == '-'))
		x := binary.LittleEndian.Uint64(w[k:])
		n := uint(digitRun(x))
		if n-1 >= 7 || n > 1 && x&0xff == '0' { // 1 to 7 digits, no leading 0
			return -1
		}
		k += n
		c := w[k]
		if c == '.' {
			m := uint(digitRun(binary.LittleEndian.Uint64(w[k+1:])))
			if m == 8 {
				m += uint(digitRun(binary.LittleEndian.Uint64(w[k+9:])))
				if m == 16 {
					m += uint(digitRun(binary.LittleEndian.Uint64(w[k+17:])))
					if m == 24 {
						return -1
					}
				}
			}
			if m == 0 {
				return -1
			}
			k += 1 + m
			c = w[k]
		}
		k++ // past the separator c
		if c == ',' {
			continue
		}
		if c != ']' || w[k] != ',' {
			return -1
		}
		return i + int(k) + 1
	}
}

// checkRowNumber checks, as checkRow does, the number at d[p] in an element
// and the separator after it, returning the index of the next number: after
// a ',', or after "],[" (next is then true: the number is the first of the
// next element); or -1 when it does not take them.
func checkRowNumber(d []byte, p int) (int, bool) {
	if p+numberWindow > len(d) {
		return -1, false
	}
	w := (*[numberWindow]byte)(d[p : p+numberWindow])
	k := uint(b2i(w[0] == '-'))
	x := binary.LittleEndian.Uint64(w[k:])
	n := uint(digitRun(x))
	if n-1 >= 7 || n > 1 && x&0xff == '0' {
		return -1, false
	}
	k += n
	c := w[k]
	if c == '.' {
		m := uint(digitRun(binary.LittleEndian.Uint64(w[k+1:])))
		if m == 8 {
			m += uint(digitRun(binary.LittleEndian.Uint64(w[k+9:])))
			if m == 16 {
				m += uint(digitRun(binary.LittleEndian.Uint64(w[k+17:])))
				if m == 24 {
					return -1, false
				}
			}
		}
		if m == 0 {
			return -1, false
		}
		k += 1 + m
		c = w[k]
	}
	if c == ',' {
		return p + int(k) + 1, false
	}
	if c == ']' && w[k+1] == ',' && w[k+2] == '[' {
		return p + int(k) + 3, true
	}
	return -1, false
}

// b2i returns 1 for true, 0 for false, without a branch (the compiler makes
// it a flag set): a sign that is there half of the time would be a
// mispredicted branch half of the time.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// skipShortNumber is skipNumber's straight path for the numbers of a mesh
// (see parseShortNumber), with 32 bytes to read at d[i]: it returns the
// index just past -?[0-9]{1,7}(\.[0-9]{1,15})? when that is the whole
// number, else -1 for skipNumber to decide.
func skipShortNumber(d []byte, i int) int {
	if d[i] == '-' {
		i++
	}
	x := binary.LittleEndian.Uint64(d[i:])
	n := digitRun(x)
	if uint(n-1) >= 7 || n > 1 && x&0xff == '0' {
		return -1
	}
	i += n
	c := byte(x >> (8 * uint(n)))
	if c == '.' {
		y := binary.LittleEndian.Uint64(d[i+1:])
		m := digitRun(y)
		switch m {
		case 0:
			return -1
		case 8:
			z := binary.LittleEndian.Uint64(d[i+9:])
			m2 := digitRun(z)
			if m2 == 8 {
				return -1
			}
			m += m2
			c = byte(z >> (8 * uint(m2)))
		default:
			c = byte(y >> (8 * uint(m)))
		}
		i += 1 + m
	}
	if c|0x20 == 'e' {
		return -1
	}
	return i
}

// stringStop returns a uint64 with bit 7 set in the bytes of x that end a
// plain run in a JSON string: '"', '\\' and control characters (< 0x20). Only
// its lowest set bit is exact (a borrow spreads to the bytes after a match).
func stringStop(x uint64) uint64 {
	return zeroBytes(x^'"'*ones8) | zeroBytes(x^'\\'*ones8) | (x-0x20*ones8)&^x&high8
}

// skipStringChecked checks the string at d[i] == '"', returning the index
// just past it, or -1.
func skipStringChecked(d []byte, i int) int {
	i++
	for {
		for i+8 <= len(d) {
			m := stringStop(binary.LittleEndian.Uint64(d[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(d) {
			return -1
		}
		switch c := d[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(d) {
				return -1
			}
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(d) {
					return -1
				}
				for _, h := range d[i+1 : i+5] {
					if !isHex(h) {
						return -1
					}
				}
				i += 5
			default:
				return -1
			}
		default:
			i++
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// parallelMin is the size from which Valid checks the second half's arrays
// of number elements on another goroutine (tests lower it).
var parallelMin = 1 << 20

// rowMemo holds what skipNumberArrays returns at some indexes of a
// document, computed ahead by another goroutine: for each "[[" from index
// from on, skipNumberArrays at its second '['. That is where validate calls
// it at the start of an array of arrays; when it does so at one of these
// indexes, it takes the result from here. Which "[[" are really such starts
// (and not, say, inside strings) the other goroutine cannot know, and need
// not: a result is used only where validate itself would have computed it,
// and skipNumberArrays depends on nothing but the bytes and the index.
type rowMemo struct {
	from         int
	starts, ends []int // by increasing start
	k            int   // the first start not behind validate
	ready        chan struct{}
	waited       bool
	stop         atomic.Bool // validate is done: fill may stop
}

// fill computes the results from m.from to the end of d, then closes
// m.ready.
func (m *rowMemo) fill(d []byte) {
	defer close(m.ready)
	pos := m.from
	for !m.stop.Load() {
		k := bytes.Index(d[pos:], arrayOfArrays)
		if k < 0 {
			return
		}
		s := pos + k + 1
		if e := skipNumberArrays(d, s); e > s {
			m.starts, m.ends = append(m.starts, s), append(m.ends, e)
			pos = e
		} else {
			pos = s
		}
	}
}

var arrayOfArrays = []byte("[[")

// skip is skipNumberArrays(d, i), from m when it has it. A nil m has
// nothing.
func (m *rowMemo) skip(d []byte, i int) int {
	if m == nil || i < m.from {
		return skipNumberArrays(d, i)
	}
	if !m.waited {
		<-m.ready
		m.waited = true
	}
	for m.k < len(m.starts) && m.starts[m.k] < i {
		m.k++
	}
	if m.k < len(m.starts) && m.starts[m.k] == i {
		return m.ends[m.k]
	}
	return skipNumberArrays(d, i)
}
