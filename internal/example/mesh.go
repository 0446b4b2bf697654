package example

import (
	"fmt"
	"math"
)

// Mesh is a triangle mesh as it appears in an assembly document: vertices in
// the part's own coordinates and triangles as vertex indexes, counter-clockwise
// seen from outside (outward normals).
type Mesh struct {
	Vertices  [][3]float64 `json:"vertices"`
	Triangles [][3]int     `json:"triangles"`
}

// Translate returns a copy of m moved by d.
func (m Mesh) Translate(d [3]float64) Mesh {
	out := Mesh{Vertices: make([][3]float64, len(m.Vertices)), Triangles: append([][3]int(nil), m.Triangles...)}
	for i, v := range m.Vertices {
		out.Vertices[i] = [3]float64{v[0] + d[0], v[1] + d[1], v[2] + d[2]}
	}
	return out
}

// Box is a closed box with one corner at the origin and the opposite corner at
// size, each face divided into n×n squares (2n² triangles). Its Euler
// characteristic is 2.
func Box(size [3]float64, n int) (Mesh, error) {
	if err := positive("box size", size[:]...); err != nil {
		return Mesh{}, err
	}
	if n < 1 {
		return Mesh{}, fmt.Errorf("box subdivisions %d: want at least 1", n)
	}
	var m Mesh
	index := map[[3]int]int{}
	vertex := func(l [3]int) int {
		if i, ok := index[l]; ok {
			return i
		}
		i := len(m.Vertices)
		index[l] = i
		m.Vertices = append(m.Vertices, [3]float64{
			round(size[0] * float64(l[0]) / float64(n)),
			round(size[1] * float64(l[1]) / float64(n)),
			round(size[2] * float64(l[2]) / float64(n)),
		})
		return i
	}
	// Each face: the fixed axis, whether it is the max side, and two in-face
	// axes u, v with u × v pointing outward, so (a,b) → (a+1,b) → (a+1,b+1)
	// is counter-clockwise seen from outside.
	faces := [...]struct {
		axis, u, v int
		max        bool
	}{
		{0, 1, 2, true}, {0, 2, 1, false},
		{1, 2, 0, true}, {1, 0, 2, false},
		{2, 0, 1, true}, {2, 1, 0, false},
	}
	for _, f := range faces {
		at := func(a, b int) int {
			var l [3]int
			if f.max {
				l[f.axis] = n
			}
			l[f.u], l[f.v] = a, b
			return vertex(l)
		}
		for a := 0; a < n; a++ {
			for b := 0; b < n; b++ {
				p, q, r, s := at(a, b), at(a+1, b), at(a+1, b+1), at(a, b+1)
				m.Triangles = append(m.Triangles, [3]int{p, q, r}, [3]int{p, r, s})
			}
		}
	}
	return m, nil
}

// Cylinder is a closed cylinder of the given radius around the z axis from
// z=0 to z=height, with segments around and rings bands along its side
// (2·segments·rings + 2·segments triangles). Its Euler characteristic is 2.
func Cylinder(radius, height float64, segments, rings int) (Mesh, error) {
	if err := positive("cylinder", radius, height); err != nil {
		return Mesh{}, err
	}
	if segments < 3 || rings < 1 {
		return Mesh{}, fmt.Errorf("cylinder with %d segments and %d rings: want at least 3 and 1", segments, rings)
	}
	var m Mesh
	for k := 0; k <= rings; k++ {
		z := height * float64(k) / float64(rings)
		for j := 0; j < segments; j++ {
			m.Vertices = append(m.Vertices, circle(radius, j, segments, z))
		}
	}
	at := func(k, j int) int { return k*segments + j%segments }
	bottom, top := len(m.Vertices), len(m.Vertices)+1
	m.Vertices = append(m.Vertices, [3]float64{0, 0, 0}, [3]float64{0, 0, round(height)})
	for j := 0; j < segments; j++ {
		m.Triangles = append(m.Triangles,
			[3]int{bottom, at(0, j+1), at(0, j)},
			[3]int{top, at(rings, j), at(rings, j+1)})
		for k := 0; k < rings; k++ {
			m.Triangles = append(m.Triangles,
				[3]int{at(k, j), at(k, j+1), at(k+1, j+1)},
				[3]int{at(k, j), at(k+1, j+1), at(k+1, j)})
		}
	}
	return m, nil
}

