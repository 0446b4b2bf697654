package stage

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/phasehost/phasehost/sdk/go/docjson"
)

// The small members of a document (names, flags, LCS, placements,
// constraints) are decoded by hand when they have the shape the format
// gives them, and by encoding/json otherwise, which then also reports what
// is wrong. encoding/json's reflection costs 20 to 30 times more in
// WebAssembly than natively (sdk/PERFORMANCE.md); on a document of 100
// parts it was a tenth of the stage's time there. Each fast path accepts
// only what it decodes exactly as encoding/json would: exact member names,
// each once (encoding/json merges a repeated object member into the value
// before it), the expected JSON types and numbers in range.
//
// The fast paths read the text with a cursor, in place, into fixed-size
// values: no docjson.Object (a map each), no slice per array and no
// strconv.ParseFloat for a short decimal. Allocations and map operations
// cost 6 to 8 times more in WebAssembly than natively; a part's four LCS
// took some 25 allocations each that way.

// rotationJSON is an axis-angle rotation as encoding/json decodes it.
type rotationJSON struct {
	Axis     []float64 `json:"axis"`
	AngleDeg float64   `json:"angle_deg"`
}

// lcsJSON is a local coordinate system on a part, as encoding/json decodes
// it.
type lcsJSON struct {
	Origin   []float64     `json:"origin"`
	Rotation *rotationJSON `json:"rotation"`
}

// placementJSON is a grounded part's placement in the input, as
// encoding/json decodes it.
type placementJSON struct {
	Position []float64     `json:"position"`
	Rotation *rotationJSON `json:"rotation"`
}

// coords is a JSON array of numbers as vec3 reads it: its first three
// numbers and its length.
type coords struct {
	v [3]float64
	n int
}

func coordsOf(s []float64) coords {
	c := coords{n: len(s)}
	copy(c.v[:], s)
	return c
}

// frame is an LCS (origin) or a placement (position) and its optional
// rotation.
type frame struct {
	origin  coords
	rotated bool // a rotation was given
	axis    coords
	angle   float64
}

func frameOf(origin []float64, rot *rotationJSON) frame {
	f := frame{origin: coordsOf(origin)}
	if rot != nil {
		f.rotated, f.axis, f.angle = true, coordsOf(rot.Axis), rot.AngleDeg
	}
	return f
}

// namedFrame is one LCS of a part.
type namedFrame struct {
	name string
	frame
}

// decodeString decodes raw, JSON text, into v as json.Unmarshal does.
func decodeString(raw []byte, v *string) error {
	if s, ok := docjson.PlainString(raw); ok {
		*v = s
		return nil
	}
	return json.Unmarshal(raw, v)
}

// decodeBool decodes raw into v as json.Unmarshal does.
func decodeBool(raw []byte, v *bool) error {
	switch string(raw) {
	case "true":
		*v = true
		return nil
	case "false":
		*v = false
		return nil
	}
	return json.Unmarshal(raw, v)
}

// decodeLCS decodes a part's "lcs" as json.Unmarshal decodes it into a
// map[string]lcsJSON, returned sorted by name: a repeated name counts
// once, with its last value, whole.
func decodeLCS(raw []byte) ([]namedFrame, error) {
	if l, ok := lcsFast(raw); ok {
		// Sorted stably, the last of a repeated name is the last of its
		// run.
		slices.SortStableFunc(l, func(a, b namedFrame) int { return cmp.Compare(a.name, b.name) })
		out := l[:0]
		for i, f := range l {
			if i+1 < len(l) && l[i+1].name == f.name {
				continue
			}
			out = append(out, f)
		}
		return out, nil
	}
	var m map[string]lcsJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	out := make([]namedFrame, 0, len(m))
	for name, l := range m {
		out = append(out, namedFrame{name, frameOf(l.Origin, l.Rotation)})
	}
	slices.SortFunc(out, func(a, b namedFrame) int { return cmp.Compare(a.name, b.name) })
	return out, nil
}

