package docjson

import (
	"encoding/binary"
	"math/bits"
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
				i = skipSpaces(d, skipNumberArrays(d, i))
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
		if v, end, ok := fastVertices(d, i); ok {
			pre.add(i, preArray{end: end, kind: 'v', vertices: v})
			return -end, true
		}
	case `"triangles"`:
		if pre.rawTriangles {
			break
		}
		if t, end, ok := fastTriangles(d, i); ok {
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
// element and per number, without validate's general machinery: that is
// what a document mostly is.
func skipNumberArrays(d []byte, i int) int {
	for i < len(d) && d[i] == '[' {
		j := i + 1
		for {
			if j+32 > len(d) {
				return i
			}
			// skipShortNumber, inlined by hand: a call costs ~10 ns in
			// WebAssembly, as much as checking a short number.
			if d[j] == '-' {
				j++
			}
			x := binary.LittleEndian.Uint64(d[j:])
			n := digitRun(x)
			if uint(n-1) >= 7 || n > 1 && x&0xff == '0' {
				return i
			}
			j += n
			c := byte(x >> (8 * uint(n)))
			if c == '.' {
				y := binary.LittleEndian.Uint64(d[j+1:])
				m := digitRun(y)
				c = byte(y >> (8 * uint(m)))
				if m == 8 {
					z := binary.LittleEndian.Uint64(d[j+9:])
					m2 := digitRun(z)
					if m2 == 8 {
						return i
					}
					m += m2
					c = byte(z >> (8 * uint(m2)))
				}
				if m == 0 {
					return i
				}
				j += 1 + m
			}
			j++ // past the separator c
			if c == ',' {
				continue
			}
			if c != ']' {
				return i
			}
			break
		}
		if d[j] != ',' {
			return i
		}
		i = j + 1
	}
	return i
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
