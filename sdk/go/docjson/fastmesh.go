package docjson

import (
	"encoding/binary"
	"slices"
)

// The fast mesh parsers below read a whole "vertices" or "triangles" array
// in one loop, with at most a call per number (parseShortNumber's, for a
// coordinate), and give up (ok false) at the first thing they do not
// expect: anything but an array of [a, b, c] numbers (integers of at most
// 18 digits for triangles), a number out of range, or invalid JSON. The
// caller then parses again with the general, slower code, which reports the
// error. They check the JSON syntax of what they accept, so that validate
// may leave the arrays they parse to them (see ParseDocument).
//
// In WebAssembly, as Go compiles it, each taken branch and each loop
// iteration costs an indirect jump, and each call much more: hence one flat
// loop, spaces skipped only when there are some, and digits read 8 at a
// time.

// isSpace marks JSON's white space.
var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// skipSpaces returns the index of the first byte at or after i that is no
// JSON white space.
func skipSpaces(d []byte, i int) int {
	for i < len(d) && isSpace[d[i]] {
		i++
	}
	return i
}

// firstTriples is the capacity a mesh array's result starts with; it
// doubles when full (growTriples). A part's small mesh does not hold much
// unused room, a large one doubles a few times only.
const firstTriples = 256

// growTriples returns s with twice its capacity (at least firstTriples).
//
// The result is not sized ahead by a count of the array's elements: that
// count is a pass over all of the array's bytes, which in WebAssembly cost
// about a fifth of the parse, while doubling copies each element about once
// more, with the bulk memory instructions, and leaves as much garbage.
// slices.Grow rather than make and copy: it does not clear the room it
// copies into first, which was a sixth of the triangles' parse in wasm.
// Asked for one more than the capacity, it doubles it; asked for exactly
// as much, append's rule would grow it by a quarter only, and more often.
func growTriples[T any](s []T) []T {
	return slices.Grow(s, max(cap(s)+1, firstTriples))
}

// fastVertices parses the array of [x, y, z] numbers at d[i] (see above),
// returning the vertices and the index just past the array. The vertices
// are appended to buf[:0] (see preparsed.scratch).
func fastVertices(d []byte, i int, buf [][3]float64) (vertices [][3]float64, end int, ok bool) {
	vertices = buf[:0]
	if i >= len(d) || d[i] != '[' {
		return nil, 0, false
	}
	i = skipSpaces(d, i+1)
	if i < len(d) && d[i] == ']' {
		return nil, i + 1, true
	}
	for {
		// Straight path: a whole element "[x,y,z]," of short numbers, with
		// no loop over the coordinates and no spaces to look for (a short
		// number and its separator take at most 25 bytes, and
		// parseShortNumber reads 32 at most). An element it does not take,
		// such as the last one, is parsed again below.
		if i+96 <= len(d) && d[i] == '[' {
			x, e0, ok0 := parseShortNumber(d, i+1)
			if ok0 && d[e0] == ',' {
				y, e1, ok1 := parseShortNumber(d, e0+1)
				if ok1 && d[e1] == ',' {
					z, e2, ok2 := parseShortNumber(d, e1+1)
					if ok2 && binary.LittleEndian.Uint16(d[e2:]) == ']'|','<<8 {
						if len(vertices) == cap(vertices) {
							vertices = growTriples(vertices)
						}
						vertices = append(vertices, [3]float64{x, y, z})
						i = e2 + 2
						continue
					}
				}
			}
		}
		if i < len(d) && isSpace[d[i]] { // after the straight path's ','
			i = skipSpaces(d, i)
		}
		if i >= len(d) || d[i] != '[' {
			return nil, 0, false
		}
		i++
		var v [3]float64
		for k := 0; k < 3; k++ {
			want := byte(',')
			if k == 2 {
				want = ']'
			}
			// Straight path: a short number and its separator.
			if i+32 <= len(d) {
				if f, end, ok := parseShortNumber(d, i); ok && d[end] == want {
					v[k] = f
					i = end + 1
					continue
				}
			}
			if i < len(d) && isSpace[d[i]] {
				i = skipSpaces(d, i)
			}
			var st numStatus
			v[k], i, st = parseNumberGeneral(d, i)
			if st != numOK {
				return nil, 0, false
			}
			if i < len(d) && isSpace[d[i]] {
				i = skipSpaces(d, i)
			}
			if i >= len(d) || d[i] != want {
				return nil, 0, false
			}
			i++
		}
		if len(vertices) == cap(vertices) {
			vertices = growTriples(vertices)
		}
		vertices = append(vertices, v)
		if i < len(d) && isSpace[d[i]] {
			i = skipSpaces(d, i)
		}
		if i >= len(d) {
			return nil, 0, false
		}
		switch d[i] {
		case ',':
			i = skipSpaces(d, i+1)
		case ']':
			return vertices, i + 1, true
		default:
			return nil, 0, false
		}
	}
}

