// Package stage is the material stage of Phasehost: it resolves each part's
// material in a built-in library of engineering materials, applies per-part
// property overrides, and computes each part's volume, mass, centre of mass
// and inertia tensor from its closed triangle mesh.
//
// The stage passes the whole input document along: every field it does not
// know is kept, and it adds "material_properties" and "mass_properties" to each
// part and "material" to the document.
package stage

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	sdk "github.com/phasehost/phasehost/sdk/go"

	"github.com/phasehost/phasehost/plugins/material/phases"
	"github.com/phasehost/phasehost/sdk/go/docjson"
)

// Errors the stage wraps, so callers can tell the kinds of bad input apart
// with errors.Is.
var (
	// ErrMalformed is wrapped by errors about the document's structure.
	ErrMalformed = errors.New("malformed document")
	// ErrUnknownMaterial is wrapped when a part names a material the library
	// does not have.
	ErrUnknownMaterial = errors.New("unknown material")
	// ErrBadOverride is wrapped by errors about an entry of "overrides".
	ErrBadOverride = errors.New("invalid override")
	// ErrBadMesh is wrapped when a part's mesh has no valid mass properties:
	// an index out of range, or a signed volume that is not positive.
	ErrBadMesh = errors.New("invalid mesh")
)

// Property names, as they appear in overrides and in material_properties.
const (
	PropDensity       = "density_kg_m3"
	PropYoungsModulus = "youngs_modulus_pa"
	PropPoissonRatio  = "poisson_ratio"
	PropYieldStrength = "yield_strength_pa"
)

// propertyNames lists the overridable properties in their canonical order.
var propertyNames = []string{PropDensity, PropYoungsModulus, PropPoissonRatio, PropYieldStrength}

// Plausibility bounds for overridden values.
const (
	maxDensity       = 25000  // kg/m³; osmium, the densest element, is ~22590
	maxYoungsModulus = 1.5e12 // Pa; diamond is ~1.2e12
	maxYieldStrength = 1e11   // Pa; far above any bulk engineering material
)

// unitScale maps a document length unit to metres.
var unitScale = map[string]float64{"mm": 1e-3, "m": 1}

type mesh struct {
	vertices  [][3]float64
	triangles [][3]int32
}

type part struct {
	obj        *docjson.Object
	label      string // `part "name"`, for messages
	name       string
	material   string // as written in the document
	mesh       mesh
	mat        Material
	overridden map[string]bool
	props      unitProps
}

type document struct {
	obj       *docjson.Object
	units     string
	scale     float64
	parts     []*part
	byName    map[string]*part
	overrides []*docjson.Object
}

// Stage is the material stage. See the package documentation.
func Stage(h sdk.Host) error {
	doc, err := decodeDocument(h.Input())
	if err != nil {
		return err
	}
	if err := resolveLibrary(h, doc); err != nil {
		return err
	}
	if err := applyOverrides(h, doc); err != nil {
		return err
	}
	total, err := applyMassProperties(h, doc)
	if err != nil {
		return err
	}
	return writeOutput(h, doc, total)
}

func decodeDocument(in []byte) (*document, error) {
	// The parts, meshes included, are decoded in place while the top level
	// is split into members.
	top, parts, err := docjson.ParseDocument(in, "parts", ErrMalformed, decodePart)
	if err != nil {
		return nil, err
	}
	doc := &document{obj: top, units: "mm", parts: parts}
	if r, ok := top.Get("units"); ok {
		if err := json.Unmarshal(r, &doc.units); err != nil {
			return nil, fmt.Errorf("%w: units: want a string, got %s", ErrMalformed, docjson.Abbreviate(r))
		}
	}
	scale, ok := unitScale[doc.units]
	if !ok {
		return nil, fmt.Errorf("%w: units: unsupported unit %q (want \"mm\" or \"m\")", ErrMalformed, doc.units)
	}
	doc.scale = scale

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
	doc.byName = make(map[string]*part, len(doc.parts))
	for i, p := range doc.parts {
		if prev, dup := doc.byName[p.name]; dup {
			return nil, fmt.Errorf("%w: parts[%d]: duplicate part name %q (also parts[%d])", ErrMalformed, i, p.name, indexOf(doc.parts, prev))
		}
		doc.byName[p.name] = p
	}

	if r, ok := top.Get("overrides"); ok {
		rawOverrides, err := docjson.SplitArray(r)
		if err != nil {
			return nil, fmt.Errorf("%w: overrides: %w", ErrMalformed, err)
		}
		for i, ro := range rawOverrides {
			o, err := docjson.ParseObject(ro)
			if err != nil {
				return nil, fmt.Errorf("%w: overrides[%d]: %w", ErrBadOverride, i, err)
			}
			doc.overrides = append(doc.overrides, o)
		}
	}
	return doc, nil
}

