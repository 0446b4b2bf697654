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
	"math"
	"strconv"
	"strings"

	sdk "github.com/phasehost/phasehost/sdk/go"

	"github.com/phasehost/phasehost/plugins/topology/phases"
	"github.com/phasehost/phasehost/sdk/go/docjson"
)

// ErrMalformed is wrapped by every error about the document's structure.
var ErrMalformed = errors.New("malformed document")

type part struct {
	obj       *docjson.Object
	index     int
	name      string
	label     string // `part "name"`, for messages
	vertices  [][3]float64
	triangles [][3]int64
	hash      string
}

type constraint struct {
	child, parent *part // parent nil: attached to the ground
}

type document struct {
	obj         *docjson.Object
	parts       []*part
	constraints []constraint
}

// Stage is the topology stage. See the package documentation.
func Stage(h sdk.Host) error {
	doc, err := decodeDocument(h.Input())
	if err != nil {
		return err
	}
	assemblyHash, reports, err := hashParts(h, doc)
	if err != nil {
		return err
	}
	if err := validateParts(h, doc, reports); err != nil {
		return err
	}
	return writeOutput(h, doc, assemblyHash, reports)
}

func decodeDocument(in []byte) (*document, error) {
	// The parts, meshes included, are decoded in place while the top level
	// is split into members.
	top, parts, err := docjson.ParseDocument(in, "parts", ErrMalformed, decodePart)
	if err != nil {
		return nil, err
	}
	doc := &document{obj: top, parts: parts}
	r, ok := top.Get("parts")
	if !ok {
		return nil, fmt.Errorf("%w: missing \"parts\"", ErrMalformed)
	}
	if r[0] != '[' {
		return nil, fmt.Errorf("%w: parts: want an array, got %s", ErrMalformed, docjson.Kind(r[0]))
	}
	if len(doc.parts) == 0 {
		return nil, fmt.Errorf("%w: parts: the document has no parts", ErrMalformed)
	}
	byName := make(map[string]*part, len(doc.parts))
	for i, p := range doc.parts {
		if prev, dup := byName[p.name]; dup {
			return nil, fmt.Errorf("%w: parts[%d]: duplicate part name %q (also parts[%d])", ErrMalformed, i, p.name, prev.index)
		}
		byName[p.name] = p
	}

	if r, ok := top.Get("constraints"); ok {
		rawCons, err := docjson.SplitArray(r)
		if err != nil {
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

// decodePart decodes parts[i] at the scanner.
func decodePart(i int, s *docjson.Scanner) (*part, error) {
	if c := s.Peek(); c != '{' {
		return nil, fmt.Errorf("%w: parts[%d]: want an object, got %s", ErrMalformed, i, docjson.Kind(c))
	}
	// The part's name may come after its mesh: a mesh error is reported then.
	obj, m, meshErr, err := s.ObjectWithMesh("mesh")
	if err != nil {
		return nil, fmt.Errorf("%w: parts[%d]: %w", ErrMalformed, i, err)
	}
	p := &part{obj: obj, index: i}
	if r, ok := obj.Get("name"); ok {
		if name, ok := plainString(r); ok {
			// %q writes such a name between quotes, as it is.
			p.name, p.label = name, `part "`+name+`"`
		}
	}
	if p.name == "" {
		name, err := obj.NonEmptyString("name")
		if err != nil {
			return nil, fmt.Errorf("%w: parts[%d]: %w", ErrMalformed, i, err)
		}
		p.name = name
		p.label = fmt.Sprintf("part %q", name)
	}
	mr, ok := obj.Get("mesh")
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: %s (parts[%d]): missing \"mesh\"", ErrMalformed, p.label, i)
	case mr[0] != '{':
		return nil, fmt.Errorf("%w: %s (parts[%d]): mesh: want an object, got %s", ErrMalformed, p.label, i, docjson.Kind(mr[0]))
	case meshErr != nil:
		return nil, fmt.Errorf("%w: %s (parts[%d]): mesh: %w", ErrMalformed, p.label, i, meshErr)
	}
	p.vertices, p.triangles = m.Vertices, m.Triangles
	if len(p.vertices) > math.MaxInt32/3 {
		return nil, fmt.Errorf("%w: %s (parts[%d]): mesh: %d vertices is over the limit of %d", ErrMalformed, p.label, i, len(p.vertices), math.MaxInt32/3)
	}
	if len(p.triangles) > math.MaxInt32/3 {
		return nil, fmt.Errorf("%w: %s (parts[%d]): mesh: %d triangles is over the limit of %d", ErrMalformed, p.label, i, len(p.triangles), math.MaxInt32/3)
	}
	return p, nil
}

func decodeConstraint(i int, raw []byte, byName map[string]*part) (constraint, error) {
	if c, ok := decodeConstraintFast(raw, byName); ok {
		return c, nil
	}
	where := fmt.Sprintf("constraints[%d]", i)
	obj, err := docjson.ParseObject(raw)
	if err != nil {
		return constraint{}, fmt.Errorf("%w: %s: %w", ErrMalformed, where, err)
	}
	if r, ok := obj.Get("name"); ok {
		var n string
		if json.Unmarshal(r, &n) == nil && n != "" {
			where = fmt.Sprintf("%s (%q)", where, n)
		}
	}
	child, err := obj.NonEmptyString("part")
	if err != nil {
		return constraint{}, fmt.Errorf("%w: %s: %w", ErrMalformed, where, err)
	}
	var c constraint
	if c.child = byName[child]; c.child == nil {
		return constraint{}, fmt.Errorf("%w: %s: part: no part named %q", ErrMalformed, where, child)
	}
	if _, ok := obj.Get("parent"); ok {
		parent, err := obj.NonEmptyString("parent")
		if err != nil {
			return constraint{}, fmt.Errorf("%w: %s: %w", ErrMalformed, where, err)
		}
		if c.parent = byName[parent]; c.parent == nil {
			return constraint{}, fmt.Errorf("%w: %s: parent: no part named %q", ErrMalformed, where, parent)
		}
	}
	return c, nil
}

// decodeConstraintFast decodes a constraint whose part and parent names are
// plain strings (see plainString) naming parts, which is what
// decodeConstraint makes of it; it reports false for any other, which
// decodeConstraint then decodes, or reports in error, as before. It makes
// no messages and no encoding/json calls: those cost several microseconds
// each under WebAssembly.
func decodeConstraintFast(raw []byte, byName map[string]*part) (constraint, bool) {
	obj, err := docjson.ParseObject(raw)
	if err != nil {
		return constraint{}, false
	}
	var c constraint
	r, ok := obj.Get("part")
	if !ok {
		return constraint{}, false
	}
	name, ok := plainString(r)
	if c.child = byName[name]; !ok || c.child == nil {
		return constraint{}, false
	}
	if r, ok := obj.Get("parent"); ok {
		name, ok := plainString(r)
		if c.parent = byName[name]; !ok || c.parent == nil {
			return constraint{}, false
		}
	}
	return c, true
}

// plainString returns the value of the JSON string raw, as
// docjson.Object.NonEmptyString would, when it is plain (docjson.PlainString)
// printable ASCII (so that %q writes it between quotes as it is) and not all
// spaces; otherwise it reports false.
func plainString(raw []byte) (string, bool) {
	s, ok := docjson.PlainString(raw)
	if !ok {
		return "", false
	}
	blank := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return "", false
		}
		blank = blank && s[i] == ' '
	}
	if blank {
		return "", false
	}
	return s, true
}

