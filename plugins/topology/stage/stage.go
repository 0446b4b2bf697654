// Package stage is the topology stage of Phasehost. For each part it computes
// a topological hash (Weisfeiler–Lehman refinement over the face-adjacency
// graph of the part's triangle mesh) and validates the mesh for export:
// watertight, consistently oriented, no degenerate faces, Euler
// characteristic and genus. It also hashes the whole assembly from the part
// hashes and the constraint graph.
//
// A part that fails validation is reported in the output, not as an error:
// the stage fails only for a malformed document. It passes the whole input
// document along, adding "topology" to each part and to the document.
package stage

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	sdk "github.com/phasehost/phasehost/sdk/go"

	"github.com/phasehost/phasehost/plugins/topology/phases"
)

// ErrMalformed is wrapped by every error about the document's structure.
var ErrMalformed = errors.New("malformed document")

type part struct {
	raw       map[string]json.RawMessage
	index     int
	name      string
	label     string // `part "name"`, for messages
	vertices  [][3]float64
	triangles [][3]int64
	complex   *complex
	hash      string
}

type constraint struct {
	child, parent *part // parent nil: attached to the ground
}

type document struct {
	raw         map[string]json.RawMessage
	parts       []*part
	constraints []constraint
}

// Stage is the topology stage. See the package documentation.
func Stage(h sdk.Host) error {
	doc, err := decodeDocument(h.Input())
	if err != nil {
		return err
	}
	assemblyHash, err := hashParts(h, doc)
	if err != nil {
		return err
	}
	reports, err := validateParts(h, doc)
	if err != nil {
		return err
	}
	return writeOutput(h, doc, assemblyHash, reports)
}

func decodeDocument(in []byte) (*document, error) {
	doc := &document{}
	if err := json.Unmarshal(in, &doc.raw); err != nil {
		return nil, fmt.Errorf("%w: top level: %w", ErrMalformed, err)
	}
	if doc.raw == nil {
		return nil, fmt.Errorf("%w: top level: want an object, got null", ErrMalformed)
	}
	r, ok := doc.raw["parts"]
	if !ok || string(r) == "null" {
		return nil, fmt.Errorf("%w: missing \"parts\"", ErrMalformed)
	}
	var rawParts []map[string]json.RawMessage
	if err := json.Unmarshal(r, &rawParts); err != nil {
		return nil, fmt.Errorf("%w: parts: %w", ErrMalformed, err)
	}
	if len(rawParts) == 0 {
		return nil, fmt.Errorf("%w: parts: the document has no parts", ErrMalformed)
	}
	byName := make(map[string]*part, len(rawParts))
	for i, rp := range rawParts {
		p, err := decodePart(i, rp)
		if err != nil {
			return nil, err
		}
		if prev, dup := byName[p.name]; dup {
			return nil, fmt.Errorf("%w: parts[%d]: duplicate part name %q (also parts[%d])", ErrMalformed, i, p.name, prev.index)
		}
		byName[p.name] = p
		doc.parts = append(doc.parts, p)
	}

	if r, ok := doc.raw["constraints"]; ok && string(r) != "null" {
		var rawCons []map[string]json.RawMessage
		if err := json.Unmarshal(r, &rawCons); err != nil {
			return nil, fmt.Errorf("%w: constraints: %w", ErrMalformed, err)
		}
		for i, rc := range rawCons {
			c, err := decodeConstraint(i, rc, byName)
			if err != nil {
				return nil, err
			}
			doc.constraints = append(doc.constraints, c)
		}
	}
	return doc, nil
}

func decodePart(i int, raw map[string]json.RawMessage) (*part, error) {
	if raw == nil {
		return nil, fmt.Errorf("%w: parts[%d]: want an object, got null", ErrMalformed, i)
	}
	p := &part{raw: raw, index: i}
	name, err := stringField(raw, "name")
	if err != nil {
		return nil, fmt.Errorf("%w: parts[%d]: %w", ErrMalformed, i, err)
	}
	p.name = name
	p.label = fmt.Sprintf("part %q", name)
	mr, ok := raw["mesh"]
	if !ok || string(mr) == "null" {
		return nil, fmt.Errorf("%w: %s (parts[%d]): missing \"mesh\"", ErrMalformed, p.label, i)
	}
	if err := p.decodeMesh(mr); err != nil {
		return nil, fmt.Errorf("%w: %s (parts[%d]): mesh: %w", ErrMalformed, p.label, i, err)
	}
	return p, nil
}

