package stage

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// testMesh is a mesh as it appears in the document.
type testMesh struct {
	Vertices  [][3]float64 `json:"vertices"`
	Triangles [][3]int     `json:"triangles"`
}

// boxMesh is the closed, outward-oriented surface of the axis-aligned box
// [origin, origin+size], each face cut into an n×n grid of quads and each quad
// into two triangles: 12n² triangles, 6n²+2 shared vertices. flip, when not
// nil, says for a face (0..5) and quad whether to cut along the other diagonal.
func boxMesh(n int, origin, size [3]float64, flip func(face, i, j int) bool) testMesh {
	var m testMesh
	index := map[[3]int]int{}
	vertex := func(l [3]int) int {
		if i, ok := index[l]; ok {
			return i
		}
		i := len(m.Vertices)
		index[l] = i
		var p [3]float64
		for k := range 3 {
			p[k] = origin[k] + size[k]*float64(l[k])/float64(n)
		}
		m.Vertices = append(m.Vertices, p)
		return i
	}
	ex, ey, ez := [3]int{1, 0, 0}, [3]int{0, 1, 0}, [3]int{0, 0, 1}
	// Each face: a corner, and in-plane axes u, v with u×v the outward normal.
	faces := []struct{ corner, u, v [3]int }{
		{[3]int{0, 0, 0}, ey, ex}, // -z
		{[3]int{0, 0, n}, ex, ey}, // +z
		{[3]int{0, 0, 0}, ex, ez}, // -y
		{[3]int{0, n, 0}, ez, ex}, // +y
		{[3]int{0, 0, 0}, ez, ey}, // -x
		{[3]int{n, 0, 0}, ey, ez}, // +x
	}
	at := func(c, u, v [3]int, i, j int) [3]int {
		var l [3]int
		for k := range 3 {
			l[k] = c[k] + u[k]*i + v[k]*j
		}
		return l
	}
	for fi, f := range faces {
		for i := range n {
			for j := range n {
				a := vertex(at(f.corner, f.u, f.v, i, j))
				b := vertex(at(f.corner, f.u, f.v, i+1, j))
				c := vertex(at(f.corner, f.u, f.v, i+1, j+1))
				d := vertex(at(f.corner, f.u, f.v, i, j+1))
				if flip != nil && flip(fi, i, j) {
					m.Triangles = append(m.Triangles, [3]int{a, b, d}, [3]int{b, c, d})
				} else {
					m.Triangles = append(m.Triangles, [3]int{a, b, c}, [3]int{a, c, d})
				}
			}
		}
	}
	return m
}

func unitBox() testMesh { return boxMesh(1, [3]float64{}, [3]float64{1, 1, 1}, nil) }

// torusMesh is a closed, outward-oriented torus of n×m quads (2nm triangles,
// nm vertices) with radii big and small.
func torusMesh(n, m int, big, small float64) testMesh {
	var t testMesh
	for i := range n {
		u := 2 * math.Pi * float64(i) / float64(n)
		for j := range m {
			v := 2 * math.Pi * float64(j) / float64(m)
			r := big + small*math.Cos(v)
			t.Vertices = append(t.Vertices, [3]float64{r * math.Cos(u), r * math.Sin(u), small * math.Sin(v)})
		}
	}
	id := func(i, j int) int { return (i%n)*m + j%m }
	for i := range n {
		for j := range m {
			a, b, c, d := id(i, j), id(i+1, j), id(i+1, j+1), id(i, j+1)
			t.Triangles = append(t.Triangles, [3]int{a, b, c}, [3]int{a, c, d})
		}
	}
	return t
}

