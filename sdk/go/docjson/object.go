package docjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Member is one key of an object and its value, as JSON text.
type Member struct {
	// Key is the decoded key.
	Key string
	// Raw is the value's JSON text: a sub-slice of the parsed input, or what
	// Object.Set stored.
	Raw []byte
}

// Object is a JSON object that keeps its members in input order, so that a
// stage can replace or add a few members and pass every other one along
// untouched. The zero value is an empty object.
type Object struct {
	members []Member
	index   map[string]int
}

// ParseObject splits JSON text holding an object, which Check accepted, into
// its members. A repeated key keeps its first position and its last value,
// as encoding/json does. Values are sub-slices of data, not copies.
func ParseObject(data []byte) (*Object, error) {
	return NewScanner(data).Object(nil)
}

// Members returns the members in order. The slice belongs to the object: do
// not modify it; use Set.
func (o *Object) Members() []Member { return o.members }

// Get returns the value of key; an absent key and a null value are both
// reported as not ok.
func (o *Object) Get(key string) ([]byte, bool) {
	raw, ok := o.Lookup(key)
	if !ok || IsNull(raw) {
		return nil, false
	}
	return raw, true
}

// Lookup returns the value of key, null included, and whether the key is
// present.
func (o *Object) Lookup(key string) ([]byte, bool) {
	i, ok := o.index[key]
	if !ok {
		return nil, false
	}
	return o.members[i].Raw, true
}

// Set replaces the value of key by raw, which must be one JSON value, keeping
// the member's position; a new key goes last.
func (o *Object) Set(key string, raw []byte) {
	if i, ok := o.index[key]; ok {
		o.members[i].Raw = raw
		return
	}
	if o.index == nil {
		o.index = map[string]int{}
	}
	o.index[key] = len(o.members)
	o.members = append(o.members, Member{key, raw})
}

// AppendTo appends the object to buf as JSON: every member's value as its
// text, verbatim. write, when not nil, is offered each member first (buf
// already ends with the member's key and colon): it may append the value
// itself and report true, e.g. to write an array of objects held elsewhere.
func (o *Object) AppendTo(buf []byte, write func(buf []byte, key string) ([]byte, bool)) []byte {
	buf = append(buf, '{')
	for i, m := range o.members {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendString(buf, m.Key)
		buf = append(buf, ':')
		if write != nil {
			var done bool
			if buf, done = write(buf, m.Key); done {
				continue
			}
		}
		buf = append(buf, m.Raw...)
	}
	return append(buf, '}')
}

// NonEmptyString returns the string value of key, which must be present and
// hold a string that is not empty or only white space. The error names key:
// `missing "key"`, "key: want a string, got 12" or "key: empty".
func (o *Object) NonEmptyString(key string) (string, error) {
	raw, ok := o.Get(key)
	if !ok {
		return "", fmt.Errorf("missing %q", key)
	}
	s, ok := PlainString(raw)
	if !ok {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%s: want a string, got %s", key, Abbreviate(raw))
		}
	}
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%s: empty", key)
	}
	return s, nil
}

// PlainString returns the text of raw, a JSON string as Object and Scanner
// values are (checked, no surrounding spaces), when it has no escape and is
// valid UTF-8: then it is what json.Unmarshal gives, without its reflection
// (several microseconds a string under WebAssembly). Otherwise, and for any
// other value, it reports false.
func PlainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') >= 0 || !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// AppendString appends s to buf as a JSON string, escaped as encoding/json
// escapes it. A string of printable ASCII that encoding/json copies as it is
// (no quote, backslash, or <, > and &, which it escapes) is copied between
// quotes here; others go through json.Marshal, whose reflection and
// allocation cost several microseconds a string under WebAssembly.
func AppendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// AppendStrings appends ss to buf as json.Marshal writes a []string: null
// for a nil slice, else an array of AppendString's strings.
func AppendStrings(buf []byte, ss []string) []byte {
	if ss == nil {
		return append(buf, "null"...)
	}
	buf = append(buf, '[')
	for i, s := range ss {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendString(buf, s)
	}
	return append(buf, ']')
}

// IsNull reports whether raw is the JSON text null (without spaces, as the
// values of Object and Scanner are).
func IsNull(raw []byte) bool { return len(raw) == 4 && string(raw) == "null" }

// Abbreviate returns raw as a string for an error message: its first 40
// bytes and "…" when it is longer.
func Abbreviate(raw []byte) string {
	const n = 40
	if len(raw) > n {
		return string(raw[:n]) + "…"
	}
	return string(raw)
}

// Kind names the JSON value starting with byte c, for error messages: "an
// object", "an array", "a string", "a boolean", "null", "a number", or
// "nothing" for 0 (the end of the input, from Scanner.Peek).
func Kind(c byte) string {
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

// SplitArray splits JSON text holding an array, which Check accepted, into
// its elements, sub-slices of data.
func SplitArray(data []byte) ([][]byte, error) {
	var out [][]byte
	_, err := NewScanner(data).Array(func(_ int, s *Scanner) error {
		out = append(out, s.Value())
		return nil
	})
	return out, err
}

// AppendWithArray appends o like AppendTo, with the value of member key
// replaced by the array of objects elems (each appended verbatim): how a
// stage writes its document back with the parts it changed.
func (o *Object) AppendWithArray(buf []byte, key string, elems []*Object) []byte {
	return o.AppendTo(buf, func(buf []byte, k string) ([]byte, bool) {
		if k != key {
			return buf, false
		}
		buf = append(buf, '[')
		for i, e := range elems {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = e.AppendTo(buf, nil)
		}
		return append(buf, ']'), true
	})
}