func (p *part) decodeMesh(r json.RawMessage) error {
	var m struct {
		Vertices  *[][]float64 `json:"vertices"`
		Triangles *[][]int64   `json:"triangles"`
	}
	if err := json.Unmarshal(r, &m); err != nil {
		return err
	}
	if m.Vertices == nil {
		return errors.New(`missing "vertices"`)
	}
	if m.Triangles == nil {
		return errors.New(`missing "triangles"`)
	}
	if len(*m.Vertices) > math.MaxInt32/3 {
		return fmt.Errorf("%d vertices is over the limit of %d", len(*m.Vertices), math.MaxInt32/3)
	}
	if len(*m.Triangles) > math.MaxInt32/3 {
		return fmt.Errorf("%d triangles is over the limit of %d", len(*m.Triangles), math.MaxInt32/3)
	}
	p.vertices = make([][3]float64, len(*m.Vertices))
	for i, v := range *m.Vertices {
		if len(v) != 3 {
			return fmt.Errorf("vertices[%d]: want 3 coordinates, got %d", i, len(v))
		}
		p.vertices[i] = [3]float64{v[0], v[1], v[2]}
	}
	p.triangles = make([][3]int64, len(*m.Triangles))
	for i, t := range *m.Triangles {
		if len(t) != 3 {
			return fmt.Errorf("triangles[%d]: want 3 vertex indices, got %d", i, len(t))
		}
		p.triangles[i] = [3]int64{t[0], t[1], t[2]}
	}
	return nil
}

func decodeConstraint(i int, raw map[string]json.RawMessage, byName map[string]*part) (constraint, error) {
	where := fmt.Sprintf("constraints[%d]", i)
	if raw == nil {
		return constraint{}, fmt.Errorf("%w: %s: want an object, got null", ErrMalformed, where)
	}
	if r, ok := raw["name"]; ok {
		var n string
		if json.Unmarshal(r, &n) == nil && n != "" {
			where = fmt.Sprintf("%s (%q)", where, n)
		}
	}
	child, err := stringField(raw, "part")
	if err != nil {
		return constraint{}, fmt.Errorf("%w: %s: %w", ErrMalformed, where, err)
	}
	var c constraint
	if c.child = byName[child]; c.child == nil {
		return constraint{}, fmt.Errorf("%w: %s: part: no part named %q", ErrMalformed, where, child)
	}
	if r, ok := raw["parent"]; ok && string(r) != "null" {
		parent, err := stringField(raw, "parent")
		if err != nil {
			return constraint{}, fmt.Errorf("%w: %s: %w", ErrMalformed, where, err)
		}
		if c.parent = byName[parent]; c.parent == nil {
			return constraint{}, fmt.Errorf("%w: %s: parent: no part named %q", ErrMalformed, where, parent)
		}
	}
	return c, nil
}

// stringField returns the non-empty string field key of raw.
func stringField(raw map[string]json.RawMessage, key string) (string, error) {
	r, ok := raw[key]
	if !ok || string(r) == "null" {
		return "", fmt.Errorf("missing %q", key)
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		const n = 40
		got := string(r)
		if len(got) > n {
			got = got[:n] + "…"
		}
		return "", fmt.Errorf("%s: want a string, got %s", key, got)
	}
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%s: empty", key)
	}
	return s, nil
}

// faces returns the triangles whose indices are in range and distinct, and
// the index of each in the triangle list.
func (p *part) faces() ([][3]int32, []int32) {
	n := int64(len(p.vertices))
	faces := make([][3]int32, 0, len(p.triangles))
	orig := make([]int32, 0, len(p.triangles))
	for i, t := range p.triangles {
		if t[0] < 0 || t[0] >= n || t[1] < 0 || t[1] >= n || t[2] < 0 || t[2] >= n {
			continue
		}
		if t[0] == t[1] || t[1] == t[2] || t[0] == t[2] {
			continue
		}
		faces = append(faces, [3]int32{int32(t[0]), int32(t[1]), int32(t[2])})
		orig = append(orig, int32(i))
	}
	return faces, orig
}

