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

// forest is a union-find over ids 0..n-1: forest[x] is x's parent, a root
// is its own parent. The caller links roots itself (forest[rb] = ra, which is
// harmless when ra == rb), so that no branch is needed.
type forest []int32

func newForest(n int) forest {
	f := make(forest, n)
	for i := range f {
		f[i] = int32(i)
	}
	return f
}

// find returns x's root, pointing every other node on the way at its
// grandparent (path halving: one pass, and small enough to be inlined).
func (f forest) find(x int32) int32 {
	for f[x] != x {
		f[x] = f[f[x]]
		x = f[x]
	}
	return x
}

// root is find for the lookups done once the unions are over: the root is
// then nearly always at most two steps up, and those are taken without a
// branch. Longer paths go to findOutOfLine, a call the compiler lays out of
// the way. (The loop in find costs a dispatch per call under WebAssembly,
// even when it runs zero times; while unions are still being made, paths
// are longer and find's halving pays.)
func (f forest) root(x int32) int32 {
	r := f[f[x]]
	if f[r] != r {
		return f.findOutOfLine(x)
	}
	return r
}

//go:noinline
func (f forest) findOutOfLine(x int32) int32 { return f.find(x) }

// unionFind with parity: parity[x] is x's orientation relative to its
// parent; a root's parity is 0.
type unionFind struct {
	parent []int32
	parity []uint8
}

// find returns x's root and x's parity relative to it, halving the path.
func (u *unionFind) find(x int32) (int32, uint8) {
	parent, parity := u.parent, u.parity
	var p uint8
	for parent[x] != x {
		up := parent[x]
		parity[x] ^= parity[up]
		parent[x] = parent[up]
		p ^= parity[x]
		x = parent[x]
	}
	return x, p
}