// faces returns the triangles whose indices are in range and distinct, and
// the index of each in the triangle list, in sc, good until its next use.
//
// Every triangle is written at the next slot and the slot is kept only when
// the triangle is valid, so that the loop has no branch per triangle (each
// is a dispatch under WebAssembly).
func (p *part) faces(sc *scratch) ([][3]int32, []int32) {
	n := uint64(len(p.vertices))
	sc.faces, sc.orig = resize(sc.faces, len(p.triangles)), resize(sc.orig, len(p.triangles))
	faces, orig := sc.faces, sc.orig
	k := 0
	for i := range p.triangles {
		t := &p.triangles[i]
		a, b, c := t[0], t[1], t[2]
		faces[k] = [3]int32{int32(a), int32(b), int32(c)}
		orig[k] = int32(i)
		// A negative index is huge as unsigned.
		inRange := max(uint64(a), uint64(b), uint64(c)) < n
		k += int(b2u8(inRange) & b2u8(a != b) & b2u8(b != c) & b2u8(a != c))
	}
	return faces[:k:k], orig[:k:k]
}

// hashParts runs the topo_hash step: TOPO_HASH_START, TOPO_HASH_PROGRESS with
// done = parts hashed, TOPO_HASH_END carrying the assembly hash. It also
// validates each part for export right after hashing it, and returns the
// reports for validateParts: a part's complex is then needed only while
// that part is worked on, so every part's is built in the same buffers.
// Allocating and clearing a complex per part costs several times as much
// under WebAssembly as natively, and dominates on small parts.
func hashParts(h sdk.Host, doc *document) (string, []report, error) {
	n := int64(len(doc.parts))
	var tris int
	for _, p := range doc.parts {
		tris += len(p.triangles)
	}
	if err := h.Emit(phases.TopoHashStart, 0, n, sdk.Clip(fmt.Sprintf("hashing %d %s (%d %s, %d %s)",
		n, plural(int(n), "part", "parts"), tris, plural(tris, "triangle", "triangles"),
		len(doc.constraints), plural(len(doc.constraints), "constraint", "constraints")))); err != nil {
		return "", nil, err
	}
	pr := sdk.NewProgress(h, phases.TopoHashProgress, n, 0)
	reports := make([]report, len(doc.parts))
	var sc scratch
	for i, p := range doc.parts {
		faces, orig := p.faces(&sc)
		c := buildComplex(len(p.vertices), faces, orig, &sc)
		p.hash = c.hash(&sc)
		if done := int64(i + 1); pr.Due(done) {
			if err := pr.Emit(done, fmt.Sprintf("%s: V=%d E=%d F=%d hash %s", p.label, c.nv, c.edges(), len(c.faces), p.hash[:16])); err != nil {
				return "", nil, err
			}
		}
		reports[i] = validate(c, p.vertices, p.triangles, p.hash, &sc)
	}
	ah := assemblyHash(doc)
	if err := h.Emit(phases.TopoHashEnd, n, n, fmt.Sprintf("assembly hash %s", ah)); err != nil {
		return "", nil, err
	}
	return ah, reports, nil
}