// merged is the disjoint union of a and b (b's indices shifted), with b's
// vertex share[k] replaced by a's vertex share[k+1] for each pair given.
func merged(a, b testMesh, share ...int) testMesh {
	out := testMesh{Vertices: slices.Clone(a.Vertices), Triangles: slices.Clone(a.Triangles)}
	remap := make([]int, len(b.Vertices))
	shared := map[int]int{}
	for k := 0; k+1 < len(share); k += 2 {
		shared[share[k]] = share[k+1]
	}
	for i, p := range b.Vertices {
		if j, ok := shared[i]; ok {
			remap[i] = j
			continue
		}
		remap[i] = len(out.Vertices)
		out.Vertices = append(out.Vertices, p)
	}
	for _, t := range b.Triangles {
		out.Triangles = append(out.Triangles, [3]int{remap[t[0]], remap[t[1]], remap[t[2]]})
	}
	return out
}

// renumbered applies a random permutation to the vertex indices.
func (m testMesh) renumbered(seed uint64) testMesh {
	r := rand.New(rand.NewPCG(seed, 1))
	perm := r.Perm(len(m.Vertices))
	out := testMesh{Vertices: make([][3]float64, len(m.Vertices))}
	for i, p := range m.Vertices {
		out.Vertices[perm[i]] = p
	}
	for _, t := range m.Triangles {
		out.Triangles = append(out.Triangles, [3]int{perm[t[0]], perm[t[1]], perm[t[2]]})
	}
	return out
}

// shuffled reorders the triangles randomly.
func (m testMesh) shuffled(seed uint64) testMesh {
	r := rand.New(rand.NewPCG(seed, 2))
	out := testMesh{Vertices: m.Vertices, Triangles: slices.Clone(m.Triangles)}
	r.Shuffle(len(out.Triangles), func(i, j int) { out.Triangles[i], out.Triangles[j] = out.Triangles[j], out.Triangles[i] })
	return out
}

// rotatedIndices cyclically rotates each triangle's index list by a
// pseudo-random amount (keeping its winding).
func (m testMesh) rotatedIndices(seed uint64) testMesh {
	r := rand.New(rand.NewPCG(seed, 3))
	out := testMesh{Vertices: m.Vertices}
	for _, t := range m.Triangles {
		k := r.IntN(3)
		out.Triangles = append(out.Triangles, [3]int{t[k], t[(k+1)%3], t[(k+2)%3]})
	}
	return out
}

// moved applies the rotation of angle about axis, then the translation.
func (m testMesh) moved(axis [3]float64, angle float64, t [3]float64) testMesh {
	n := math.Sqrt(axis[0]*axis[0] + axis[1]*axis[1] + axis[2]*axis[2])
	x, y, z := axis[0]/n, axis[1]/n, axis[2]/n
	c, s := math.Cos(angle), math.Sin(angle)
	k := 1 - c
	r := [3][3]float64{
		{k*x*x + c, k*x*y - s*z, k*x*z + s*y},
		{k*x*y + s*z, k*y*y + c, k*y*z - s*x},
		{k*x*z - s*y, k*y*z + s*x, k*z*z + c},
	}
	out := testMesh{Triangles: m.Triangles}
	for _, p := range m.Vertices {
		var q [3]float64
		for i := range 3 {
			q[i] = r[i][0]*p[0] + r[i][1]*p[1] + r[i][2]*p[2] + t[i]
		}
		out.Vertices = append(out.Vertices, q)
	}
	return out
}

// with returns a copy of m with triangles replaced or appended.
func (m testMesh) with(f func(tris [][3]int, verts [][3]float64) ([][3]int, [][3]float64)) testMesh {
	t, v := f(slices.Clone(m.Triangles), slices.Clone(m.Vertices))
	return testMesh{Vertices: v, Triangles: t}
}

// valences is the sorted degree sequence of the mesh's edge graph.
func (m testMesh) valences() []int {
	nb := make([]map[int]bool, len(m.Vertices))
	for i := range nb {
		nb[i] = map[int]bool{}
	}
	for _, t := range m.Triangles {
		for k := range 3 {
			a, b := t[k], t[(k+1)%3]
			nb[a][b], nb[b][a] = true, true
		}
	}
	out := make([]int, len(nb))
	for i, s := range nb {
		out[i] = len(s)
	}
	slices.Sort(out)
	return out
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

type obj = map[string]any

func testPart(name string, m testMesh) obj {
	return obj{"name": name, "material": "abs", "mesh": m}
}