// fastTriangles parses the array of [i, j, k] integers at d[i] (see above),
// returning the triangles and the index just past the array. The triangles
// are appended to buf[:0] (see preparsed.scratch).
func fastTriangles(d []byte, i int, buf [][3]int64) (out [][3]int64, end int, ok bool) {
	out = buf[:0]
	if i >= len(d) || d[i] != '[' {
		return nil, 0, false
	}
	i = skipSpaces(d, i+1)
	if i < len(d) && d[i] == ']' {
		return nil, i + 1, true
	}
	for {
		// Straight path: a whole element "[a,b,c]," of indices of 1 to 7
		// digits, each with its separator in one block of 8 bytes, with no
		// loop over the indices and no spaces to look for (see
		// fastVertices). An element it does not take, such as the last
		// one, is parsed below.
		if i+32 <= len(d) && d[i] == '[' {
			x := binary.LittleEndian.Uint64(d[i+1:])
			n := digitRun(x)
			if uint(n-1) < 7 && (n == 1 || x&0xff != '0') && byte(x>>(8*uint(n))) == ',' {
				j := i + n + 2
				y := binary.LittleEndian.Uint64(d[j:])
				m := digitRun(y)
				if uint(m-1) < 7 && (m == 1 || y&0xff != '0') && byte(y>>(8*uint(m))) == ',' {
					k := j + m + 1
					z := binary.LittleEndian.Uint64(d[k:])
					p := digitRun(z)
					if uint(p-1) < 7 && (p == 1 || z&0xff != '0') && byte(z>>(8*uint(p))) == ']' && d[k+p+1] == ',' {
						if len(out) == cap(out) {
							out = growTriples(out)
						}
						out = append(out, [3]int64{int64(digitsValue(x, n)), int64(digitsValue(y, m)), int64(digitsValue(z, p))})
						i = k + p + 2
						continue
					}
				}
			}
		}
		if i < len(d) && isSpace[d[i]] { // after the straight path's ','
			i = skipSpaces(d, i)
		}
		if i >= len(d) || d[i] != '[' {
			return nil, 0, false
		}
		i++
		var t [3]int64
		for k := 0; k < 3; k++ {
			want := byte(',')
			if k == 2 {
				want = ']'
			}
			// Straight path: 1 to 7 digits and the separator, all in one
			// block of 8 bytes (see parseShortNumber).
			if i+8 <= len(d) {
				x := binary.LittleEndian.Uint64(d[i:])
				n := digitRun(x)
				if uint(n-1) < 7 && (n == 1 || x&0xff != '0') && byte(x>>(8*uint(n))) == want {
					t[k] = int64(digitsValue(x, n))
					i += n + 1
					continue
				}
			}
			if i < len(d) && isSpace[d[i]] {
				i = skipSpaces(d, i)
			}
			neg := i < len(d) && d[i] == '-'
			if neg {
				i++
			}
			// An index: 1 to 8 digits read at once, at most 18 in all.
			start := i
			var v uint64
			for i+8 <= len(d) {
				x := binary.LittleEndian.Uint64(d[i:])
				n := digitRun(x)
				if n == 0 {
					break
				}
				v = v*pow10Int[n] + digitsValue(x, n)
				i += n
				if n < 8 || i-start > 16 {
					break
				}
			}
			for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
				v = v*10 + uint64(d[i]-'0')
			}
			n := i - start
			if n == 0 || n > 18 || (d[start] == '0' && n > 1) {
				return nil, 0, false // not an index we read: let the slow path say why
			}
			if i < len(d) && (d[i] == '.' || d[i] == 'e' || d[i] == 'E') {
				return nil, 0, false
			}
			t[k] = int64(v)
			if neg {
				t[k] = -t[k]
			}
			if i < len(d) && isSpace[d[i]] {
				i = skipSpaces(d, i)
			}
			if i >= len(d) || d[i] != want {
				return nil, 0, false
			}
			i++
		}
		if len(out) == cap(out) {
			out = growTriples(out)
		}
		out = append(out, t)
		if i < len(d) && isSpace[d[i]] {
			i = skipSpaces(d, i)
		}
		if i >= len(d) {
			return nil, 0, false
		}
		switch d[i] {
		case ',':
			i = skipSpaces(d, i+1)
		case ']':
			return out, i + 1, true
		default:
			return nil, 0, false
		}
	}
}
