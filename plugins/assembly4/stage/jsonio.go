package stage

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/phasehost/phasehost/sdk/go/docjson"
)

// field is one member of a JSON object: its value is either the raw input
// bytes or, once replaced, a writer that appends the new value.
type field struct {
	key   string
	raw   json.RawMessage
	write func(buf []byte) ([]byte, error)
}

// object is a JSON object that keeps its members in input order, so a stage
// can replace a few members and pass every other one along untouched.
type object struct {
	fields []field
	pos    map[string]int // index in fields by key
}

// decodeObject splits valid JSON text holding an object into its members. A
// repeated key keeps its first position and its last value, as encoding/json
// does. Values are sub-slices of data, not copies.
func decodeObject(data []byte) (*object, error) {
	s := scanner{data: data}
	if !s.consume('{') {
		s.skip()
		return nil, fmt.Errorf("want a JSON object, got %s", docjson.Kind(s.peek()))
	}
	o := &object{}
	if s.consume('}') {
		return o, nil
	}
	for {
		s.skip()
		start := s.pos
		s.skipValue()
		var key string
		if err := json.Unmarshal(data[start:s.pos], &key); err != nil {
			return nil, fmt.Errorf("object key: %w", err)
		}
		if !s.consume(':') {
			return nil, fmt.Errorf("member %q: want ':'", key)
		}
		s.skip()
		start = s.pos
		s.skipValue()
		o.setRaw(key, data[start:s.pos:s.pos])
		if s.consume('}') {
			return o, nil
		}
		if !s.consume(',') {
			return nil, fmt.Errorf("member %q: want ',' or '}' after it", key)
		}
	}
}

// splitArray splits valid JSON text holding an array (or null) into its
// elements, sub-slices of data.
func splitArray(data []byte) ([]json.RawMessage, error) {
	s := scanner{data: data}
	if s.skip(); s.peek() == 'n' || len(data) == 0 {
		return nil, nil
	}
	if !s.consume('[') {
		return nil, fmt.Errorf("want an array, got %s", docjson.Kind(s.peek()))
	}
	var out []json.RawMessage
	if s.consume(']') {
		return out, nil
	}
	for {
		s.skip()
		start := s.pos
		s.skipValue()
		out = append(out, data[start:s.pos:s.pos])
		if s.consume(']') {
			return out, nil
		}
		if !s.consume(',') {
			return nil, fmt.Errorf("element %d: want ',' or ']' after it", len(out)-1)
		}
	}
}

func (o *object) index(key string) int {
	if i, ok := o.pos[key]; ok {
		return i
	}
	return -1
}

// add appends a new member.
func (o *object) add(f field) {
	if o.pos == nil {
		o.pos = map[string]int{}
	}
	o.pos[f.key] = len(o.fields)
	o.fields = append(o.fields, f)
}

// get returns the raw value of key, or nil when it is absent or was replaced
// by a writer.
func (o *object) get(key string) json.RawMessage {
	if i := o.index(key); i >= 0 {
		return o.fields[i].raw
	}
	return nil
}

func (o *object) setRaw(key string, raw json.RawMessage) {
	if i := o.index(key); i >= 0 {
		o.fields[i] = field{key: key, raw: raw}
		return
	}
	o.add(field{key: key, raw: raw})
}

// set replaces the value of key by what write appends, keeping the member's
// position; a new key goes last.
func (o *object) set(key string, write func(buf []byte) ([]byte, error)) {
	if i := o.index(key); i >= 0 {
		o.fields[i] = field{key: key, write: write}
		return
	}
	o.add(field{key: key, write: write})
}

// setJSON replaces the value of key by v encoded as JSON.
func (o *object) setJSON(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %q: %w", key, err)
	}
	o.setRaw(key, b)
	return nil
}

// appendTo appends the object as JSON to buf.
func (o *object) appendTo(buf []byte) ([]byte, error) {
	buf = append(buf, '{')
	for i, f := range o.fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		k, err := json.Marshal(f.key)
		if err != nil {
			return nil, err
		}
		buf = append(buf, k...)
		buf = append(buf, ':')
		if f.write != nil {
			if buf, err = f.write(buf); err != nil {
				return nil, fmt.Errorf("%q: %w", f.key, err)
			}
		} else {
			buf = append(buf, f.raw...)
		}
	}
	return append(buf, '}'), nil
}

