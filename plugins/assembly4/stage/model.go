package stage

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/phasehost/phasehost/sdk/go/docjson"
)

// Errors wrapped by the errors Stage returns, for errors.Is.
var (
	// ErrInvalidDocument means the input is not a well-formed assembly document.
	ErrInvalidDocument = errors.New("invalid document")
	// ErrUnknownPart means a constraint names a part that does not exist.
	ErrUnknownPart = errors.New("unknown part")
	// ErrUnknownLCS means a constraint names an LCS its part does not have.
	ErrUnknownLCS = errors.New("unknown LCS")
	// ErrCycle means parts are attached to each other in a loop.
	ErrCycle = errors.New("constraint cycle")
	// ErrOverConstrained means a part is attached by more than one constraint,
	// or is grounded and also attached.
	ErrOverConstrained = errors.New("over-constrained")
	// ErrUnderConstrained means a part is neither grounded nor attached.
	ErrUnderConstrained = errors.New("under-constrained")
	// ErrNoGround means no part is grounded, so nothing anchors the assembly.
	ErrNoGround = errors.New("no grounded part")
)

// constraint is one attachment: part's LCS coincides with parent's LCS.
type constraint struct {
	Name      string `json:"name"`
	Part      string `json:"part"`
	LCS       string `json:"lcs"`
	Parent    string `json:"parent"`
	ParentLCS string `json:"parent_lcs"`

	part, parent   int // indexes into assembly.parts, set by check
	lcs, parentLCS int // indexes into the parts' lcs, set by check
}

// part is one part of the document: the fields the stage uses, and the
// decoded object that carries every other field through.
type part struct {
	name      string
	obj       *docjson.Object
	mesh      *docjson.Object // the part's mesh, when its vertices are rewritten; else nil
	grounded  bool
	lcs       []lcs        // sorted by name
	verts     [][3]float64 // in part coordinates, then in assembly coordinates
	placement mat4

	// What decodePart found wrong with the part, reported by decode once the
	// parts array is known to be the document's last "parts"; named tells
	// whether the part's name was read before the fault.
	err   error
	named bool

	// The part's last "mesh" object and the vertices of its last "vertices"
	// array, as the scanner parsed them in place (see decodePart).
	scanned       *docjson.Object
	scannedVerts  [][3]float64
	scannedHasVts bool
}

// lcs is a part's LCS as a transform.
type lcs struct {
	name string
	m    mat4
}

// findLCS returns the index of p's LCS name, or -1.
func (p *part) findLCS(name string) int {
	i, ok := slices.BinarySearchFunc(p.lcs, name, func(l lcs, name string) int { return strings.Compare(l.name, name) })
	if !ok {
		return -1
	}
	return i
}

// assembly is the decoded document and, after check, its solve order.
type assembly struct {
	doc         *docjson.Object
	parts       []*part
	byName      map[string]int
	constraints []constraint
	via         []int // per part: the constraint attaching it, -1 if grounded
	order       []int // part indexes in solve (topological) order
	vertices    int64
}

// errRescan stops the one-pass parse of a document whose mesh vertices
// docjson cannot parse, for decode to read it again member by member and
// say what is wrong (or, in the parts arrays and members a repeated key
// overrides, not: the last value of a key counts).
var errRescan = errors.New("rescan")