func indexOf(ps []*part, p *part) int {
	for i, q := range ps {
		if q == p {
			return i
		}
	}
	return -1
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
	p := &part{obj: obj, overridden: map[string]bool{}}
	name, err := obj.NonEmptyString("name")
	if err != nil {
		return nil, fmt.Errorf("%w: parts[%d]: %w", ErrMalformed, i, err)
	}
	p.name = name
	p.label = fmt.Sprintf("part %q", name)
	if p.material, err = obj.NonEmptyString("material"); err != nil {
		return nil, fmt.Errorf("%w: %s (parts[%d]): %w", ErrMalformed, p.label, i, err)
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
	if p.mesh, err = checkMesh(m); err != nil {
		return nil, fmt.Errorf("%w: %s (parts[%d]): mesh: %w", meshErrorKind(err), p.label, i, err)
	}
	return p, nil
}

// errOutOfRange is a mesh whose triangles index past its vertices.
var errOutOfRange = errors.New("vertex index out of range")

func meshErrorKind(err error) error {
	if errors.Is(err, errOutOfRange) {
		return ErrBadMesh
	}
	return ErrMalformed
}

// checkMesh checks a parsed mesh's size and indices.
func checkMesh(m docjson.Mesh) (mesh, error) {
	if len(m.Triangles) == 0 {
		return mesh{}, errors.New("no triangles")
	}
	if len(m.Vertices) > math.MaxInt32 {
		return mesh{}, fmt.Errorf("%d vertices is over the limit of %d", len(m.Vertices), math.MaxInt32)
	}
	out := mesh{vertices: m.Vertices, triangles: make([][3]int32, len(m.Triangles))}
	n := int64(len(m.Vertices))
	// One test per triangle, on the indices as unsigned (a negative one is
	// then huge), and no inner loop: each taken branch is dear under
	// WebAssembly. The first bad index is looked for only on failure.
	for i := range m.Triangles {
		t := &m.Triangles[i]
		a, b, c := t[0], t[1], t[2]
		if uint64(a) >= uint64(n) || uint64(b) >= uint64(n) || uint64(c) >= uint64(n) {
			for k, idx := range t {
				if idx < 0 || idx >= n {
					return mesh{}, fmt.Errorf("triangles[%d][%d]: %w: %d is not in [0, %d)", i, k, errOutOfRange, idx, n)
				}
			}
		}
		out.triangles[i] = [3]int32{int32(a), int32(b), int32(c)}
	}
	return out, nil
}

// resolveLibrary looks up every distinct material name (case-insensitively),
// emitting MATERIAL_RESOLVE_LIBRARY with done = distinct names resolved.
func resolveLibrary(h sdk.Host, doc *document) error {
	type use struct {
		first *part
		parts []*part
	}
	var keys []string
	uses := map[string]*use{}
	for _, p := range doc.parts {
		k := strings.ToLower(strings.TrimSpace(p.material))
		u, ok := uses[k]
		if !ok {
			u = &use{first: p}
			uses[k] = u
			keys = append(keys, k)
		}
		u.parts = append(u.parts, p)
	}
	pr := sdk.NewProgress(h, phases.MaterialResolveLibrary, int64(len(keys)), 0)
	for i, k := range keys {
		u := uses[k]
		m, err := Lookup(u.first.material)
		if err != nil {
			return fmt.Errorf("%s: %w", u.first.label, err)
		}
		for _, p := range u.parts {
			p.mat = m
		}
		if done := int64(i + 1); pr.Due(done) {
			if err := pr.Emit(done, fmt.Sprintf("%s: %s (%d %s)", m.Name, m.DisplayName, len(u.parts), plural(len(u.parts), "part", "parts"))); err != nil {
				return err
			}
		}
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// applyOverrides applies each entry of "overrides" in order, emitting
// MATERIAL_OVERRIDE_PROPERTIES with done = overrides applied.
func applyOverrides(h sdk.Host, doc *document) error {
	n := int64(len(doc.overrides))
	if n == 0 {
		return h.Emit(phases.MaterialOverrideProperties, 0, 0, "no overrides")
	}
	pr := sdk.NewProgress(h, phases.MaterialOverrideProperties, n, 0)
	touched := []*part{}
	for i, o := range doc.overrides {
		p, set, err := applyOverride(doc, i, o)
		if err != nil {
			return err
		}
		if len(p.overridden) == 0 {
			touched = append(touched, p)
		}
		for _, k := range set {
			p.overridden[k] = true
		}
		if done := int64(i + 1); pr.Due(done) {
			if err := pr.Emit(done, fmt.Sprintf("%s: overrode %s", p.label, strings.Join(set, ", "))); err != nil {
				return err
			}
		}
	}
	for _, p := range touched {
		if p.mat.YieldStrengthPa >= p.mat.YoungsModulusPa {
			return fmt.Errorf("%w: %s: %s %g is not below %s %g", ErrBadOverride, p.label,
				PropYieldStrength, p.mat.YieldStrengthPa, PropYoungsModulus, p.mat.YoungsModulusPa)
		}
	}
	return nil
}

// applyOverride validates overrides[i] and applies it to its part's material,
// returning the part and the properties it set, in canonical order.
func applyOverride(doc *document, i int, o *docjson.Object) (*part, []string, error) {
	where := fmt.Sprintf("overrides[%d]", i)
	name, err := o.NonEmptyString("part")
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrBadOverride, where, err)
	}
	where = fmt.Sprintf("%s (part %q)", where, name)
	p, ok := doc.byName[name]
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s: no part named %q in the document", ErrBadOverride, where, name)
	}
	for _, m := range o.Members() {
		if k := m.Key; k != "part" && !isProperty(k) {
			return nil, nil, fmt.Errorf("%w: %s: unknown property %q (known: %s)", ErrBadOverride, where, k, strings.Join(propertyNames, ", "))
		}
	}
	var set []string
	m := p.mat
	for _, k := range propertyNames {
		r, ok := o.Lookup(k)
		if !ok {
			continue
		}
		var v float64
		if err := json.Unmarshal(r, &v); err != nil || docjson.IsNull(r) {
			return nil, nil, fmt.Errorf("%w: %s: %s: want a number, got %s", ErrBadOverride, where, k, docjson.Abbreviate(r))
		}
		if err := checkProperty(k, v); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrBadOverride, where, err)
		}
		switch k {
		case PropDensity:
			m.DensityKgM3 = v
		case PropYoungsModulus:
			m.YoungsModulusPa = v
		case PropPoissonRatio:
			m.PoissonRatio = v
		case PropYieldStrength:
			m.YieldStrengthPa = v
		}
		set = append(set, k)
	}
	if len(set) == 0 {
		return nil, nil, fmt.Errorf("%w: %s: sets no property (known: %s)", ErrBadOverride, where, strings.Join(propertyNames, ", "))
	}
	p.mat = m
	return p, set, nil
}