// lcsFast is decodeLCS's fast path: the LCS in input order, repeated names
// included; ok is false when raw has another shape.
func lcsFast(raw []byte) (l []namedFrame, ok bool) {
	c := cursor{b: raw}
	if c.next() != '{' {
		return nil, false
	}
	c.i++
	if c.next() == '}' {
		return []namedFrame{}, true
	}
	l = make([]namedFrame, 0, 8)
	for {
		k, ok := c.key(true)
		if !ok {
			return nil, false
		}
		f, ok := c.frame("origin")
		if !ok {
			return nil, false
		}
		l = append(l, namedFrame{string(k), f})
		if !c.more('}') {
			return l, true
		}
	}
}

// decodePlacement decodes a part's "placement" as json.Unmarshal decodes it
// into a *placementJSON; given is false for null.
func decodePlacement(raw []byte) (f frame, given bool, err error) {
	c := cursor{b: raw}
	if f, ok := c.frame("position"); ok {
		return f, true, nil
	}
	var p *placementJSON
	if err := json.Unmarshal(raw, &p); err != nil || p == nil {
		return frame{}, false, err
	}
	return frameOf(p.Position, p.Rotation), true, nil
}

// decodeConstraints decodes the document's "constraints" into v as
// json.Unmarshal does.
func decodeConstraints(raw []byte, v *[]constraint) error {
	if out, ok := constraintsFast(raw); ok {
		*v = out
		return nil
	}
	return json.Unmarshal(raw, v)
}

// constraintsFast is decodeConstraints' fast path: ok is false when raw
// has another shape.
func constraintsFast(raw []byte) ([]constraint, bool) {
	c := cursor{b: raw}
	if c.next() != '[' {
		return nil, false
	}
	c.i++
	out := []constraint{}
	if c.next() == ']' {
		return out, true
	}
	for {
		if c.next() != '{' {
			return nil, false
		}
		c.i++
		var con constraint
		if c.next() == '}' {
			c.i++
		} else {
			for {
				k, ok := c.key(false)
				if !ok {
					return nil, false
				}
				var f *string
				switch string(k) {
				case "name":
					f = &con.Name
				case "part":
					f = &con.Part
				case "lcs":
					f = &con.LCS
				case "parent":
					f = &con.Parent
				case "parent_lcs":
					f = &con.ParentLCS
				default:
					return nil, false
				}
				// A repeated member: the last one, as encoding/json.
				if *f, ok = docjson.PlainString(c.value()); !ok {
					return nil, false
				}
				if !c.more('}') {
					break
				}
			}
		}
		out = append(out, con)
		if !c.more(']') {
			return out, true
		}
	}
}

// cursor reads JSON text that docjson checked (a member's value) for the
// fast paths.
type cursor struct {
	b []byte
	i int
}

// next skips spaces and returns the next byte, 0 at the end.
func (c *cursor) next() byte {
	for c.i < len(c.b) {
		switch ch := c.b[c.i]; ch {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return ch
		}
	}
	return 0
}

// more consumes the ',' or the closing bracket after a member or element,
// and reports whether another follows.
func (c *cursor) more(closing byte) bool {
	ch := c.next()
	c.i++
	return ch != closing
}

// value returns the next value's text and moves past it.
func (c *cursor) value() []byte {
	c.next()
	start := c.i
	c.i = docjson.ValueEnd(c.b, start)
	return c.b[start:c.i]
}

// key reads an object's key and the colon after it. ok is false for a key
// with an escape, which the fast paths leave to encoding/json, and, unless
// anyUTF8, for one that is not ASCII (the fast paths' member names are).
// One pass over the key's bytes: a loop per pass costs in WebAssembly.
func (c *cursor) key(anyUTF8 bool) (k []byte, ok bool) {
	c.next() // the opening quote
	start := c.i + 1
	j, ascii := start, true
	for ; j < len(c.b); j++ {
		ch := c.b[j]
		if ch == '"' {
			break
		}
		if ch == '\\' {
			return nil, false
		}
		if ch >= 0x80 {
			ascii = false
		}
	}
	k = c.b[start:j]
	if !ascii && (!anyUTF8 || !utf8.Valid(k)) { // encoding/json would replace bad UTF-8
		return nil, false
	}
	c.i = j + 1
	c.next() // the colon
	c.i++
	return k, true
}

