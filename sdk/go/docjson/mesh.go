package docjson

import (
	"errors"
	"fmt"
	"strconv"
	"unsafe"
)

// Mesh is a triangle mesh as parsed, before any check of its indices.
type Mesh struct {
	// Vertices are the mesh's "vertices": [x, y, z] each; never nil.
	Vertices [][3]float64
	// Triangles are the mesh's "triangles": three indices into Vertices each,
	// not checked; never nil.
	Triangles [][3]int64
}

// Mesh parses the next value, an object with "vertices" (an array of
// [x, y, z] numbers) and "triangles" (an array of [i, j, k] integers); other
// members are skipped. Errors name the element at fault, e.g.
// "vertices[3][1]: want a number, got null".
func (s *Scanner) Mesh() (Mesh, error) {
	var m Mesh
	obj, err := s.Object(func(key string, s *Scanner) (bool, error) {
		if s.Peek() == 'n' {
			return false, nil
		}
		var err error
		switch key {
		case "vertices":
			m.Vertices, err = s.Vertices()
			return true, err
		case "triangles":
			m.Triangles, err = s.Triangles()
			return true, err
		}
		return false, nil
	})
	if err != nil {
		return Mesh{}, err
	}
	if _, ok := obj.Get("vertices"); !ok {
		return Mesh{}, errors.New(`missing "vertices"`)
	}
	if _, ok := obj.Get("triangles"); !ok {
		return Mesh{}, errors.New(`missing "triangles"`)
	}
	if m.Vertices == nil {
		m.Vertices = [][3]float64{}
	}
	if m.Triangles == nil {
		m.Triangles = [][3]int64{}
	}
	return m, nil
}

// Vertices parses the next value, a mesh's "vertices": an array of [x, y, z]
// finite numbers.
func (s *Scanner) Vertices() ([][3]float64, error) {
	s.skipSpace()
	if a, ok := s.pre.take(s.pos, 'v'); ok {
		s.pos = a.end
		return a.vertices, nil
	}
	if out, end, ok := fastVertices(s.data, s.pos, nil); ok {
		s.pos = end
		return out, nil
	}
	var out [][3]float64
	_, err := s.triples("vertices", "coordinates", func(i, k int, tok []byte) error {
		if k == 0 {
			out = append(out, [3]float64{})
		}
		v, err := parseFloat(tok)
		out[i][k] = v
		return err
	})
	return out, err
}

// Triangles parses the next value, a mesh's "triangles": an array of
// [i, j, k] integers (any int64; their range is the caller's to check).
func (s *Scanner) Triangles() ([][3]int64, error) {
	s.skipSpace()
	if a, ok := s.pre.take(s.pos, 't'); ok {
		s.pos = a.end
		return a.triangles, nil
	}
	if out, end, ok := fastTriangles(s.data, s.pos, nil); ok {
		s.pos = end
		return out, nil
	}
	var out [][3]int64
	_, err := s.triples("triangles", "vertex indices", func(i, k int, tok []byte) error {
		if k == 0 {
			out = append(out, [3]int64{})
		}
		v, err := parseIndex(tok)
		out[i][k] = v
		return err
	})
	return out, err
}

// ParseVertices parses JSON text holding a mesh's "vertices"; see
// Scanner.Vertices.
func ParseVertices(data []byte) ([][3]float64, error) {
	return NewScanner(data).Vertices()
}

// ParseTriangles parses JSON text holding a mesh's "triangles"; see
// Scanner.Triangles.
func ParseTriangles(data []byte) ([][3]int64, error) {
	return NewScanner(data).Triangles()
}

// triples parses, at the scanner, an array of 3-element arrays of numbers,
// calling put for each number (i the triple, k 0..2, tok its text). what and
// noun name the elements in errors, e.g. "vertices", "coordinates".
func (s *Scanner) triples(what, noun string, put func(i, k int, tok []byte) error) (int, error) {
	if c := s.Peek(); c != '[' {
		return 0, fmt.Errorf("%s: want an array, got %s", what, Kind(c))
	}
	s.pos++
	if s.consume(']') {
		return 0, nil
	}
	for i := 0; ; i++ {
		if c := s.Peek(); c != '[' {
			return 0, fmt.Errorf("%s[%d]: want an array of 3 %s, got %s", what, i, noun, Kind(c))
		}
		s.pos++
		k := 0
		if !s.consume(']') {
			for {
				if c := s.Peek(); c != '-' && (c < '0' || c > '9') {
					return 0, fmt.Errorf("%s[%d][%d]: want a number, got %s", what, i, k, Kind(c))
				}
				tok := s.Value()
				if k < 3 {
					if err := put(i, k, tok); err != nil {
						return 0, fmt.Errorf("%s[%d][%d]: %w", what, i, k, err)
					}
				}
				k++
				if !s.consume(',') {
					s.consume(']')
					break
				}
			}
		}
		if k != 3 {
			return 0, fmt.Errorf("%s[%d]: want 3 %s, got %d", what, i, noun, k)
		}
		if !s.consume(',') {
			s.consume(']')
			return i + 1, nil
		}
	}
}

// bytesString views b as a string without copying; the result must not
// outlive b or be kept.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// parseFloat parses a JSON number token.
func parseFloat(tok []byte) (float64, error) {
	v, end, st := parseNumber(tok, 0)
	if st != numOK || end != len(tok) {
		return 0, fmt.Errorf("number %s is out of range", tok)
	}
	return v, nil
}

// parseIndex parses a JSON number token that must be an integer.
func parseIndex(tok []byte) (int64, error) {
	// Fast path: up to 18 digits, optionally negative, cannot overflow.
	digits := tok
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if n := len(digits); n > 0 && n <= 18 {
		var v int64
		for _, c := range digits {
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("want an integer vertex index, got %s", tok)
			}
			v = v*10 + int64(c-'0')
		}
		if tok[0] == '-' {
			v = -v
		}
		return v, nil
	}
	v, err := strconv.ParseInt(bytesString(tok), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want an integer vertex index, got %s", tok)
	}
	return v, nil
}
