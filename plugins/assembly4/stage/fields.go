package stage

import (
	"encoding/json"
	"strconv"

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

// decodeLCS decodes a part's "lcs" into v as json.Unmarshal does.
func decodeLCS(raw []byte, v *map[string]lcsJSON) error {
	if raw[0] == '{' {
		if obj, err := docjson.ParseObject(raw); err == nil {
			m := make(map[string]lcsJSON, len(obj.Members()))
			ok := true
			for _, mem := range obj.Members() {
				var l lcsJSON
				if l.Origin, l.Rotation, ok = frame(mem.Raw, "origin"); !ok {
					break
				}
				m[mem.Key] = l // a repeated name: the last one, whole, as encoding/json
			}
			if ok {
				*v = m
				return nil
			}
		}
	}
	return json.Unmarshal(raw, v)
}

// decodePlacement decodes a part's "placement" into v as json.Unmarshal
// does.
func decodePlacement(raw []byte, v **placementJSON) error {
	if pos, rot, ok := frame(raw, "position"); ok {
		*v = &placementJSON{Position: pos, Rotation: rot}
		return nil
	}
	return json.Unmarshal(raw, v)
}

// frame decodes an object of an origin (named originKey) and a rotation,
// both optional: an LCS or a placement; ok is false when raw has another
// shape.
func frame(raw []byte, originKey string) (origin []float64, rot *rotationJSON, ok bool) {
	if raw[0] != '{' {
		return nil, nil, false
	}
	ok = true
	var seen [2]bool
	_, err := docjson.NewScanner(raw).Object(func(key string, s *docjson.Scanner) (bool, error) {
		val := s.Value()
		switch {
		case !ok:
		case key == originKey && !seen[0]:
			seen[0] = true
			origin, ok = numbers(val)
		case key == "rotation" && !seen[1]:
			seen[1] = true
			rot, ok = rotation(val)
		default:
			ok = false
		}
		return true, nil
	})
	return origin, rot, ok && err == nil
}

// rotation decodes a rotation: axis and angle_deg, both optional.
func rotation(raw []byte) (*rotationJSON, bool) {
	if raw[0] != '{' {
		return nil, false
	}
	r := &rotationJSON{}
	ok := true
	var seen [2]bool
	_, err := docjson.NewScanner(raw).Object(func(key string, s *docjson.Scanner) (bool, error) {
		val := s.Value()
		switch {
		case !ok:
		case key == "axis" && !seen[0]:
			seen[0] = true
			r.Axis, ok = numbers(val)
		case key == "angle_deg" && !seen[1]:
			seen[1] = true
			r.AngleDeg, ok = number(val)
		default:
			ok = false
		}
		return true, nil
	})
	return r, ok && err == nil
}

// numbers decodes an array of numbers.
func numbers(raw []byte) ([]float64, bool) {
	if raw[0] != '[' {
		return nil, false
	}
	elems, err := docjson.SplitArray(raw)
	if err != nil {
		return nil, false
	}
	out := make([]float64, len(elems))
	for i, e := range elems {
		var ok bool
		if out[i], ok = number(e); !ok {
			return nil, false
		}
	}
	return out, true
}

// number decodes a JSON number as encoding/json does (strconv.ParseFloat),
// refusing one out of range.
func number(raw []byte) (float64, bool) {
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	return v, err == nil
}

// decodeConstraints decodes the document's "constraints" into v as
// json.Unmarshal does.
func decodeConstraints(raw []byte, v *[]constraint) error {
	if raw[0] == '[' {
		var out []constraint
		ok := true
		_, err := docjson.NewScanner(raw).Array(func(_ int, s *docjson.Scanner) error {
			var c constraint
			if s.Peek() != '{' {
				ok = false
				s.Value()
				return nil
			}
			_, err := s.Object(func(key string, s *docjson.Scanner) (bool, error) {
				val := s.Value()
				var f *string
				switch key {
				case "name":
					f = &c.Name
				case "part":
					f = &c.Part
				case "lcs":
					f = &c.LCS
				case "parent":
					f = &c.Parent
				case "parent_lcs":
					f = &c.ParentLCS
				default:
					ok = false
					return true, nil
				}
				// A repeated member: the last one, as encoding/json.
				var good bool
				if *f, good = docjson.PlainString(val); !good {
					ok = false
				}
				return true, nil
			})
			out = append(out, c)
			return err
		})
		if ok && err == nil {
			if out == nil {
				out = []constraint{}
			}
			*v = out
			return nil
		}
	}
	return json.Unmarshal(raw, v)
}