// decode reads the input document. The document is checked and split in one
// pass (docjson.ParseDocumentWith), the parts' meshes decoded in place on the
// way, so that the large vertex arrays are read once. The meshes' triangles
// are only checked, not parsed: they are copied through as they came.
func decode(input []byte) (*assembly, error) {
	if c := firstByte(input); c != '{' {
		if err := docjson.Check(input); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
		}
		return nil, fmt.Errorf("%w: want a JSON object, got %s", ErrInvalidDocument, docjson.Kind(c))
	}
	doc, parts, err := docjson.ParseDocumentWith(input, "parts", ErrInvalidDocument, docjson.ParseOptions{RawTriangles: true}, decodePart)
	if errors.Is(err, errRescan) {
		doc, parts, err = rescan(input)
	}
	if err != nil {
		return nil, err
	}
	a := &assembly{doc: doc, byName: map[string]int{}}
	if raw, ok := doc.Lookup("units"); ok {
		var units string
		if err := decodeString(raw, &units); err != nil {
			return nil, fmt.Errorf("%w: units: %w", ErrInvalidDocument, err)
		}
		if units != "" && units != "mm" && units != "m" {
			return nil, fmt.Errorf("%w: units %q: want \"mm\" or \"m\"", ErrInvalidDocument, units)
		}
	}
	// An absent or null "parts" is no parts; ParseDocument's elements are
	// those of the last "parts" when that is an array.
	if raw, ok := doc.Get("parts"); !ok {
		parts = nil
	} else if raw[0] != '[' {
		return nil, fmt.Errorf("%w: parts: want an array, got %s", ErrInvalidDocument, docjson.Kind(raw[0]))
	}
	for i, p := range parts {
		if p.err == nil {
			p.err = p.fill()
		}
		if p.err != nil {
			if p.named {
				return nil, fmt.Errorf("%w: part %d %q: %w", ErrInvalidDocument, i, p.name, p.err)
			}
			return nil, fmt.Errorf("%w: part %d: %w", ErrInvalidDocument, i, p.err)
		}
		if j, dup := a.byName[p.name]; dup {
			return nil, fmt.Errorf("%w: part %d: name %q is already used by part %d", ErrInvalidDocument, i, p.name, j)
		}
		a.byName[p.name] = i
		a.parts = append(a.parts, p)
		a.vertices += int64(len(p.verts))
	}
	if raw, ok := doc.Lookup("constraints"); ok {
		if err := decodeConstraints(raw, &a.constraints); err != nil {
			return nil, fmt.Errorf("%w: constraints: %w", ErrInvalidDocument, err)
		}
	}
	seen := map[string]int{}
	for i, c := range a.constraints {
		for _, f := range [...]struct{ key, val string }{
			{"name", c.Name}, {"part", c.Part}, {"lcs", c.LCS}, {"parent", c.Parent}, {"parent_lcs", c.ParentLCS},
		} {
			if f.val == "" {
				return nil, fmt.Errorf("%w: constraint %d %q: missing %q", ErrInvalidDocument, i, c.Name, f.key)
			}
		}
		if j, dup := seen[c.Name]; dup {
			return nil, fmt.Errorf("%w: constraint %d: name %q is already used by constraint %d", ErrInvalidDocument, i, c.Name, j)
		}
		seen[c.Name] = i
	}
	return a, nil
}

