package example

import (
	"fmt"
	"math"
)

// Limits of Generate's arguments.
const (
	MaxParts     = 100_000
	MaxDetail    = 1_000
	MaxTriangles = 20_000_000 // over all parts
)

// shapes Generate cycles through, in order.
var shapes = [...]string{"box", "cylinder", "ring", "torus"}

// Generate returns a synthetic assembly of parts parts as compact JSON (see
// GenerateDocument).
func Generate(parts, detail int) ([]byte, error) {
	d, err := GenerateDocument(parts, detail)
	if err != nil {
		return nil, err
	}
	return Marshal(d, false)
}

// GenerateDocument builds a synthetic assembly of parts parts, deterministic
// for its arguments. Part 0 is a grounded box; every other part i is attached
// to part i-1 (chains) or, when i is a multiple of 3, to part i/3 (branches),
// through LCS with non-trivial rotations. Shapes cycle over box, cylinder,
// ring and torus and materials over the library (Materials); there is one
// override per 10 parts. Triangles per part grow with detail: 12·detail² for
// a box, about 8·detail² for a cylinder, 16·detail² for a torus and 32·detail
// for a ring.
func GenerateDocument(parts, detail int) (*Document, error) {
	if parts < 1 || parts > MaxParts {
		return nil, fmt.Errorf("generate: %d parts: want 1 to %d", parts, MaxParts)
	}
	if detail < 1 || detail > MaxDetail {
		return nil, fmt.Errorf("generate: detail %d: want 1 to %d", detail, MaxDetail)
	}
	if n := estimateTriangles(parts, detail); n > MaxTriangles {
		return nil, fmt.Errorf("generate: %d parts at detail %d make about %d triangles: want at most %d", parts, detail, n, MaxTriangles)
	}
	d := &Document{Assembly: fmt.Sprintf("generated-%d-%d", parts, detail), Units: "mm"}
	names := make([]string, parts)
	for i := 0; i < parts; i++ {
		p, err := generatePart(i, detail)
		if err != nil {
			return nil, fmt.Errorf("generate: part %d: %w", i, err)
		}
		names[i] = p.Name
		d.Parts = append(d.Parts, p)
		if i == 0 {
			continue
		}
		parent, parentLCS := i-1, "LCS_Top"
		if i%3 == 0 {
			parent = i / 3
		}
		if i%2 == 1 {
			parentLCS = "LCS_Side"
		}
		d.Constraints = append(d.Constraints, Constraint{
			Name:      fmt.Sprintf("%s_on_%s", p.Name, names[parent]),
			Part:      p.Name,
			LCS:       "LCS_Base",
			Parent:    names[parent],
			ParentLCS: parentLCS,
		})
	}
	for i := 0; i < parts; i += 10 {
		m := library[i%len(library)]
		d.Overrides = append(d.Overrides, Override{
			Part:            names[i],
			DensityKgM3:     math.Round(m.density * 1.02),
			YoungsModulusPa: math.Round(m.modulus*0.98/1e7) * 1e7,
		})
	}
	return d, nil
}

// generatePart builds part i: its mesh, its LCS and its material.
func generatePart(i, detail int) (Part, error) {
	scale := 10 + float64(i%7)*5 // 10 to 40 mm
	segments := 4*detail + 4
	var (
		mesh   Mesh
		err    error
		top    float64 // height of LCS_Top
		radius float64 // distance of LCS_Side from the axis
	)
	switch shape := i % len(shapes); shape {
	case 0:
		mesh, err = Box([3]float64{2 * scale, 1.5 * scale, scale}, detail)
		top, radius = scale, 2*scale
	case 1:
		mesh, err = Cylinder(scale/2, 2*scale, segments, detail)
		top, radius = 2*scale, scale/2
	case 2:
		mesh, err = Ring(scale/2, scale, scale/4, segments)
		top, radius = scale/4, scale
	default:
		mesh, err = Torus(scale, scale/3, segments, 2*detail+4)
		top, radius = scale/3, 4*scale/3
	}
	if err != nil {
		return Part{}, err
	}
	axes := [...][3]float64{{0, 0, 1}, {1, 0, 0}, {0, 1, 0}, {1, 1, 1}, {1, -2, 0.5}}
	return Part{
		Name:     fmt.Sprintf("%s_%d", shapes[i%len(shapes)], i),
		Material: library[i%len(library)].name,
		Mesh:     mesh,
		Grounded: i == 0,
		LCS: map[string]LCS{
			"LCS_Origin": {Rotation: Rotation{Axis: [3]float64{0, 0, 1}}},
			"LCS_Base":   {Rotation: Rotation{Axis: [3]float64{0, 0, 1}, AngleDeg: float64((i * 23) % 90)}},
			"LCS_Top": {
				Origin:   [3]float64{0, 0, top},
				Rotation: Rotation{Axis: axes[i%len(axes)], AngleDeg: float64(15 + (i*37)%150)},
			},
			"LCS_Side": {
				Origin:   [3]float64{radius, 0, top / 2},
				Rotation: Rotation{Axis: [3]float64{0, 1, 0}, AngleDeg: 90},
			},
		},
	}, nil
}

// estimateTriangles is the number of triangles Generate makes (exact).
func estimateTriangles(parts, detail int) int64 {
	d := int64(detail)
	segments := 4*d + 4
	perShape := [...]int64{
		12 * d * d,                // box
		2*segments*d + 2*segments, // cylinder
		8 * segments,              // ring
		2 * segments * (2*d + 4),  // torus
	}
	var n int64
	for s, t := range perShape {
		// parts i with i%4 == s
		count := int64(parts / len(shapes))
		if s < parts%len(shapes) {
			count++
		}
		n += count * t
	}
	return n
}