// parseVertices reads a JSON array of [x, y, z] arrays (already validated as
// JSON by the decoder) into packed x,y,z triples. It is a hand-written scanner
// because vertex arrays are most of a large document and encoding/json's
// reflection is several times slower on them.
func parseVertices(data []byte) ([]float64, error) {
	// docjson's parser reads a well-formed array in one loop, with its own
	// number parser (strconv.ParseFloat is slow in WebAssembly); the loop
	// below runs only to name what is wrong with an array it refused.
	if v, ok := docjson.ParseFlatVertices(data); ok {
		return v, nil
	}
	s := scanner{data: data}
	if !s.consume('[') {
		return nil, errors.New("vertices: want an array of [x, y, z]")
	}
	out := make([]float64, 0, 3*(len(data)/24+1))
	if s.consume(']') {
		return out, nil
	}
	for n := 0; ; n++ {
		if !s.consume('[') {
			return nil, fmt.Errorf("vertex %d: want [x, y, z]", n)
		}
		for c := 0; c < 3; c++ {
			if c > 0 && !s.consume(',') {
				return nil, fmt.Errorf("vertex %d: has %d coordinates, want 3", n, c)
			}
			v, err := s.number()
			if err != nil {
				return nil, fmt.Errorf("vertex %d: coordinate %d: %w", n, c, err)
			}
			out = append(out, v)
		}
		if !s.consume(']') {
			return nil, fmt.Errorf("vertex %d: has more than 3 coordinates, want 3", n)
		}
		if s.consume(']') {
			return out, nil
		}
		if !s.consume(',') {
			return nil, fmt.Errorf("vertex %d: want ',' or ']' after it", n)
		}
	}
}

// scanner walks JSON text that is known to be valid (see docjson.Check).
type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) skip() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// skipValue moves past the value at s.pos, which must be valid JSON (see
// docjson.ValueEnd: it only tracks strings and nesting).
func (s *scanner) skipValue() {
	s.pos = docjson.ValueEnd(s.data, s.pos)
}

func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// consume skips white space and then c, reporting whether c was there.
func (s *scanner) consume(c byte) bool {
	s.skip()
	if s.peek() == c {
		s.pos++
		return true
	}
	return false
}

func (s *scanner) number() (float64, error) {
	s.skip()
	start := s.pos
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			s.pos++
			continue
		}
		break
	}
	if start == s.pos {
		return 0, errors.New("not a number")
	}
	v, err := strconv.ParseFloat(string(s.data[start:s.pos]), 64)
	if err != nil {
		return 0, fmt.Errorf("number %s out of range", s.data[start:s.pos])
	}
	return v, nil
}

// appendVertices appends packed x,y,z triples as a JSON array of [x, y, z].
func appendVertices(buf []byte, v []float64) ([]byte, error) {
	buf = append(buf, '[')
	for i := 0; i+2 < len(v); i += 3 {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '[')
		for c := 0; c < 3; c++ {
			if c > 0 {
				buf = append(buf, ',')
			}
			// Most coordinates take AppendFloatFixed straight (one call
			// less per number, which counts in WebAssembly); appendFloat
			// decides for the others.
			if a := math.Abs(v[i+c]); a >= 1e-6 && a < 1e21 {
				buf = docjson.AppendFloatFixed(buf, v[i+c])
				continue
			}
			var err error
			if buf, err = appendFloat(buf, v[i+c]); err != nil {
				return nil, fmt.Errorf("vertex %d: %w", i/3, err)
			}
		}
		buf = append(buf, ']')
	}
	return append(buf, ']'), nil
}

// appendFloat appends v formatted as encoding/json does (shortest
// representation, exponent only for very small or large magnitudes).
func appendFloat(buf []byte, v float64) ([]byte, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("coordinate %v is not finite after the transform", v)
	}
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.AppendFloat(buf, v, 'e', -1, 64), nil
	}
	// The same text as strconv.AppendFloat(buf, v, 'f', -1, 64), cheaper in
	// WebAssembly.
	return docjson.AppendFloatFixed(buf, v), nil
}