// Ring is a washer: an annulus between inner and outer radius around the z
// axis, extruded from z=0 to z=thickness, with segments around (8·segments
// triangles). It has genus 1: Euler characteristic 0.
func Ring(inner, outer, thickness float64, segments int) (Mesh, error) {
	if err := positive("ring", inner, outer, thickness); err != nil {
		return Mesh{}, err
	}
	if inner >= outer {
		return Mesh{}, fmt.Errorf("ring inner radius %g: want less than the outer radius %g", inner, outer)
	}
	if segments < 3 {
		return Mesh{}, fmt.Errorf("ring with %d segments: want at least 3", segments)
	}
	var m Mesh
	// Four loops: outer bottom, outer top, inner bottom, inner top.
	for _, l := range [...]struct{ r, z float64 }{{outer, 0}, {outer, thickness}, {inner, 0}, {inner, thickness}} {
		for j := 0; j < segments; j++ {
			m.Vertices = append(m.Vertices, circle(l.r, j, segments, l.z))
		}
	}
	at := func(loop, j int) int { return loop*segments + j%segments }
	const ob, ot, ib, it = 0, 1, 2, 3
	for j := 0; j < segments; j++ {
		k := j + 1
		m.Triangles = append(m.Triangles,
			[3]int{at(ob, j), at(ob, k), at(ot, k)}, [3]int{at(ob, j), at(ot, k), at(ot, j)}, // outer side, facing out
			[3]int{at(ib, j), at(it, k), at(ib, k)}, [3]int{at(ib, j), at(it, j), at(it, k)}, // inner side, facing the axis
			[3]int{at(ot, j), at(ot, k), at(it, k)}, [3]int{at(ot, j), at(it, k), at(it, j)}, // top, facing +z
			[3]int{at(ob, j), at(ib, k), at(ob, k)}, [3]int{at(ob, j), at(ib, j), at(ib, k)}, // bottom, facing -z
		)
	}
	return m, nil
}

// Torus is a torus around the z axis with major radius major (axis to tube
// centre) and tube radius minor, with segments around the axis and tube
// segments around the tube (2·segments·tube triangles). It has genus 1: Euler
// characteristic 0.
func Torus(major, minor float64, segments, tube int) (Mesh, error) {
	if err := positive("torus", major, minor); err != nil {
		return Mesh{}, err
	}
	if minor >= major {
		return Mesh{}, fmt.Errorf("torus tube radius %g: want less than the major radius %g", minor, major)
	}
	if segments < 3 || tube < 3 {
		return Mesh{}, fmt.Errorf("torus with %d×%d segments: want at least 3×3", segments, tube)
	}
	var m Mesh
	for u := 0; u < segments; u++ {
		for v := 0; v < tube; v++ {
			sv, cv := math.Sincos(2 * math.Pi * float64(v) / float64(tube))
			c := circle(major+minor*cv, u, segments, minor*sv)
			m.Vertices = append(m.Vertices, c)
		}
	}
	at := func(u, v int) int { return (u%segments)*tube + v%tube }
	for u := 0; u < segments; u++ {
		for v := 0; v < tube; v++ {
			m.Triangles = append(m.Triangles,
				[3]int{at(u, v), at(u+1, v), at(u+1, v+1)},
				[3]int{at(u, v), at(u+1, v+1), at(u, v+1)})
		}
	}
	return m, nil
}

// Prism extrudes a convex polygon, given counter-clockwise in the xy plane,
// from z=0 to z=height. Its Euler characteristic is 2.
func Prism(polygon [][2]float64, height float64) (Mesh, error) {
	if err := positive("prism height", height); err != nil {
		return Mesh{}, err
	}
	n := len(polygon)
	if n < 3 {
		return Mesh{}, fmt.Errorf("prism polygon with %d corners: want at least 3", n)
	}
	for i := range polygon {
		a, b, c := polygon[i], polygon[(i+1)%n], polygon[(i+2)%n]
		if (b[0]-a[0])*(c[1]-b[1])-(b[1]-a[1])*(c[0]-b[0]) <= 0 {
			return Mesh{}, fmt.Errorf("prism polygon: corner %d: want a strictly convex, counter-clockwise polygon", (i+1)%n)
		}
	}
	var m Mesh
	for _, z := range [...]float64{0, height} {
		for _, p := range polygon {
			m.Vertices = append(m.Vertices, [3]float64{round(p[0]), round(p[1]), round(z)})
		}
	}
	for i := 1; i+1 < n; i++ {
		m.Triangles = append(m.Triangles, [3]int{0, i + 1, i}, [3]int{n, n + i, n + i + 1})
	}
	for i := 0; i < n; i++ {
		j := (i + 1) % n
		m.Triangles = append(m.Triangles, [3]int{i, j, n + j}, [3]int{i, n + j, n + i})
	}
	return m, nil
}

// circle returns point j of a circle of n points of radius r at height z.
func circle(r float64, j, n int, z float64) [3]float64 {
	s, c := math.Sincos(2 * math.Pi * float64(j%n) / float64(n))
	return [3]float64{round(r * c), round(r * s), round(z)}
}

// round keeps coordinates short in JSON: to 1e-9 of the length unit, with no -0.
func round(v float64) float64 {
	v = math.Round(v*1e9) / 1e9
	if v == 0 {
		return 0
	}
	return v
}

func positive(what string, vs ...float64) error {
	for _, v := range vs {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("%s: dimension %g: want a positive finite number", what, v)
		}
	}
	return nil
}