// frame reads an object of an origin (member originKey) and a rotation,
// both optional: an LCS or a placement. ok is false when it has another
// shape (the cursor is then anywhere).
func (c *cursor) frame(originKey string) (f frame, ok bool) {
	if c.next() != '{' {
		return f, false
	}
	c.i++
	if c.next() == '}' {
		c.i++
		return f, true
	}
	var seenOrigin bool
	for {
		k, ok := c.key(false)
		switch {
		case !ok:
			return f, false
		case string(k) == originKey && !seenOrigin:
			seenOrigin = true
			if f.origin, ok = c.numbers(); !ok {
				return f, false
			}
		case string(k) == "rotation" && !f.rotated:
			f.rotated = true
			if !c.rotation(&f) {
				return f, false
			}
		default:
			return f, false
		}
		if !c.more('}') {
			return f, true
		}
	}
}

// rotation reads a rotation into f: axis and angle_deg, both optional.
func (c *cursor) rotation(f *frame) bool {
	if c.next() != '{' {
		return false
	}
	c.i++
	if c.next() == '}' {
		c.i++
		return true
	}
	var seenAxis, seenAngle bool
	for {
		k, ok := c.key(false)
		switch {
		case !ok:
			return false
		case string(k) == "axis" && !seenAxis:
			seenAxis = true
			if f.axis, ok = c.numbers(); !ok {
				return false
			}
		case string(k) == "angle_deg" && !seenAngle:
			seenAngle = true
			if f.angle, ok = c.number(); !ok {
				return false
			}
		default:
			return false
		}
		if !c.more('}') {
			return true
		}
	}
}

// numbers reads an array of numbers.
func (c *cursor) numbers() (v coords, ok bool) {
	if c.next() != '[' {
		return v, false
	}
	c.i++
	if c.next() == ']' {
		c.i++
		return v, true
	}
	for {
		x, ok := c.number()
		if !ok {
			return v, false
		}
		if v.n < len(v.v) {
			v.v[v.n] = x
		}
		v.n++
		if !c.more(']') {
			return v, true
		}
	}
}

// number reads a number as encoding/json decodes it (strconv.ParseFloat);
// ok is false for one out of range or another value. A short decimal
// (see shortDecimal) is read in the same pass that finds its end.
func (c *cursor) number() (float64, bool) {
	c.next()
	if v, end, ok := shortDecimal(c.b, c.i); ok {
		c.i = end
		return v, true
	}
	return number(c.value())
}

// number decodes a JSON number as encoding/json does (strconv.ParseFloat),
// refusing one out of range or another value.
func number(raw []byte) (float64, bool) {
	if len(raw) == 0 || raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return 0, false
	}
	if v, end, ok := shortDecimal(raw, 0); ok && end == len(raw) {
		return v, true
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	return v, err == nil
}

// pow10 holds the powers of ten that shortDecimal divides by, all exact.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// shortDecimal reads the JSON number at d[i] when it has no exponent and
// 15 digits at most, the usual ones here (0, 90, -2.5), and returns it and
// the index just past it: its digits are an integer below 2^53 and its
// fraction a division by 10^k, k ≤ 15, both exact, so the float division
// is the correctly rounded value, strconv.ParseFloat's (Clinger's fast
// path). ok is false for other numbers and other values.
func shortDecimal(d []byte, i int) (v float64, end int, ok bool) {
	neg := i < len(d) && d[i] == '-'
	if neg {
		i++
	}
	var m uint64
	nd, point := 0, -1 // digits, and how many come before the point
	for ; i < len(d); i++ {
		ch := d[i]
		if ch >= '0' && ch <= '9' {
			m = m*10 + uint64(ch-'0')
			nd++
			continue
		}
		if ch == '.' && point < 0 {
			point = nd
			continue
		}
		if ch == 'e' || ch == 'E' {
			return 0, 0, false
		}
		break // the number's end: checked JSON puts no other byte in it
	}
	if nd == 0 || nd > 15 {
		return 0, 0, false
	}
	v = float64(m)
	if point >= 0 {
		v /= pow10[nd-point]
	}
	if neg {
		v = -v
	}
	return v, i, true
}
