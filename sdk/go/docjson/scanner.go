package docjson

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// Scanner walks JSON text that Check accepted, one value at a time. Its
// methods that parse a value (Object, Array, Mesh, …) start at the next
// non-space byte and leave the scanner just past that value.
type Scanner struct {
	data []byte
	pos  int
	pre  *preparsed // mesh arrays parsed while checking data, or nil
}

// NewScanner returns a Scanner at the start of data.
func NewScanner(data []byte) *Scanner { return &Scanner{data: data} }

func (s *Scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// Peek skips spaces and returns the next byte, or 0 at the end; Kind names
// the value it starts.
func (s *Scanner) Peek() byte {
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// consume skips c (after spaces) and reports whether it was there.
func (s *Scanner) consume(c byte) bool {
	if s.Peek() == c {
		s.pos++
		return true
	}
	return false
}

// Value skips the next value and returns its text, a sub-slice of the input
// without the surrounding spaces.
func (s *Scanner) Value() []byte {
	s.skipSpace()
	start := s.pos
	s.pos = ValueEnd(s.data, start)
	return s.data[start:s.pos:s.pos]
}

// ValueEnd returns the index just past the value that starts at data[i], in
// JSON text that Check accepted; i itself when no value starts there (a ','
// or a closing bracket, or the end).
//
// Inside a container only strings and brackets matter. They are looked for
// 8 bytes at a time: a block of 8 bytes without a quote, and with fewer
// closing brackets than the open containers (so the value cannot end in it),
// only changes the depth by its count of opening brackets minus closing
// ones. Most blocks of a mesh are such, so the loop takes no branch per
// bracket, which in WebAssembly would cost an indirect jump each.
func ValueEnd(data []byte, i int) int {
	d := data
	if i >= len(d) {
		return i
	}
	switch d[i] {
	case '"':
		return skipString(d, i)
	case '{', '[':
		return skipContainer(d, i)
	}
	// A number or a literal.
	for i < len(d) && !scalarEnd[d[i]] {
		i++
	}
	return i
}

// skipContainer returns the index just past the array or object at d[i]
// (see ValueEnd).
func skipContainer(d []byte, i int) int {
	depth := 0
	for i < len(d) {
		for depth > 0 && i+8 <= len(d) {
			x := binary.LittleEndian.Uint64(d[i:])
			y := x | 0x20*ones8 // '[' → '{', ']' → '}'
			quotes := zeroBytesExact(x ^ '"'*ones8)
			open := zeroBytesExact(y ^ '{'*ones8)
			closes := zeroBytesExact(y ^ '}'*ones8)
			nc := bits.OnesCount64(closes)
			if quotes != 0 || nc >= depth {
				// Go to the first of them, one byte at a time below.
				i += bits.TrailingZeros64(quotes|open|closes) >> 3
				break
			}
			no := bits.OnesCount64(open)
			depth += no - nc
			i += 8
		}
		if i >= len(d) {
			break
		}
		switch d[i] {
		case '"':
			i = skipString(d, i)
		case '{', '[':
			depth++
			i++
		case '}', ']':
			depth--
			i++
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return i
}

// zeroBytesExact returns a uint64 with bit 7 set in exactly the bytes of x
// that are 0 (adding 0x7f to the low 7 bits of a byte sets its bit 7 unless
// they are all 0, and cannot carry into the next byte).
func zeroBytesExact(x uint64) uint64 {
	const low7 = 0x7f * ones8
	return ^((x&low7 + low7) | x) & high8
}

// scalarEnd marks the bytes that may follow a number or a literal.
var scalarEnd = [256]bool{',': true, ']': true, '}': true, ' ': true, '\t': true, '\n': true, '\r': true}

// zeroBytes returns a uint64 with bit 7 set in the bytes of x that are 0;
// only its lowest set bit is exact (a borrow spreads past a zero byte).
func zeroBytes(x uint64) uint64 {
	return (x - ones8) &^ x & high8
}

// skipString returns the index just past the string starting at d[i] == '"'.
func skipString(d []byte, i int) int {
	for i++; i < len(d); i++ {
		for i+8 <= len(d) {
			x := binary.LittleEndian.Uint64(d[i:])
			m := zeroBytes(x^'"'*ones8) | zeroBytes(x^'\\'*ones8)
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(d) {
			break
		}
		switch d[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// Object parses the next value, which must be an object, into its members
// (see ParseObject). visit, when not nil, is offered each member's value
// first, with the scanner at the value: it may decode the value in place,
// leaving the scanner just past it, and report true; otherwise the value is
// skipped. Either way the member's text is kept. Decoding in place spares a
// separate pass over large values such as meshes. An error from visit stops
// the parse and is returned as is.
func (s *Scanner) Object(visit func(key string, s *Scanner) (bool, error)) (*Object, error) {
	if c := s.Peek(); c != '{' {
		return nil, fmt.Errorf("want an object, got %s", Kind(c))
	}
	s.pos++
	o := &Object{index: map[string]int{}}
	if s.consume('}') {
		return o, nil
	}
	for {
		key, err := decodeKey(s.Value())
		if err != nil {
			return nil, err
		}
		s.consume(':')
		s.skipSpace()
		start := s.pos
		handled := false
		if visit != nil {
			if handled, err = visit(key, s); err != nil {
				return nil, err
			}
		}
		if !handled {
			s.Value()
		}
		o.Set(key, s.data[start:s.pos:s.pos])
		if !s.consume(',') {
			s.consume('}')
			return o, nil
		}
	}
}

// Array parses the next value, which must be an array, calling elem for each
// element with the scanner at it; elem must consume exactly that element
// (with Value, Object, …). It returns the number of elements. An error from
// elem stops the parse and is returned as is.
func (s *Scanner) Array(elem func(i int, s *Scanner) error) (int, error) {
	if c := s.Peek(); c != '[' {
		return 0, fmt.Errorf("want an array, got %s", Kind(c))
	}
	s.pos++
	if s.consume(']') {
		return 0, nil
	}
	for i := 0; ; i++ {
		s.skipSpace()
		if err := elem(i, s); err != nil {
			return 0, err
		}
		if !s.consume(',') {
			s.consume(']')
			return i + 1, nil
		}
	}
}

// ObjectWithMesh parses the next value, which must be an object, decoding its
// member key in place with Mesh when that member holds an object. A mesh that
// does not parse does not stop the object's parse: its error is returned as
// meshErr, for the caller to report with members that may come later (such
// as a part's name). err is the object's own error. Whatever the mesh, the
// member's text is kept in obj.
func (s *Scanner) ObjectWithMesh(key string) (obj *Object, m Mesh, meshErr, err error) {
	obj, err = s.Object(func(k string, s *Scanner) (bool, error) {
		if k != key || s.Peek() != '{' {
			return false, nil
		}
		start := s.pos
		if m, meshErr = s.Mesh(); meshErr != nil {
			s.skipped(start)
		}
		return true, nil
	})
	return obj, m, meshErr, err
}

// skipped restores the scanner to start and skips the value there: after a
// visitor failed part way through a value it wants to report later.
func (s *Scanner) skipped(start int) {
	s.pos = start
	s.Value()
}

// decodeKey decodes a JSON string, quickly when it has no escapes.
func decodeKey(raw []byte) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' {
		inner := raw[1 : len(raw)-1]
		plain := utf8.Valid(inner)
		for _, c := range inner {
			if c == '\\' {
				plain = false
				break
			}
		}
		if plain {
			return string(inner), nil
		}
	}
	var k string
	if err := json.Unmarshal(raw, &k); err != nil {
		return "", fmt.Errorf("object key: %w", err)
	}
	return k, nil
}

// ParseDocument checks data (see Check) and splits it, which must hold an
// object, into its top-level members, decoding each element of the member
// key, when that holds an array, in place with elem (called with the scanner
// at the element, which elem must consume, and its index). It returns the
// top-level object and the decoded elements: elems is empty when key is
// absent or not an array, which the caller checks with top.Get.
//
// The arrays of "vertices" and "triangles" members are parsed while data is
// checked, in the same pass, and the scanner's Mesh, Vertices and Triangles
// return them without reading them again (ParseDocumentWith can leave the
// triangles as text).
//
// Errors about data itself (not JSON, not an object) wrap malformed and read
// "<malformed>: at byte 12: …" or "<malformed>: top level: want an object, got
// an array"; an error from elem stops the parse and is returned as is.
func ParseDocument[E any](data []byte, key string, malformed error, elem func(i int, s *Scanner) (E, error)) (top *Object, elems []E, err error) {
	return ParseDocumentWith(data, key, malformed, ParseOptions{}, elem)
}

// ParseOptions adjusts what ParseDocumentWith parses while it checks data.
type ParseOptions struct {
	// RawTriangles leaves the arrays of "triangles" members as text: they
	// are checked as any other value (with the same answer), not parsed,
	// for a caller that copies a mesh's triangles through without reading
	// them (Object.AppendTo); that spares their parse and the memory of
	// their indices (24 bytes a triangle). Scanner.Mesh and Triangles still
	// parse them when asked, reading them again.
	RawTriangles bool
}

// ParseDocumentWith is ParseDocument with options.
func ParseDocumentWith[E any](data []byte, key string, malformed error, opts ParseOptions, elem func(i int, s *Scanner) (E, error)) (top *Object, elems []E, err error) {
	// Check data, parsing its meshes' arrays on the way (see validate).
	pre := &preparsed{rawTriangles: opts.RawTriangles}
	if !validate(data, pre) {
		return nil, nil, fmt.Errorf("%w: %w", malformed, invalid(data))
	}
	s := &Scanner{data: data, pre: pre}
	if c := s.Peek(); c != '{' {
		return nil, nil, fmt.Errorf("%w: top level: want an object, got %s", malformed, Kind(c))
	}
	top, err = s.Object(func(k string, s *Scanner) (bool, error) {
		if k != key || s.Peek() != '[' {
			return false, nil
		}
		elems = elems[:0] // a repeated key: the last one counts
		_, err := s.Array(func(i int, s *Scanner) error {
			e, err := elem(i, s)
			elems = append(elems, e)
			return err
		})
		return true, err
	})
	if err != nil {
		return nil, nil, err
	}
	return top, elems, nil
}
