package stage

// A small JSON layer for passing large documents along. encoding/json would
// scan and copy every mesh several times (once per level of nesting, then
// again through reflection); in WebAssembly that dominated the run. Here the
// input is validated once (valid, equivalent to json.Valid), then parsed in a
// single pass: objects are split into members that are sub-slices of the
// input, meshes are decoded in place by a dedicated number scanner, and the
// output copies every untouched member as it is.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// checkJSON reports whether data is one valid JSON value, with
// encoding/json's message (and offset) when it is not.
func checkJSON(data []byte) error {
	if valid(data) {
		return nil
	}
	var v json.RawMessage
	err := json.Unmarshal(data, &v)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return fmt.Errorf("at byte %d: %w", syntax.Offset, err)
	}
	if err != nil {
		return err
	}
	return errors.New("invalid JSON")
}

// maxDepth bounds the nesting of arrays and objects, as encoding/json does.
const maxDepth = 10000

// valid reports whether data is exactly one JSON value (RFC 8259) with
// optional surrounding spaces: the same answer as json.Valid, without its
// per-byte state machine, which is slow in WebAssembly.
func valid(data []byte) bool {
	v := validator{data: data}
	v.space()
	if !v.value() {
		return false
	}
	v.space()
	return v.pos == len(data)
}

type validator struct {
	data  []byte
	pos   int
	depth int
}

func (v *validator) space() {
	for v.pos < len(v.data) {
		switch v.data[v.pos] {
		case ' ', '\t', '\n', '\r':
			v.pos++
		default:
			return
		}
	}
}

func (v *validator) value() bool {
	if v.pos >= len(v.data) {
		return false
	}
	switch c := v.data[v.pos]; {
	case c == '{':
		return v.object()
	case c == '[':
		return v.array()
	case c == '"':
		return v.string()
	case c == '-' || (c >= '0' && c <= '9'):
		return v.number()
	case c == 't':
		return v.literal("true")
	case c == 'f':
		return v.literal("false")
	case c == 'n':
		return v.literal("null")
	}
	return false
}

func (v *validator) literal(lit string) bool {
	if len(v.data)-v.pos < len(lit) || string(v.data[v.pos:v.pos+len(lit)]) != lit {
		return false
	}
	v.pos += len(lit)
	return true
}

func (v *validator) object() bool {
	if v.depth++; v.depth > maxDepth {
		return false
	}
	v.pos++ // '{'
	v.space()
	if v.pos < len(v.data) && v.data[v.pos] == '}' {
		v.pos++
		v.depth--
		return true
	}
	for {
		if v.pos >= len(v.data) || v.data[v.pos] != '"' || !v.string() {
			return false
		}
		v.space()
		if v.pos >= len(v.data) || v.data[v.pos] != ':' {
			return false
		}
		v.pos++
		v.space()
		if !v.value() {
			return false
		}
		v.space()
		if v.pos >= len(v.data) {
			return false
		}
		switch v.data[v.pos] {
		case ',':
			v.pos++
			v.space()
		case '}':
			v.pos++
			v.depth--
			return true
		default:
			return false
		}
	}
}

func (v *validator) array() bool {
	if v.depth++; v.depth > maxDepth {
		return false
	}
	v.pos++ // '['
	v.space()
	if v.pos < len(v.data) && v.data[v.pos] == ']' {
		v.pos++
		v.depth--
		return true
	}
	for {
		if !v.value() {
			return false
		}
		v.space()
		if v.pos >= len(v.data) {
			return false
		}
		switch v.data[v.pos] {
		case ',':
			v.pos++
			v.space()
		case ']':
			v.pos++
			v.depth--
			return true
		default:
			return false
		}
	}
}