func isProperty(k string) bool {
	for _, n := range propertyNames {
		if n == k {
			return true
		}
	}
	return false
}

// checkProperty rejects non-positive and physically implausible values.
func checkProperty(k string, v float64) error {
	switch k {
	case PropPoissonRatio:
		if !(v > -1 && v < 0.5) {
			return fmt.Errorf("%s %g is outside (-1, 0.5)", k, v)
		}
		return nil
	}
	if !(v > 0) {
		return fmt.Errorf("%s %g is not positive", k, v)
	}
	var hi float64
	switch k {
	case PropDensity:
		hi = maxDensity
	case PropYoungsModulus:
		hi = maxYoungsModulus
	case PropYieldStrength:
		hi = maxYieldStrength
	}
	if v > hi {
		return fmt.Errorf("%s %g is implausibly large (over %g)", k, v, hi)
	}
	return nil
}

// totals are the assembly's mass properties.
type totals struct {
	mass    float64       // kg
	com     [3]float64    // document units
	inertia [3][3]float64 // kg·m² about com
}

// applyMassProperties integrates every part's mesh, emitting MATERIAL_APPLY_*
// with done = triangles integrated over all parts.
func applyMassProperties(h sdk.Host, doc *document) (totals, error) {
	var total int64
	for _, p := range doc.parts {
		total += int64(len(p.mesh.triangles))
	}
	if err := h.Emit(phases.MaterialApplyStart, 0, total, sdk.Clip(fmt.Sprintf("integrating %d triangles over %d %s", total, len(doc.parts), plural(len(doc.parts), "part", "parts")))); err != nil {
		return totals{}, err
	}
	pr := sdk.NewProgress(h, phases.MaterialApplyProgress, total, 0)
	var done int64
	for _, p := range doc.parts {
		tris := p.mesh.triangles
		in := integrals{ref: boundsCentre(p.mesh.vertices)}
		for lo := 0; lo < len(tris); {
			hi := lo + int(min(pr.Until(done), int64(len(tris)-lo)))
			in.add(p.mesh.vertices, tris[lo:hi])
			done += int64(hi - lo)
			lo = hi
			if pr.Due(done) {
				if err := pr.Emit(done, fmt.Sprintf("%s: %d/%d triangles", p.label, lo, len(tris))); err != nil {
					return totals{}, err
				}
			}
		}
		p.props = in.result()
		if !(p.props.volume > 0) {
			return totals{}, fmt.Errorf("%w: %s: signed volume %g %s³ is not positive: the mesh is inverted (triangles must be counter-clockwise seen from outside) or not closed",
				ErrBadMesh, p.label, p.props.volume, doc.units)
		}
		if !finiteProps(p.props) {
			return totals{}, fmt.Errorf("%w: %s: mass properties overflow (coordinates too large)", ErrBadMesh, p.label)
		}
	}
	t := assemblyTotals(doc)
	if err := h.Emit(phases.MaterialApplyEnd, total, total, fmt.Sprintf("total mass %.6g kg over %d %s", t.mass, len(doc.parts), plural(len(doc.parts), "part", "parts"))); err != nil {
		return totals{}, err
	}
	return t, nil
}

