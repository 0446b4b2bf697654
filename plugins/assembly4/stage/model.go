package stage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
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

// rotationJSON is an axis-angle rotation as it appears in the document.
type rotationJSON struct {
	Axis     []float64 `json:"axis"`
	AngleDeg float64   `json:"angle_deg"`
}

// lcsJSON is a local coordinate system on a part.
type lcsJSON struct {
	Origin   []float64     `json:"origin"`
	Rotation *rotationJSON `json:"rotation"`
}

// placementJSON is a grounded part's placement in the input.
type placementJSON struct {
	Position []float64     `json:"position"`
	Rotation *rotationJSON `json:"rotation"`
}

// constraint is one attachment: part's LCS coincides with parent's LCS.
type constraint struct {
	Name      string `json:"name"`
	Part      string `json:"part"`
	LCS       string `json:"lcs"`
	Parent    string `json:"parent"`
	ParentLCS string `json:"parent_lcs"`

	part, parent int // indexes into assembly.parts, set by check
}

// part is one part of the document: the fields the stage uses, and the
// decoded object that carries every other field through.
type part struct {
	name      string
	obj       *object
	grounded  bool
	lcs       map[string]mat4
	verts     []float64 // x,y,z triples in part coordinates, then in assembly coordinates
	placement mat4
}

// assembly is the decoded document and, after check, its solve order.
type assembly struct {
	doc         *object
	parts       []*part
	byName      map[string]int
	constraints []constraint
	via         []int // per part: the constraint attaching it, -1 if grounded
	order       []int // part indexes in solve (topological) order
	vertices    int64
}

// decode reads the input document.
func decode(input []byte) (*assembly, error) {
	if err := docjson.Check(input); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	doc, err := decodeObject(input)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	a := &assembly{doc: doc, byName: map[string]int{}}
	if raw := doc.get("units"); raw != nil {
		var units string
		if err := json.Unmarshal(raw, &units); err != nil {
			return nil, fmt.Errorf("%w: units: %w", ErrInvalidDocument, err)
		}
		if units != "" && units != "mm" && units != "m" {
			return nil, fmt.Errorf("%w: units %q: want \"mm\" or \"m\"", ErrInvalidDocument, units)
		}
	}
	rawParts, err := splitArray(doc.get("parts"))
	if err != nil {
		return nil, fmt.Errorf("%w: parts: %w", ErrInvalidDocument, err)
	}
	for i, raw := range rawParts {
		p, err := decodePart(raw)
		if err != nil {
			if p != nil {
				return nil, fmt.Errorf("%w: part %d %q: %w", ErrInvalidDocument, i, p.name, err)
			}
			return nil, fmt.Errorf("%w: part %d: %w", ErrInvalidDocument, i, err)
		}
		if j, dup := a.byName[p.name]; dup {
			return nil, fmt.Errorf("%w: part %d: name %q is already used by part %d", ErrInvalidDocument, i, p.name, j)
		}
		a.byName[p.name] = i
		a.parts = append(a.parts, p)
		a.vertices += int64(len(p.verts) / 3)
	}
	if raw := doc.get("constraints"); raw != nil {
		if err := json.Unmarshal(raw, &a.constraints); err != nil {
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

// decodePart reads one part object. Once the part's name is known, an error
// comes with the part so that the caller can name it.
func decodePart(raw json.RawMessage) (*part, error) {
	obj, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	p := &part{obj: obj, lcs: map[string]mat4{}, placement: identity()}
	if err := unmarshalField(obj, "name", &p.name); err != nil {
		return nil, err
	}
	if p.name == "" {
		return nil, errors.New(`missing "name"`)
	}
	fail := func(format string, args ...any) (*part, error) { return p, fmt.Errorf(format, args...) }
	if err := unmarshalField(obj, "grounded", &p.grounded); err != nil {
		return p, err
	}
	var placement *placementJSON
	if err := unmarshalField(obj, "placement", &placement); err != nil {
		return p, err
	}
	if placement != nil && p.grounded {
		if p.placement, err = toTransform(placement.Position, "position", placement.Rotation); err != nil {
			return fail("placement: %w", err)
		}
	}
	var lcs map[string]lcsJSON
	if err := unmarshalField(obj, "lcs", &lcs); err != nil {
		return p, err
	}
	for _, name := range sortedKeys(lcs) {
		if p.lcs[name], err = toTransform(lcs[name].Origin, "origin", lcs[name].Rotation); err != nil {
			return fail("LCS %q: %w", name, err)
		}
	}
	if mraw := obj.get("mesh"); mraw != nil && !isNull(mraw) {
		mesh, err := decodeObject(mraw)
		if err != nil {
			return fail("mesh: %w", err)
		}
		if vraw := mesh.get("vertices"); vraw != nil && !isNull(vraw) {
			if p.verts, err = parseVertices(vraw); err != nil {
				return fail("mesh: %w", err)
			}
			mesh.set("vertices", func(buf []byte) ([]byte, error) { return appendVertices(buf, p.verts) })
			obj.set("mesh", mesh.appendTo)
		}
	}
	return p, nil
}

// unmarshalField decodes obj's member key into v, leaving v alone when the
// member is absent.
func unmarshalField(obj *object, key string, v any) error {
	raw := obj.get(key)
	if raw == nil {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// toTransform builds the transform of an origin (called what in errors) and
// an optional rotation.
func toTransform(origin []float64, what string, rot *rotationJSON) (mat4, error) {
	o, err := vec3(origin, what)
	if err != nil {
		return mat4{}, err
	}
	if rot == nil {
		return rigid(o, [3]float64{}, 0)
	}
	axis, err := vec3(rot.Axis, "rotation axis")
	if err != nil {
		return mat4{}, err
	}
	return rigid(o, axis, rot.AngleDeg)
}

func vec3(v []float64, what string) ([3]float64, error) {
	switch len(v) {
	case 0:
		return [3]float64{}, nil
	case 3:
		return [3]float64{v[0], v[1], v[2]}, nil
	}
	return [3]float64{}, fmt.Errorf("%s has %d coordinates, want 3", what, len(v))
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
		if _, ok := a.parts[c.part].lcs[c.LCS]; !ok {
			return fmt.Errorf("constraint %q: %w %q on part %q", c.Name, ErrUnknownLCS, c.LCS, c.Part)
		}
		if _, ok := a.parts[c.parent].lcs[c.ParentLCS]; !ok {
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