func (v *validator) string() bool {
	d := v.data
	for i := v.pos + 1; i < len(d); i++ {
		switch c := d[i]; {
		case c == '"':
			v.pos = i + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			i++
			if i >= len(d) {
				return false
			}
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(d) {
					return false
				}
				for _, h := range d[i+1 : i+5] {
					if !isHex(h) {
						return false
					}
				}
				i += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (v *validator) number() bool {
	d, i := v.data, v.pos
	if d[i] == '-' {
		i++
	}
	digits := func() int {
		start := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(d) && d[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	v.pos = i
	return true
}

// member is one key of an object and its raw value.
type member struct {
	key string
	raw []byte
}

// object is a JSON object that keeps its members in input order.
type object struct {
	members []member
	index   map[string]int
}

// get returns the raw value of key; absent and null are both reported as
// not ok.
func (o *object) get(key string) ([]byte, bool) {
	i, ok := o.index[key]
	if !ok || isNull(o.members[i].raw) {
		return nil, false
	}
	return o.members[i].raw, true
}

// set replaces the value of key, keeping its position; a new key goes last.
func (o *object) set(key string, raw []byte) {
	if i, ok := o.index[key]; ok {
		o.members[i].raw = raw
		return
	}
	if o.index == nil {
		o.index = map[string]int{}
	}
	o.index[key] = len(o.members)
	o.members = append(o.members, member{key, raw})
}

// appendTo writes the object; write, when not nil, may write the value of a
// member itself and report true.
func (o *object) appendTo(buf []byte, write func(buf []byte, key string) ([]byte, bool)) []byte {
	buf = append(buf, '{')
	for i, m := range o.members {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, m.key)
		buf = append(buf, ':')
		if write != nil {
			var done bool
			if buf, done = write(buf, m.key); done {
				continue
			}
		}
		buf = append(buf, m.raw...)
	}
	return append(buf, '}')
}

func appendString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return append(buf, b...)
}

func isNull(raw []byte) bool { return len(raw) == 4 && string(raw) == "null" }

// scanner walks JSON text that json.Valid accepted.
type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// consume skips c (after spaces) and reports whether it was there.
func (s *scanner) consume(c byte) bool {
	if s.peek() == c {
		s.pos++
		return true
	}
	return false
}

// value skips one value and returns its text.
func (s *scanner) value() []byte {
	s.skipSpace()
	d, start := s.data, s.pos
	if start >= len(d) {
		return d[start:start:start]
	}
	i := start
	switch d[i] {
	case '"':
		i = skipString(d, i)
	case '{', '[':
		// Only brackets and strings matter inside a container.
		depth := 0
	loop:
		for ; i < len(d); i++ {
			switch d[i] {
			case '"':
				i = skipString(d, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					i++
					break loop
				}
			}
		}
	default: // number or literal
		for i < len(d) {
			c := d[i]
			if c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				break
			}
			i++
		}
	}
	s.pos = i
	return d[start:i:i]
}

// skipString returns the index just past the string starting at d[i] == '"'.
func skipString(d []byte, i int) int {
	for i++; i < len(d); i++ {
		switch d[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// kind names the JSON value starting with c, for error messages.
func kind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case 0:
		return "nothing"
	}
	return "a number"
}

// parseObject splits valid JSON text holding an object into its members. A
// repeated key keeps its first position and its last value, as
// encoding/json does.
func parseObject(data []byte) (*object, error) {
	s := scanner{data: data}
	return s.object(nil)
}

// object parses the object at the scanner. visit, when not nil, is offered
// each member's value first: it may decode it in place, leaving the scanner
// just past it, and report true; otherwise the value is skipped. Either way
// the member's raw text is kept. Decoding in place spares a separate pass over
// large values such as meshes.
func (s *scanner) object(visit func(key string, s *scanner) (bool, error)) (*object, error) {
	if c := s.peek(); c != '{' {
		return nil, fmt.Errorf("want an object, got %s", kind(c))
	}
	s.pos++
	o := &object{index: map[string]int{}}
	if s.consume('}') {
		return o, nil
	}
	for {
		key, err := decodeKey(s.value())
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
			s.value()
		}
		o.set(key, s.data[start:s.pos:s.pos])
		if !s.consume(',') {
			s.consume('}')
			return o, nil
		}
	}
}

// array parses the array at the scanner, calling elem for each element,
// which must consume exactly that element. It returns the element count.
func (s *scanner) array(elem func(i int, s *scanner) error) (int, error) {
	if c := s.peek(); c != '[' {
		return 0, fmt.Errorf("want an array, got %s", kind(c))
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

// skipped restores the scanner to start and skips the value there: after a
// visitor failed part way through a value it wants to report later.
func (s *scanner) skipped(start int) {
	s.pos = start
	s.value()
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

// splitArray splits valid JSON text holding an array into its elements.
func splitArray(data []byte) ([][]byte, error) {
	s := scanner{data: data}
	var out [][]byte
	_, err := s.array(func(_ int, s *scanner) error {
		out = append(out, s.value())
		return nil
	})
	return out, err
}

// triples parses, at the scanner, an array of 3-element arrays of numbers,
// calling put for each number (i the triple, k 0..2, tok its text). what and
// noun name the elements in errors, e.g. "vertices", "coordinates".
func (s *scanner) triples(what, noun string, put func(i, k int, tok []byte) error) (int, error) {
	if c := s.peek(); c != '[' {
		return 0, fmt.Errorf("%s: want an array, got %s", what, kind(c))
	}
	s.pos++
	if s.consume(']') {
		return 0, nil
	}
	for i := 0; ; i++ {
		if c := s.peek(); c != '[' {
			return 0, fmt.Errorf("%s[%d]: want an array of 3 %s, got %s", what, i, noun, kind(c))
		}
		s.pos++
		k := 0
		if !s.consume(']') {
			for {
				if c := s.peek(); c != '-' && (c < '0' || c > '9') {
					return 0, fmt.Errorf("%s[%d][%d]: want a number, got %s", what, i, k, kind(c))
				}
				tok := s.value()
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

// vertices parses a mesh's "vertices" at the scanner: an array of [x, y, z].
func (s *scanner) vertices() ([][3]float64, error) {
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

// triangles parses a mesh's "triangles" at the scanner: an array of [i, j, k].
func (s *scanner) triangles() ([][3]int64, error) {
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

// rawMesh is a mesh as parsed, before any check of its indices.
type rawMesh struct {
	vertices  [][3]float64
	triangles [][3]int64
}

// mesh parses, at the scanner, an object with "vertices" and "triangles";
// other members are skipped.
func (s *scanner) mesh() (rawMesh, error) {
	var m rawMesh
	obj, err := s.object(func(key string, s *scanner) (bool, error) {
		if s.peek() == 'n' {
			return false, nil
		}
		var err error
		switch key {
		case "vertices":
			m.vertices, err = s.vertices()
			return true, err
		case "triangles":
			m.triangles, err = s.triangles()
			return true, err
		}
		return false, nil
	})
	if err != nil {
		return rawMesh{}, err
	}
	if _, ok := obj.get("vertices"); !ok {
		return rawMesh{}, errors.New(`missing "vertices"`)
	}
	if _, ok := obj.get("triangles"); !ok {
		return rawMesh{}, errors.New(`missing "triangles"`)
	}
	if m.vertices == nil {
		m.vertices = [][3]float64{}
	}
	if m.triangles == nil {
		m.triangles = [][3]int64{}
	}
	return m, nil
}

// parseVertices parses a mesh's "vertices": an array of [x, y, z].
func parseVertices(data []byte) ([][3]float64, error) {
	s := scanner{data: data}
	return s.vertices()
}

// parseTriangles parses a mesh's "triangles": an array of [i, j, k].
func parseTriangles(data []byte) ([][3]int64, error) {
	s := scanner{data: data}
	return s.triangles()
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
	v, err := strconv.ParseFloat(bytesString(tok), 64)
	if err != nil || math.IsInf(v, 0) {
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