// firstByte returns the first byte of data that is no JSON white space, or
// 0 at the end.
func firstByte(data []byte) byte {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

// decodePart reads one element of the document's "parts" with the scanner
// at it, splitting it into members and parsing its mesh's vertices in place
// (ParseDocument parsed them while checking the input: the scanner hands
// them over). What is wrong with the part is kept in it for decode, which
// reports it only if this array is the last "parts"; the only error
// returned is errRescan.
func decodePart(_ int, s *docjson.Scanner) (*part, error) {
	p := &part{placement: identity()}
	if c := s.Peek(); c != '{' {
		s.Value()
		p.err = fmt.Errorf("want a JSON object, got %s", docjson.Kind(c))
		return p, nil
	}
	obj, err := s.Object(func(key string, s *docjson.Scanner) (bool, error) {
		if key != "mesh" || s.Peek() != '{' {
			return false, nil
		}
		p.scannedVerts, p.scannedHasVts = nil, false
		mesh, err := s.Object(func(key string, s *docjson.Scanner) (bool, error) {
			if key != "vertices" || s.Peek() != '[' {
				return false, nil
			}
			v, err := s.Vertices()
			if err != nil {
				// The scanner is somewhere inside the array: start over.
				return false, errRescan
			}
			p.scannedVerts, p.scannedHasVts = v, true
			return true, nil
		})
		p.scanned = mesh
		return true, err
	})
	if err != nil {
		return nil, err
	}
	p.obj = obj
	return p, nil
}

// rescan is ParseDocument's result for an input it stopped at with
// errRescan: the document's members, and the elements of its last "parts"
// split and then parsed one by one (see parseVertices).
func rescan(input []byte) (*docjson.Object, []*part, error) {
	doc, err := docjson.ParseObject(input)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	raw, ok := doc.Get("parts")
	if !ok || raw[0] != '[' {
		return doc, nil, nil
	}
	elems, err := docjson.SplitArray(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: parts: %w", ErrInvalidDocument, err)
	}
	parts := make([]*part, len(elems))
	for i, e := range elems {
		p := &part{placement: identity()}
		if e[0] != '{' {
			p.err = fmt.Errorf("want a JSON object, got %s", docjson.Kind(e[0]))
		} else if p.obj, err = docjson.ParseObject(e); err != nil {
			p.err = err
		}
		parts[i] = p
	}
	return doc, parts, nil
}

// fill reads the part's fields from its members, once the part is known to
// be one of the document's: name first, so that later errors can name the
// part (named).
func (p *part) fill() error {
	obj := p.obj
	if err := field(obj, "name", func(raw []byte) error { return decodeString(raw, &p.name) }); err != nil {
		return err
	}
	if p.name == "" {
		return errors.New(`missing "name"`)
	}
	p.named = true
	if err := field(obj, "grounded", func(raw []byte) error { return decodeBool(raw, &p.grounded) }); err != nil {
		return err
	}
	var placement frame
	var placed bool
	if err := field(obj, "placement", func(raw []byte) (err error) {
		placement, placed, err = decodePlacement(raw)
		return err
	}); err != nil {
		return err
	}
	var err error
	if placed && p.grounded {
		if p.placement, err = toTransform(placement, "position"); err != nil {
			return fmt.Errorf("placement: %w", err)
		}
	}
	var frames []namedFrame
	if err := field(obj, "lcs", func(raw []byte) (err error) {
		frames, err = decodeLCS(raw)
		return err
	}); err != nil {
		return err
	}
	p.lcs = make([]lcs, len(frames))
	for i, f := range frames {
		p.lcs[i].name = f.name
		if p.lcs[i].m, err = toTransform(f.frame, "origin"); err != nil {
			return fmt.Errorf("LCS %q: %w", f.name, err)
		}
	}
	mraw, ok := obj.Get("mesh")
	if !ok {
		return nil
	}
	if mraw[0] != '{' {
		return fmt.Errorf("mesh: want a JSON object, got %s", docjson.Kind(mraw[0]))
	}
	// The last "mesh" is an object: the one the scanner split, if it did.
	mesh := p.scanned
	if mesh == nil {
		if mesh, err = docjson.ParseObject(mraw); err != nil {
			return fmt.Errorf("mesh: %w", err)
		}
	}
	vraw, ok := mesh.Get("vertices")
	if !ok {
		return nil
	}
	// The last "vertices" is not null: the array the scanner parsed, if it
	// did and that is it.
	if p.scannedHasVts && vraw[0] == '[' {
		p.verts = p.scannedVerts
	} else if p.verts, err = parseVertices(vraw); err != nil {
		return fmt.Errorf("mesh: %w", err)
	}
	p.mesh = mesh
	p.scanned, p.scannedVerts = nil, nil
	return nil
}

// field decodes obj's member key with decode, leaving the value alone when
// the member is absent; an error names the member.
func field(obj *docjson.Object, key string, decode func(raw []byte) error) error {
	raw, ok := obj.Lookup(key)
	if !ok {
		return nil
	}
	if err := decode(raw); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// toTransform builds the transform of f: its origin (called what in
// errors) and optional rotation.
func toTransform(f frame, what string) (mat4, error) {
	o, err := vec3(f.origin, what)
	if err != nil {
		return mat4{}, err
	}
	if !f.rotated {
		return rigid(o, [3]float64{}, 0)
	}
	axis, err := vec3(f.axis, "rotation axis")
	if err != nil {
		return mat4{}, err
	}
	return rigid(o, axis, f.angle)
}

func vec3(v coords, what string) ([3]float64, error) {
	switch v.n {
	case 0:
		return [3]float64{}, nil
	case 3:
		return v.v, nil
	}
	return [3]float64{}, fmt.Errorf("%s has %d coordinates, want 3", what, v.n)
}

// check resolves the constraints' names and checks the constraint graph:
// every part is grounded or attached by exactly one constraint, at least one
// part is grounded, and there is no cycle. It then sets the solve order.
func (a *assembly) check() error {
	attached := make([][]int, len(a.parts))
	for i := range a.constraints {
		c := &a.constraints[i]
		var ok bool
		if c.part, ok = a.byName[c.Part]; !ok {
			return fmt.Errorf("constraint %q: %w %q", c.Name, ErrUnknownPart, c.Part)
		}
		if c.parent, ok = a.byName[c.Parent]; !ok {
			return fmt.Errorf("constraint %q: %w %q (as parent)", c.Name, ErrUnknownPart, c.Parent)
		}
		if c.lcs = a.parts[c.part].findLCS(c.LCS); c.lcs < 0 {
			return fmt.Errorf("constraint %q: %w %q on part %q", c.Name, ErrUnknownLCS, c.LCS, c.Part)
		}
		if c.parentLCS = a.parts[c.parent].findLCS(c.ParentLCS); c.parentLCS < 0 {
			return fmt.Errorf("constraint %q: %w %q on parent part %q", c.Name, ErrUnknownLCS, c.ParentLCS, c.Parent)
		}
		attached[c.part] = append(attached[c.part], i)
	}
	a.via = make([]int, len(a.parts))
	grounded := 0
	var loose []string
	for i, p := range a.parts {
		by := attached[i]
		switch {
		case p.grounded && len(by) > 0:
			return fmt.Errorf("%w: grounded part %q is also attached by %s", ErrOverConstrained, p.name, a.constraintList(by))
		case len(by) > 1:
			return fmt.Errorf("%w: part %q is attached by %d %s, want one", ErrOverConstrained, p.name, len(by), a.constraintList(by))
		case p.grounded:
			a.via[i] = -1
			grounded++
		case len(by) == 1:
			a.via[i] = by[0]
		default:
			loose = append(loose, fmt.Sprintf("%q", p.name))
		}
	}
	if grounded == 0 {
		return fmt.Errorf(`%w: mark at least one part "grounded": true`, ErrNoGround)
	}
	switch len(loose) {
	case 0:
	case 1:
		return fmt.Errorf("%w: part %s is neither grounded nor attached by a constraint", ErrUnderConstrained, loose[0])
	default:
		return fmt.Errorf("%w: parts %s are neither grounded nor attached by a constraint", ErrUnderConstrained, strings.Join(loose, ", "))
	}
	return a.sortTopologically()
}

// constraintList renders constraint names for a message: `constraint "a"` or
// `constraints "a", "b"`.
func (a *assembly) constraintList(idx []int) string {
	names := make([]string, len(idx))
	for i, c := range idx {
		names[i] = fmt.Sprintf("%q", a.constraints[c].Name)
	}
	if len(names) == 1 {
		return "constraint " + names[0]
	}
	return "constraints " + strings.Join(names, ", ")
}

// sortTopologically sets a.order: grounded parts in input order, then every
// attached part after its parent (breadth first, children in constraint
// order). Parts it cannot reach lie on or behind a cycle, which it reports.
func (a *assembly) sortTopologically() error {
	children := make([][]int, len(a.parts))
	for i, c := range a.constraints {
		children[c.parent] = append(children[c.parent], i)
	}
	placed := make([]bool, len(a.parts))
	a.order = make([]int, 0, len(a.parts))
	for i, p := range a.parts {
		if p.grounded {
			a.order = append(a.order, i)
			placed[i] = true
		}
	}
	for k := 0; k < len(a.order); k++ {
		for _, c := range children[a.order[k]] {
			child := a.constraints[c].part
			a.order = append(a.order, child)
			placed[child] = true
		}
	}
	if len(a.order) == len(a.parts) {
		return nil
	}
	// Every unplaced part is attached (check ruled out loose parts), so
	// following parents from one must come back to a part already seen.
	start := slices.Index(placed, false)
	seenAt := map[int]int{}
	var path []int
	for p := start; ; p = a.constraints[a.via[p]].parent {
		if k, ok := seenAt[p]; ok {
			path = path[k:]
			break
		}
		seenAt[p] = len(path)
		path = append(path, p)
	}
	names := make([]string, 0, len(path)+1)
	via := make([]int, 0, len(path))
	for _, p := range path {
		names = append(names, fmt.Sprintf("%q", a.parts[p].name))
		via = append(via, a.via[p])
	}
	names = append(names, names[0])
	return fmt.Errorf("%w: %s (via %s; each part is attached to the next)", ErrCycle, strings.Join(names, " -> "), a.constraintList(via))
}
