// Package example builds example assembly documents for Phasehost's reference
// stage plugins (assembly4, material, topology): the fixed bracket of
// examples/bracket.json and generated assemblies of any size for load tests
// and benchmarks, together with the closed, outward-oriented mesh builders
// they use. The document format is described in examples/README.md.
package example

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Document is an assembly document.
type Document struct {
	Assembly    string       `json:"assembly"`
	Units       string       `json:"units"` // "mm" or "m"
	Parts       []Part       `json:"parts"`
	Constraints []Constraint `json:"constraints"`
	Overrides   []Override   `json:"overrides"`
}

// Part is one rigid part with its mesh in its own coordinates.
type Part struct {
	Name     string         `json:"name"`
	Material string         `json:"material"`
	Mesh     Mesh           `json:"mesh"`
	LCS      map[string]LCS `json:"lcs"`
	Grounded bool           `json:"grounded,omitempty"`
}

// LCS is a local coordinate system on a part: a point and a rotation of the
// part's axes.
type LCS struct {
	Origin   [3]float64 `json:"origin"`
	Rotation Rotation   `json:"rotation"`
}

// Rotation is a rotation by AngleDeg degrees about Axis (right-hand rule).
type Rotation struct {
	Axis     [3]float64 `json:"axis"`
	AngleDeg float64    `json:"angle_deg"`
}

// Constraint attaches Part by making its LCS coincide with Parent's ParentLCS.
type Constraint struct {
	Name      string `json:"name"`
	Part      string `json:"part"`
	LCS       string `json:"lcs"`
	Parent    string `json:"parent"`
	ParentLCS string `json:"parent_lcs"`
}

// Override replaces material properties of one part (used by the material stage).
type Override struct {
	Part            string  `json:"part"`
	DensityKgM3     float64 `json:"density_kg_m3,omitempty"`
	YoungsModulusPa float64 `json:"youngs_modulus_pa,omitempty"`
}

// material is a library name with nominal properties, used to derive
// plausible overrides.
type material struct {
	name             string
	density, modulus float64
}

// library lists the material plugin's library names with nominal density
// (kg/m³) and Young's modulus (Pa).
var library = [...]material{
	{"steel-s235", 7850, 2.10e11},
	{"stainless-304", 8000, 1.93e11},
	{"aluminium-6061-t6", 2700, 6.89e10},
	{"aluminium-7075-t6", 2810, 7.17e10},
	{"titanium-ti6al4v", 4430, 1.14e11},
	{"brass-c360", 8500, 9.7e10},
	{"copper-c110", 8890, 1.15e11},
	{"cast-iron-gg25", 7200, 1.1e11},
	{"abs", 1050, 2.3e9},
	{"pla", 1240, 3.5e9},
	{"nylon-pa6", 1140, 2.8e9},
	{"polycarbonate", 1200, 2.4e9},
}

// Materials returns the material library names example documents use, in
// the order Generate cycles through them.
func Materials() []string {
	out := make([]string, len(library))
	for i, m := range library {
		out[i] = m.name
	}
	return out
}

// Marshal encodes d as JSON. Compact output is one line; indented output puts
// every member on its own line, except that values short enough (such as a
// vertex, a triangle or an LCS) stay on one line.
func Marshal(d *Document, indent bool) ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encoding document: %w", err)
	}
	if !indent {
		return append(b, '\n'), nil
	}
	var buf bytes.Buffer
	buf.Grow(len(b) * 2)
	if err := format(&buf, b, 0); err != nil {
		return nil, fmt.Errorf("formatting document: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// inlineWidth is the longest compact value format keeps on one line.
const inlineWidth = 96

// format writes the compact JSON value raw with two-space indentation at depth.
func format(buf *bytes.Buffer, raw []byte, depth int) error {
	if len(raw) <= inlineWidth || (raw[0] != '{' && raw[0] != '[') {
		buf.Write(raw)
		return nil
	}
	pad := func(d int) {
		buf.WriteByte('\n')
		for i := 0; i < d; i++ {
			buf.WriteString("  ")
		}
	}
	if raw[0] == '[' {
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return err
		}
		buf.WriteByte('[')
		for i, e := range elems {
			if i > 0 {
				buf.WriteByte(',')
			}
			pad(depth + 1)
			if err := format(buf, e, depth+1); err != nil {
				return err
			}
		}
		pad(depth)
		buf.WriteByte(']')
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	buf.WriteByte('{')
	for i := 0; dec.More(); i++ {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return err
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		pad(depth + 1)
		k, err := json.Marshal(key)
		if err != nil {
			return err
		}
		buf.Write(k)
		buf.WriteString(": ")
		if err := format(buf, val, depth+1); err != nil {
			return err
		}
	}
	pad(depth)
	buf.WriteByte('}')
	return nil
}