// validateParts runs the export_validation step: EXPORT_VALIDATION with
// done = parts validated. The parts were validated by hashParts; this
// reports them.
func validateParts(h sdk.Host, doc *document, reports []report) error {
	n := int64(len(doc.parts))
	pr := sdk.NewProgress(h, phases.ExportValidation, n, 0)
	for i, p := range doc.parts {
		if done := int64(i + 1); pr.Due(done) {
			msg := fmt.Sprintf("%s: ok", p.label)
			if r := reports[i]; !r.ExportOK {
				msg = fmt.Sprintf("%s: %d %s: %s", p.label, len(r.Problems), plural(len(r.Problems), "problem", "problems"), strings.Join(r.Problems, "; "))
			}
			if err := pr.Emit(done, msg); err != nil {
				return err
			}
		}
	}
	return nil
}

type summary struct {
	AssemblyHash string `json:"assembly_hash"`
	PartsOK      int    `json:"parts_ok"`
	PartsFailed  int    `json:"parts_failed"`
	ExportOK     bool   `json:"export_ok"`
}

func writeOutput(h sdk.Host, doc *document, assemblyHash string, reports []report) error {
	s := summary{AssemblyHash: assemblyHash}
	size := len(h.Input()) + 256
	for i, p := range doc.parts {
		b := appendReport(nil, &reports[i])
		p.obj.Set("topology", b)
		size += len(b) + 16
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
	doc.obj.Set("topology", b)
	// Every untouched member, meshes included, is copied as it came in.
	parts := make([]*docjson.Object, len(doc.parts))
	for i, p := range doc.parts {
		parts[i] = p.obj
	}
	out := doc.obj.AppendWithArray(make([]byte, 0, size), "parts", parts)
	return h.WriteOutput(out)
}

// appendReport appends r as json.Marshal encodes it, the same bytes
// (TestAppendReportMatchesMarshal), with the strings written by
// docjson.AppendString: json.Marshal's reflection costs tens of
// microseconds a report under WebAssembly.
func appendReport(buf []byte, r *report) []byte {
	buf = append(buf, `{"hash":`...)
	buf = docjson.AppendString(buf, r.Hash)
	buf = append(buf, `,"vertices":`...)
	buf = strconv.AppendInt(buf, int64(r.Vertices), 10)
	buf = append(buf, `,"edges":`...)
	buf = strconv.AppendInt(buf, int64(r.Edges), 10)
	buf = append(buf, `,"faces":`...)
	buf = strconv.AppendInt(buf, int64(r.Faces), 10)
	buf = append(buf, `,"components":`...)
	buf = strconv.AppendInt(buf, int64(r.Components), 10)
	buf = append(buf, `,"euler_characteristic":`...)
	buf = strconv.AppendInt(buf, int64(r.EulerCharacteristic), 10)
	buf = append(buf, `,"genus":`...)
	if r.Genus == nil {
		buf = append(buf, "null"...)
	} else {
		buf = strconv.AppendInt(buf, int64(*r.Genus), 10)
	}
	buf = append(buf, `,"watertight":`...)
	buf = strconv.AppendBool(buf, r.Watertight)
	buf = append(buf, `,"consistently_oriented":`...)
	buf = strconv.AppendBool(buf, r.ConsistentlyOriented)
	buf = append(buf, `,"degenerate_faces":`...)
	buf = strconv.AppendInt(buf, int64(r.DegenerateFaces), 10)
	buf = append(buf, `,"problems":`...)
	buf = docjson.AppendStrings(buf, r.Problems)
	buf = append(buf, `,"export_ok":`...)
	buf = strconv.AppendBool(buf, r.ExportOK)
	return append(buf, '}')
}
