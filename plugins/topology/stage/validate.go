package stage

import (
	"fmt"
	"math"
	"strings"
)

// zeroAreaTolerance: a triangle is degenerate when twice its area is at most
// this fraction of the square of its longest edge (i.e. it is collinear to
// within rounding), or when all its corners coincide.
const zeroAreaTolerance = 1e-10

// maxExamples is how many instances a problem message lists.
const maxExamples = 5

// report is the export validation of one part, as written to its "topology".
type report struct {
	Hash                 string   `json:"hash"`
	Vertices             int      `json:"vertices"`
	Edges                int      `json:"edges"`
	Faces                int      `json:"faces"`
	Components           int      `json:"components"`
	EulerCharacteristic  int      `json:"euler_characteristic"`
	Genus                *int     `json:"genus"`
	Watertight           bool     `json:"watertight"`
	ConsistentlyOriented bool     `json:"consistently_oriented"`
	DegenerateFaces      int      `json:"degenerate_faces"`
	Problems             []string `json:"problems"`
	ExportOK             bool     `json:"export_ok"`
}

// examples collects a count and the first few instances of a problem.
type examples struct {
	n     int
	items []string
}

func (x *examples) add(format string, args ...any) {
	x.n++
	if len(x.items) < maxExamples {
		x.items = append(x.items, fmt.Sprintf(format, args...))
	}
}

func (x *examples) list() string {
	s := strings.Join(x.items, ", ")
	if x.n > len(x.items) {
		s += fmt.Sprintf(" and %d more", x.n-len(x.items))
	}
	return s
}

// unionFind with parity: parity[x] is x's orientation relative to its parent.
type unionFind struct {
	parent []int32
	parity []uint8
}

func newUnionFind(n int) *unionFind {
	u := &unionFind{parent: make([]int32, n), parity: make([]uint8, n)}
	for i := range u.parent {
		u.parent[i] = int32(i)
	}
	return u
}

// find returns x's root and x's parity relative to it, compressing the path.
func (u *unionFind) find(x int32) (int32, uint8) {
	root, p := x, uint8(0)
	for u.parent[root] != root {
		p ^= u.parity[root]
		root = u.parent[root]
	}
	// Compress: point every node on the path at root with its full parity.
	for q := p; u.parent[x] != root && x != root; {
		next, np := u.parent[x], q^u.parity[x]
		u.parent[x], u.parity[x] = root, q
		x, q = next, np
	}
	return root, p
}

// union records that a and b differ by parity p; it reports false when that
// contradicts what is already known.
func (u *unionFind) union(a, b int32, p uint8) bool {
	ra, pa := u.find(a)
	rb, pb := u.find(b)
	if ra == rb {
		return pa^pb == p
	}
	u.parent[rb] = ra
	u.parity[rb] = pa ^ pb ^ p
	return true
}