// b2u8 is 1 for true and 0 for false; the compiler makes it a plain
// conversion, with no branch.
func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// validate checks the part for export. tris is the part's triangle list as
// given (indices possibly out of range); c its complex.
//
// sc holds working buffers, reused from one part to the next: fewer and
// smaller allocations mean less zeroing and fewer garbage collections,
// which are dear under WebAssembly.
func validate(c *complex, vertices [][3]float64, tris [][3]int64, hash string, sc *scratch) report {
	r := report{Hash: hash, Vertices: c.nv, Edges: c.edges(), Faces: len(c.faces)}
	r.EulerCharacteristic = r.Vertices - r.Edges + r.Faces
	var problems []string

	// Triangles left out of the complex: none when every triangle made a
	// face.
	var outOfRange, repeated examples
	if len(c.faces) < len(tris) {
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
	}
	if outOfRange.n > 0 {
		problems = append(problems, fmt.Sprintf("%d vertex %s out of range [0, %d), triangles left out: %s",
			outOfRange.n, plural(outOfRange.n, "index", "indices"), c.nv, outOfRange.list()))
	}
	if repeated.n > 0 {
		problems = append(problems, fmt.Sprintf("%d degenerate %s repeating a vertex, left out: %s",
			repeated.n, plural(repeated.n, "triangle", "triangles"), repeated.list()))
	}

	zero := zeroAreaFaces(c, vertices)
	if zero.n > 0 {
		problems = append(problems, fmt.Sprintf("%d degenerate %s of zero area: %s",
			zero.n, plural(zero.n, "triangle", "triangles"), zero.list()))
	}
	r.DegenerateFaces = repeated.n + zero.n

	// Edges: boundary, non-manifold, orientation, orientability, and the
	// corner links and union-find the vertex and component checks need.
	ec := checkEdges(c, sc)
	boundary, nonManifold, sameDir, orient, orientable := ec.boundary, ec.nonManifold, ec.sameDir, ec.orient, ec.orientable
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
	var vc *vertexChecks
	if boundary.n == 0 && nonManifold.n == 0 && singleFans(c, ec.links, sc) {
		// No pinched vertex: the components are those of the faces.
		vc = &vertexChecks{faceComponents: ec.components()}
	} else {
		vc = checkVertices(c, joinCorners(c), ec.onNonManifoldEdge, ec.faceRoots())
	}
	pinched := vc.pinched
	var unused examples
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

	// Components of the surface: those of its faces, and each unused vertex
	// on its own.
	r.Components = vc.faceComponents + unused.n
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

// zeroAreaFaces lists the faces of zero area: twice the area (the length of
// the cross product of two sides) is at most zeroAreaTolerance times the
// square of the longest side, or all corners coincide. The test is written
// out in the loop: a call per face is dear under WebAssembly.
func zeroAreaFaces(c *complex, vertices [][3]float64) examples {
	var zero examples
	for f := range c.faces {
		t := &c.faces[f]
		a, b, d := &vertices[t[0]], &vertices[t[1]], &vertices[t[2]]
		u0, u1, u2 := b[0]-a[0], b[1]-a[1], b[2]-a[2]
		v0, v1, v2 := d[0]-a[0], d[1]-a[1], d[2]-a[2]
		w0, w1, w2 := d[0]-b[0], d[1]-b[1], d[2]-b[2]
		x0, x1, x2 := u1*v2-u2*v1, u2*v0-u0*v2, u0*v1-u1*v0
		cross := math.Sqrt(x0*x0 + x1*x1 + x2*x2)
		longest := maxSquare(u0*u0+u1*u1+u2*u2, v0*v0+v1*v1+v2*v2, w0*w0+w1*w1+w2*w2)
		if longest == 0 || cross <= zeroAreaTolerance*longest {
			zero.add("triangles[%d]", c.orig[f])
		}
	}
	return zero
}

// maxSquare is max(a, b, c) for sums of squares: +0 or more, or NaN. For
// such values the bit patterns as unsigned integers order as the values
// do, with every NaN above +Inf, so the integer max picks the same value as
// the float max, or a NaN when there is one. Under WebAssembly the float
// max is two calls into the runtime, the integer one a few selects.
func maxSquare(a, b, c float64) float64 {
	return math.Float64frombits(max(math.Float64bits(a), math.Float64bits(b), math.Float64bits(c)))
}

// edgeChecks is what checkEdges finds.
type edgeChecks struct {
	boundary, nonManifold, sameDir examples
	// orient joins the faces by relative orientation. It is made only when
	// some edge is a boundary, non-manifold or same-direction one. On other
	// surfaces it is nil: all parities would be 0, and faceRoot holds each
	// face's component instead (see components).
	orient     *unionFind
	faceRoot   []int32
	orientable bool
	// links pairs the corners joined across manifold edges: for corner i,
	// links[2i] is across the edge leaving it (from corner k to k+1 of its
	// face), links[2i+1] across the edge entering it, each as 2j+s for
	// corner j's slot s. Slots of corners on other edges are not written.
	links             []int32
	onNonManifoldEdge []bool // reported with the edge, not again as a vertex
}

// checkEdges goes over the edges in order: boundary, non-manifold and
// orientation problems, and the links between corners across manifold
// edges. Each edge stores four links rather than joining corners in a
// union-find (four finds, each a loop and so a dispatch under
// WebAssembly): on a surface whose edges are all manifold, the common
// case, singleFans checks the vertex fans by walking the links, and only
// other surfaces pay for joinCorners.
//
// On a surface with no problem edge every face agrees with its neighbours,
// so it is orientable and only its components are left to find: they are
// found by walking the links (see components), without the orientation
// union-find, whose two finds per edge cost more than the rest of the edge
// pass under WebAssembly. Other surfaces go over the edges a second time
// with it (see orientFaces).
func checkEdges(c *complex, sc *scratch) *edgeChecks {
	nf := len(c.faces)
	sc.links, sc.onNonManifoldEdge = resize(sc.links, 6*nf), resize(sc.onNonManifoldEdge, c.nv)
	clear(sc.onNonManifoldEdge) // links need no clearing: see edgeChecks
	x := &edgeChecks{links: sc.links, onNonManifoldEdge: sc.onNonManifoldEdge}
	links := x.links
	var problems uint8
	he, edgeStart := c.he, c.edgeStart
	for e := range c.edges() {
		// A boundary or non-manifold edge is handled as if both its faces
		// were its first: the links below then change nothing that is used
		// (links are read only when every edge is manifold). So the loop
		// has no branch per edge, and no call: problems are only noted
		// here and reported by a second pass over the edges, on the
		// surfaces that have any. (A call in the loop, even one never made,
		// makes the compiler keep values in memory across it.)
		s, n := edgeStart[e], edgeStart[e+1]-edgeStart[e]
		manifold := b2u8(n == 2)
		f, g := &he[s], &he[s+int32(manifold)]
		problems |= b2u8(f.fwd == g.fwd) | (manifold ^ 1)
		// Link the corners of lo, and of hi, in the two faces. The edge
		// leaves the corner at lo (slot 0) when the face traverses it
		// from lo to hi, and enters it (slot 1) otherwise; the other way
		// round for hi.
		fl, fh := cornersAt(f)
		gl, gh := cornersAt(g)
		ff, gf := int32(b2u8(f.fwd)), int32(b2u8(g.fwd))
		fl, fh = 2*fl+1-ff, 2*fh+ff
		gl, gh = 2*gl+1-gf, 2*gh+gf
		links[fl], links[gl] = gl, fl
		links[fh], links[gh] = gh, fh
	}
	if problems == 0 {
		x.orientable = true
		x.faceRoot = components(nf, c.across, sc)
		return x
	}
	x.orientFaces(c, sc)
	x.problems(c)
	return x
}

// orientFaces joins the faces across the edges, in order, in a union-find
// with parity, and notes whether the orientations contradict each other.
// A boundary or non-manifold edge joins its first face with itself, which
// changes nothing.
func (x *edgeChecks) orientFaces(c *complex, sc *scratch) {
	nf := len(c.faces)
	sc.parent, sc.parity = resize(sc.parent, nf), resize(sc.parity, nf)
	for i := range sc.parent {
		sc.parent[i] = int32(i)
	}
	clear(sc.parity)
	orient := &unionFind{parent: sc.parent, parity: sc.parity}
	x.orient = orient
	var contradiction uint8
	he, edgeStart := c.he, c.edgeStart
	for e := range c.edges() {
		s, n := edgeStart[e], edgeStart[e+1]-edgeStart[e]
		manifold := b2u8(n == 2)
		f, g := &he[s], &he[s+int32(manifold)]
		p := b2u8(f.fwd == g.fwd) & manifold
		// Union of the two faces, which differ by parity p: g's root
		// goes under f's (the roots a component ends up with, which
		// flipHint relies on, depend only on the order of the unions).
		// Without a branch on ra == rb: linking a root to itself with
		// parity 0 changes nothing, and the parities then contradict p
		// or not.
		ra, pa := orient.find(f.face)
		rb, pb := orient.find(g.face)
		linked := b2u8(ra != rb)
		orient.parent[rb] = ra
		orient.parity[rb] = (pa ^ pb ^ p) & -linked
		contradiction |= (pa ^ pb ^ p) &^ -linked
	}
	x.orientable = contradiction == 0
}

// components returns, for each of nf faces, the first face of its
// connected component, the faces being joined across the edges: across
// is the complex's, on a surface whose every edge has two faces.
//
// Each component is walked from its first face with a stack: a neighbour
// is always pushed, and the top moves past it only if it was not reached
// yet, so the walk has no branch per neighbour. A face is pushed at most
// once, so the stack needs room for nf faces.
func components(nf int, across []int32, sc *scratch) []int32 {
	sc.faceRoot, sc.stack = resize(sc.faceRoot, nf), resize(sc.stack, nf+1)
	root, stack := sc.faceRoot, sc.stack
	for f := range root {
		root[f] = -1
	}
	for f := range root {
		if root[f] < 0 {
			walkComponent(int32(f), across, root, stack)
		}
	}
	return root
}

// walkComponent sets root to r for every face reached from face r.
//
//go:noinline
func walkComponent(r int32, across, root, stack []int32) {
	root[r], stack[0] = r, r
	top := 1
	for top > 0 {
		top--
		f := stack[top]
		x := across[3*f:][:3]
		g0, g1, g2 := x[0], x[1], x[2]
		stack[top] = g0
		top += int(b2u8(root[g0] < 0))
		root[g0] = r
		stack[top] = g1
		top += int(b2u8(root[g1] < 0))
		root[g1] = r
		stack[top] = g2
		top += int(b2u8(root[g2] < 0))
		root[g2] = r
	}
}

// faceRoots returns each face's component, as the first face of the
// component or as its root in orient: either way, the faces whose own
// index it is are one per component.
func (x *edgeChecks) faceRoots() []int32 {
	if x.orient == nil {
		return x.faceRoot
	}
	roots := make([]int32, len(x.orient.parent))
	for f := range roots {
		roots[f], _ = x.orient.find(int32(f))
	}
	return roots
}

// components is the number of connected components of the faces, joined
// across manifold edges.
func (x *edgeChecks) components() int {
	roots := x.faceRoot
	if x.orient != nil {
		roots = x.orient.parent // a root is its own parent
	}
	n := 0
	for f, r := range roots {
		n += int(b2u8(r == int32(f)))
	}
	return n
}

// problems reports the edges traversed in the same direction by both
// their faces, the boundary edges and the non-manifold ones, in order.
func (x *edgeChecks) problems(c *complex) {
	for e := range c.edges() {
		h := c.edgeHalves(e)
		lo, hi := h[0].lo, h[0].hi
		switch len(h) {
		case 2:
			if h[0].fwd == h[1].fwd {
				x.sameDir.add("(%d, %d) in triangles[%d] and [%d]", lo, hi, c.orig[h[0].face], c.orig[h[1].face])
			}
		case 1:
			x.boundary.add("(%d, %d)", lo, hi)
		default:
			x.nonManifold.add("(%d, %d) in %d triangles", lo, hi, len(h))
			x.onNonManifoldEdge[lo], x.onNonManifoldEdge[hi] = true, true
		}
	}
}

// singleFans reports whether the faces around every vertex form a single
// fan, on a surface whose edges are all manifold (links is then complete).
// The corners of a vertex then form cycles through links, one per fan, and
// a fan has as many corners as edges at the vertex, which it shares with
// no other fan: walking the cycle from one corner comes back after
// valence steps when there is one fan, after fewer when there are more.
// Each step is a few loads with no branch but the loop's.
func singleFans(c *complex, links []int32, sc *scratch) bool {
	// Every used vertex gets a corner: no clearing needed.
	sc.cornerOf = resize(sc.cornerOf, c.nv)
	cornerOf := sc.cornerOf
	for f := range c.faces {
		t := &c.faces[f]
		i := 3 * int32(f)
		cornerOf[t[0]], cornerOf[t[1]], cornerOf[t[2]] = i, i+1, i+2
	}
	for v, valence := range c.valence {
		if valence == 0 {
			continue
		}
		// Leave a corner through one slot, arrive at the linked corner's
		// slot, leave through its other one.
		// Two steps per iteration: the loop's jump back, a dispatch under
		// WebAssembly, is taken half as often; the test after the first
		// step rarely passes.
		start := cornerOf[v]
		i, s, n := start, int32(0), int32(0)
		for {
			l := links[2*i+s]
			i, s = l>>1, 1-l&1
			n++
			if i == start {
				break
			}
			l = links[2*i+s]
			i, s = l>>1, 1-l&1
			n++
			if i == start {
				break
			}
		}
		if n != valence {
			return false
		}
	}
	return true
}

// joinCorners joins the corners of each vertex's fans: those linked across
// manifold edges.
func joinCorners(c *complex) forest {
	corners := newForest(3 * len(c.faces))
	for e := range c.edges() {
		s := c.edgeStart[e]
		if c.edgeStart[e+1]-s != 2 {
			continue
		}
		fl, fh := cornersAt(&c.he[s])
		gl, gh := cornersAt(&c.he[s+1])
		ra, rb := corners.find(fl), corners.find(gl)
		corners[rb] = ra
		ra, rb = corners.find(fh), corners.find(gh)
		corners[rb] = ra
	}
	return corners
}

// vertexChecks is what checkVertices finds, and its state for the
// vertices with several fans.
type vertexChecks struct {
	pinched examples
	// faceComponents is the number of connected components of the faces
	// (joined by shared vertices).
	faceComponents int

	onNonManifoldEdge []bool
	pinchedSeen       []bool
	faceRoot          []int32 // by face, in the orientation union-find
	joined            forest  // over faces, joining roots; made when first needed
}

// checkVertices lists the vertices whose faces form several fans (not
// counting those on a non-manifold edge), in the order in which a corner
// outside the vertex's first fan turns up, and counts the components of
// the faces. Corners are taken in order, corner i being corner i%3 of face
// i/3; faceRoot[f] is f's root in the orientation union-find.
//
// Faces joined across manifold edges share a root there, and so do the
// faces of one fan. The components are those roots, joined where a vertex's
// fans have different roots: only at a vertex with several fans, which is
// where the rare branch below goes, so counting them costs nothing on a
// clean surface.
func checkVertices(c *complex, corners forest, onNonManifoldEdge []bool, faceRoot []int32) *vertexChecks {
	x := &vertexChecks{onNonManifoldEdge: onNonManifoldEdge, pinchedSeen: make([]bool, c.nv), faceRoot: faceRoot}
	for f, r := range faceRoot {
		x.faceComponents += int(b2u8(r == int32(f)))
	}
	fan := make([]int32, c.nv)
	for i := range fan {
		fan[i] = -1
	}
	for i := range corners {
		v := c.faces[i/3][i%3]
		root := corners.root(int32(i))
		// The first corner of v sets its fan; a later one in another fan
		// makes v pinched. Written as one store and one test, rare to pass,
		// with the work out of line: fewer taken branches and spills under
		// WebAssembly.
		fv := fan[v]
		first := int32(b2u8(fv < 0))
		fan[v] = fv + (root-fv)&-first
		if b2u8(fv != root)&^uint8(first) != 0 {
			x.anotherFan(v, fv, int32(i))
		}
	}
	return x
}

// anotherFan notes that corner i of vertex v is not in the fan of corner
// first, v's first corner.
//
//go:noinline
func (x *vertexChecks) anotherFan(v, first, i int32) {
	if !x.pinchedSeen[v] && !x.onNonManifoldEdge[v] {
		x.pinchedSeen[v] = true
		x.pinched.add("%d", v)
	}
	// The fans' faces may lie in different components so far.
	if ra, rb := x.faceRoot[first/3], x.faceRoot[i/3]; ra != rb {
		if x.joined == nil {
			x.joined = newForest(len(x.faceRoot))
		}
		ra, rb = x.joined.find(ra), x.joined.find(rb)
		x.joined[rb] = ra
		x.faceComponents -= int(b2u8(ra != rb))
	}
}

// cornersAt returns the corner ids (3·face + local index) of h's lower and
// higher vertex in h's face: corner k is where h starts, corner k+1 (mod 3)
// where it ends, and fwd says which of them is the lower vertex. Computed
// with arithmetic rather than by looking for the vertex in the face.
func cornersAt(h *halfEdge) (lo, hi int32) {
	k := int32(h.local)
	k1 := k + 1 - 3*int32(b2u8(k == 2))
	fwd := int32(b2u8(h.fwd))
	lo = k1 + fwd*(k-k1) // k when fwd, else k1
	return 3*h.face + lo, 3*h.face + k + k1 - lo
}

// flipHint names the triangles whose winding disagrees with the majority of
// their connected component.
func flipHint(c *complex, orient *unionFind) string {
	counts := make([][2]int, len(c.faces)) // by root
	parity := make([]uint8, len(c.faces))
	roots := make([]int32, len(c.faces))
	for f := range c.faces {
		root, p := orient.find(int32(f))
		roots[f], parity[f] = root, p
		counts[root][p]++
	}
	var flip examples
	for f := range c.faces {
		cn := &counts[roots[f]]
		minority := uint8(1)
		if cn[0] < cn[1] {
			minority = 0
		}
		if parity[f] == minority && cn[minority] > 0 {
			flip.add("triangles[%d]", c.orig[f])
		}
	}
	return fmt.Sprintf("the surface is orientable: reversing %d %s makes it consistent: %s",
		flip.n, plural(flip.n, "triangle", "triangles"), flip.list())
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