func finiteProps(p unitProps) bool {
	ok := !math.IsInf(p.volume, 0) && !math.IsNaN(p.volume)
	for i := range 3 {
		ok = ok && !math.IsInf(p.com[i], 0) && !math.IsNaN(p.com[i])
		for j := range 3 {
			ok = ok && !math.IsInf(p.inertia[i][j], 0) && !math.IsNaN(p.inertia[i][j])
		}
	}
	return ok
}

// partMass returns the part's volume (m³), mass (kg) and inertia (kg·m²).
func partMass(doc *document, p *part) (vol, mass float64, inertia [3][3]float64) {
	s := doc.scale
	vol = p.props.volume * s * s * s
	mass = p.mat.DensityKgM3 * vol
	k := p.mat.DensityKgM3 * s * s * s * s * s
	for i := range 3 {
		for j := range 3 {
			inertia[i][j] = p.props.inertia[i][j]*k + 0 // + 0 turns -0 into 0
		}
	}
	return vol, mass, inertia
}

// assemblyTotals combines the parts with the parallel-axis theorem.
func assemblyTotals(doc *document) totals {
	var t totals
	for _, p := range doc.parts {
		_, m, _ := partMass(doc, p)
		t.mass += m
		for k := range 3 {
			t.com[k] += m * p.props.com[k]
		}
	}
	for k := range 3 {
		t.com[k] /= t.mass
	}
	for _, p := range doc.parts {
		_, m, ic := partMass(doc, p)
		var d [3]float64
		for k := range 3 {
			d[k] = (p.props.com[k] - t.com[k]) * doc.scale
		}
		dd := d[0]*d[0] + d[1]*d[1] + d[2]*d[2]
		for i := range 3 {
			for j := range 3 {
				shift := -m * d[i] * d[j]
				if i == j {
					shift += m * dd
				}
				t.inertia[i][j] += ic[i][j] + shift + 0
			}
		}
	}
	return t
}