// validate checks the part for export. tris is the part's triangle list as
// given (indices possibly out of range); c its complex.
func validate(c *complex, vertices [][3]float64, tris [][3]int64, hash string) report {
	r := report{Hash: hash, Vertices: c.nv, Edges: c.edges(), Faces: len(c.faces)}
	r.EulerCharacteristic = r.Vertices - r.Edges + r.Faces
	var problems []string

	// Triangles left out of the complex.
	var outOfRange, repeated examples
	for i, t := range tris {
		bad := false
		for k, idx := range t {
			if idx < 0 || idx >= int64(c.nv) {
				outOfRange.add("triangles[%d][%d] = %d", i, k, idx)
				bad = true
			}
		}
		if !bad && (t[0] == t[1] || t[1] == t[2] || t[0] == t[2]) {
			repeated.add("triangles[%d] = [%d, %d, %d]", i, t[0], t[1], t[2])
		}
	}
	if outOfRange.n > 0 {
		problems = append(problems, fmt.Sprintf("%d vertex %s out of range [0, %d), triangles left out: %s",
			outOfRange.n, plural(outOfRange.n, "index", "indices"), c.nv, outOfRange.list()))
	}
	if repeated.n > 0 {
		problems = append(problems, fmt.Sprintf("%d degenerate %s repeating a vertex, left out: %s",
			repeated.n, plural(repeated.n, "triangle", "triangles"), repeated.list()))
	}

	// Zero-area faces.
	var zero examples
	for f, t := range c.faces {
		if zeroArea(vertices[t[0]], vertices[t[1]], vertices[t[2]]) {
			zero.add("triangles[%d]", c.orig[f])
		}
	}
	if zero.n > 0 {
		problems = append(problems, fmt.Sprintf("%d degenerate %s of zero area: %s",
			zero.n, plural(zero.n, "triangle", "triangles"), zero.list()))
	}
	r.DegenerateFaces = repeated.n + zero.n

	// Edges: boundary, non-manifold, orientation; orientability by parity
	// union-find over faces; vertex fans by union-find over corners.
	var boundary, nonManifold, sameDir examples
	orient := newUnionFind(len(c.faces))
	corners := newUnionFind(3 * len(c.faces))
	orientable := true
	vertexSets := newUnionFind(c.nv)
	onNonManifoldEdge := make([]bool, c.nv) // reported with the edge, not again as a vertex
	for e := range c.edges() {
		halves := c.edgeHalves(e)
		lo, hi := c.edgeLo[e], halves[0].hi
		vertexSets.union(lo, hi, 0)
		switch len(halves) {
		case 1:
			boundary.add("(%d, %d)", lo, hi)
		case 2:
			f, g := halves[0], halves[1]
			var p uint8
			if f.fwd == g.fwd {
				sameDir.add("(%d, %d) in triangles[%d] and [%d]", lo, hi, c.orig[f.face], c.orig[g.face])
				p = 1
			}
			if !orient.union(f.face, g.face, p) {
				orientable = false
			}
			corners.union(c.corner(f, lo), c.corner(g, lo), 0)
			corners.union(c.corner(f, hi), c.corner(g, hi), 0)
		default:
			nonManifold.add("(%d, %d) in %d triangles", lo, hi, len(halves))
			onNonManifoldEdge[lo], onNonManifoldEdge[hi] = true, true
		}
	}
	if len(c.faces) == 0 {
		problems = append(problems, "no valid triangles")
	}
	if boundary.n > 0 {
		problems = append(problems, fmt.Sprintf("not watertight: %d boundary %s used by one triangle only: %s",
			boundary.n, plural(boundary.n, "edge", "edges"), boundary.list()))
	}
	if nonManifold.n > 0 {
		problems = append(problems, fmt.Sprintf("not watertight: %d non-manifold %s shared by more than two triangles: %s",
			nonManifold.n, plural(nonManifold.n, "edge", "edges"), nonManifold.list()))
	}
	r.Watertight = len(c.faces) > 0 && boundary.n == 0 && nonManifold.n == 0 && outOfRange.n == 0
	r.ConsistentlyOriented = len(c.faces) > 0 && sameDir.n == 0 && orientable
	if sameDir.n > 0 {
		msg := fmt.Sprintf("not consistently oriented: %d %s traversed in the same direction by both triangles: %s",
			sameDir.n, plural(sameDir.n, "edge", "edges"), sameDir.list())
		if orientable {
			msg += "; " + flipHint(c, orient)
		} else {
			msg += "; the surface is not orientable"
		}
		problems = append(problems, msg)
	} else if !orientable {
		problems = append(problems, "the surface is not orientable")
	}

	// Vertices: unused, and non-manifold (faces around it form several fans).
	var unused, pinched examples
	fan := make([]int32, c.nv)
	for i := range fan {
		fan[i] = -1
	}
	pinchedSeen := make([]bool, c.nv)
	for f, t := range c.faces {
		for k, v := range t {
			root, _ := corners.find(int32(3*f + k))
			switch {
			case fan[v] < 0:
				fan[v] = root
			case fan[v] != root && !pinchedSeen[v] && !onNonManifoldEdge[v]:
				pinchedSeen[v] = true
				pinched.add("%d", v)
			}
		}
	}
	for v := range c.nv {
		if c.valence[v] == 0 {
			unused.add("%d", v)
		}
	}
	if pinched.n > 0 {
		problems = append(problems, fmt.Sprintf("%d non-manifold %s where separate sheets of triangles meet: %s",
			pinched.n, plural(pinched.n, "vertex", "vertices"), pinched.list()))
	}
	if unused.n > 0 {
		problems = append(problems, fmt.Sprintf("%d %s not used by any valid triangle: %s",
			unused.n, plural(unused.n, "vertex", "vertices"), unused.list()))
	}

	// Components of the surface (isolated vertices count as their own).
	for v := range c.nv {
		if root, _ := vertexSets.find(int32(v)); root == int32(v) {
			r.Components++
		}
	}
	if r.Watertight && orientable && pinched.n == 0 && unused.n == 0 {
		g := (2*r.Components - r.EulerCharacteristic) / 2
		r.Genus = &g
	}

	r.Problems = problems
	if r.Problems == nil {
		r.Problems = []string{}
	}
	r.ExportOK = len(r.Problems) == 0
	return r
}

// corner is the corner id (3·face + local index) of vertex v in h's face.
func (c *complex) corner(h halfEdge, v int32) int32 {
	t := c.faces[h.face]
	k := int32(0)
	for k < 2 && t[k] != v {
		k++
	}
	return 3*h.face + k
}

// flipHint names the triangles whose winding disagrees with the majority of
// their connected component.
func flipHint(c *complex, orient *unionFind) string {
	type count struct{ n [2]int }
	counts := map[int32]*count{}
	parity := make([]uint8, len(c.faces))
	roots := make([]int32, len(c.faces))
	for f := range c.faces {
		root, p := orient.find(int32(f))
		roots[f], parity[f] = root, p
		cn := counts[root]
		if cn == nil {
			cn = &count{}
			counts[root] = cn
		}
		cn.n[p]++
	}
	var flip examples
	for f := range c.faces {
		cn := counts[roots[f]]
		minority := uint8(1)
		if cn.n[0] < cn.n[1] {
			minority = 0
		}
		if parity[f] == minority && cn.n[minority] > 0 {
			flip.add("triangles[%d]", c.orig[f])
		}
	}
	return fmt.Sprintf("the surface is orientable: reversing %d %s makes it consistent: %s",
		flip.n, plural(flip.n, "triangle", "triangles"), flip.list())
}

// zeroArea reports whether the triangle abc has no area up to rounding.
func zeroArea(a, b, c [3]float64) bool {
	u := [3]float64{b[0] - a[0], b[1] - a[1], b[2] - a[2]}
	v := [3]float64{c[0] - a[0], c[1] - a[1], c[2] - a[2]}
	w := [3]float64{c[0] - b[0], c[1] - b[1], c[2] - b[2]}
	x := [3]float64{u[1]*v[2] - u[2]*v[1], u[2]*v[0] - u[0]*v[2], u[0]*v[1] - u[1]*v[0]}
	cross := math.Sqrt(x[0]*x[0] + x[1]*x[1] + x[2]*x[2])
	longest := max(dot(u, u), dot(v, v), dot(w, w))
	return longest == 0 || cross <= zeroAreaTolerance*longest
}

func dot(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
