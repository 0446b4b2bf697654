package docjson

// validator checks JSON text in one pass; see Valid.
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