type materialProperties struct {
	Name            string   `json:"name"`
	DisplayName     string   `json:"display_name"`
	DensityKgM3     float64  `json:"density_kg_m3"`
	YoungsModulusPa float64  `json:"youngs_modulus_pa"`
	PoissonRatio    float64  `json:"poisson_ratio"`
	YieldStrengthPa float64  `json:"yield_strength_pa"`
	Overridden      []string `json:"overridden"`
}

type massProperties struct {
	VolumeM3     float64       `json:"volume_m3"`
	MassKg       float64       `json:"mass_kg"`
	CenterOfMass [3]float64    `json:"center_of_mass"`
	InertiaKgM2  [3][3]float64 `json:"inertia_kg_m2"`
}

type summary struct {
	TotalMassKg  float64       `json:"total_mass_kg"`
	CenterOfMass [3]float64    `json:"center_of_mass"`
	InertiaKgM2  [3][3]float64 `json:"inertia_kg_m2"`
	Parts        int           `json:"parts"`
	Units        string        `json:"units"`
}

func writeOutput(h sdk.Host, doc *document, t totals) error {
	for _, p := range doc.parts {
		overridden := []string{}
		for _, k := range propertyNames {
			if p.overridden[k] {
				overridden = append(overridden, k)
			}
		}
		vol, mass, inertia := partMass(doc, p)
		mp, err := json.Marshal(materialProperties{
			Name: p.mat.Name, DisplayName: p.mat.DisplayName,
			DensityKgM3: p.mat.DensityKgM3, YoungsModulusPa: p.mat.YoungsModulusPa,
			PoissonRatio: p.mat.PoissonRatio, YieldStrengthPa: p.mat.YieldStrengthPa,
			Overridden: overridden,
		})
		if err != nil {
			return fmt.Errorf("encoding %s material_properties: %w", p.label, err)
		}
		ms, err := json.Marshal(massProperties{VolumeM3: vol, MassKg: mass, CenterOfMass: p.props.com, InertiaKgM2: inertia})
		if err != nil {
			return fmt.Errorf("encoding %s mass_properties: %w", p.label, err)
		}
		p.obj.Set("material_properties", mp)
		p.obj.Set("mass_properties", ms)
	}
	sm, err := json.Marshal(summary{TotalMassKg: t.mass, CenterOfMass: t.com, InertiaKgM2: t.inertia, Parts: len(doc.parts), Units: doc.units})
	if err != nil {
		return fmt.Errorf("encoding material summary: %w", err)
	}
	doc.obj.Set("material", sm)
	// Every untouched member, meshes included, is copied as it came in.
	size := len(h.Input()) + len(sm)
	for _, p := range doc.parts {
		mp, _ := p.obj.Lookup("material_properties")
		ms, _ := p.obj.Lookup("mass_properties")
		size += len(mp) + len(ms) + 64
	}
	parts := make([]*docjson.Object, len(doc.parts))
	for i, p := range doc.parts {
		parts[i] = p.obj
	}
	out := doc.obj.AppendWithArray(make([]byte, 0, size), "parts", parts)
	return h.WriteOutput(out)
}