// hashParts runs the topo_hash step: TOPO_HASH_START, TOPO_HASH_PROGRESS with
// done = parts hashed, TOPO_HASH_END carrying the assembly hash.
func hashParts(h sdk.Host, doc *document) (string, error) {
	n := int64(len(doc.parts))
	var tris int
	for _, p := range doc.parts {
		tris += len(p.triangles)
	}
	if err := h.Emit(phases.TopoHashStart, 0, n, clip(fmt.Sprintf("hashing %d %s (%d %s, %d %s)",
		n, plural(int(n), "part", "parts"), tris, plural(tris, "triangle", "triangles"),
		len(doc.constraints), plural(len(doc.constraints), "constraint", "constraints")))); err != nil {
		return "", err
	}
	pr := newProgress(h, phases.TopoHashProgress, n)
	for i, p := range doc.parts {
		faces, orig := p.faces()
		p.complex = buildComplex(len(p.vertices), faces, orig)
		p.hash = p.complex.hash()
		if done := int64(i + 1); pr.due(done) {
			c := p.complex
			if err := pr.emit(done, fmt.Sprintf("%s: V=%d E=%d F=%d hash %s", p.label, c.nv, c.edges(), len(c.faces), p.hash[:16])); err != nil {
				return "", err
			}
		}
	}
	ah := assemblyHash(doc)
	if err := h.Emit(phases.TopoHashEnd, n, n, fmt.Sprintf("assembly hash %s", ah)); err != nil {
		return "", err
	}
	return ah, nil
}

// validateParts runs the export_validation step: EXPORT_VALIDATION with
// done = parts validated.
func validateParts(h sdk.Host, doc *document) ([]report, error) {
	n := int64(len(doc.parts))
	pr := newProgress(h, phases.ExportValidation, n)
	reports := make([]report, len(doc.parts))
	for i, p := range doc.parts {
		reports[i] = validate(p.complex, p.vertices, p.triangles, p.hash)
		if done := int64(i + 1); pr.due(done) {
			msg := fmt.Sprintf("%s: ok", p.label)
			if r := reports[i]; !r.ExportOK {
				msg = fmt.Sprintf("%s: %d %s: %s", p.label, len(r.Problems), plural(len(r.Problems), "problem", "problems"), strings.Join(r.Problems, "; "))
			}
			if err := pr.emit(done, msg); err != nil {
				return nil, err
			}
		}
	}
	return reports, nil
}

type summary struct {
	AssemblyHash string `json:"assembly_hash"`
	PartsOK      int    `json:"parts_ok"`
	PartsFailed  int    `json:"parts_failed"`
	ExportOK     bool   `json:"export_ok"`
}

func writeOutput(h sdk.Host, doc *document, assemblyHash string, reports []report) error {
	s := summary{AssemblyHash: assemblyHash}
	parts := make([]map[string]json.RawMessage, len(doc.parts))
	for i, p := range doc.parts {
		b, err := json.Marshal(reports[i])
		if err != nil {
			return fmt.Errorf("encoding %s topology: %w", p.label, err)
		}
		p.raw["topology"] = b
		parts[i] = p.raw
		if reports[i].ExportOK {
			s.PartsOK++
		} else {
			s.PartsFailed++
		}
	}
	s.ExportOK = s.PartsFailed == 0
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encoding topology summary: %w", err)
	}
	doc.raw["topology"] = b
	doc.raw["parts"] = nil // written from parts below
	return h.WriteOutput(appendDocument(nil, doc.raw, parts))
}

// appendDocument writes top as a JSON object with its "parts" replaced by
// parts. The raw values came out of json.Unmarshal or json.Marshal and are
// valid JSON already, so they are copied as they are rather than re-validated
// and compacted as json.Marshal would: the meshes are most of the document.
func appendDocument(buf []byte, top map[string]json.RawMessage, parts []map[string]json.RawMessage) []byte {
	return appendObject(buf, top, func(buf []byte, key string) ([]byte, bool) {
		if key != "parts" {
			return buf, false
		}
		buf = append(buf, '[')
		for i, p := range parts {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendObject(buf, p, nil)
		}
		return append(buf, ']'), true
	})
}

// appendObject writes m with its keys sorted. special, when not nil, may write
// the value of a key itself and report true.
func appendObject(buf []byte, m map[string]json.RawMessage, special func([]byte, string) ([]byte, bool)) []byte {
	buf = append(buf, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			buf = append(buf, ',')
		}
		kb, _ := json.Marshal(k) // a string always marshals
		buf = append(buf, kb...)
		buf = append(buf, ':')
		if special != nil {
			var done bool
			if buf, done = special(buf, k); done {
				continue
			}
		}
		if v := m[k]; len(v) > 0 {
			buf = append(buf, v...)
		} else {
			buf = append(buf, "null"...)
		}
	}
	return append(buf, '}')
}
