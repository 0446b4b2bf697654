package stage

import (
	"encoding/json"
	"math"
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
// into two triangles: 12n² triangles, 6n²+2 shared vertices.
func boxMesh(n int, origin, size [3]float64) testMesh {
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
	for _, f := range faces {
		for i := range n {
			for j := range n {
				a := vertex(at(f.corner, f.u, f.v, i, j))
				b := vertex(at(f.corner, f.u, f.v, i+1, j))
				c := vertex(at(f.corner, f.u, f.v, i+1, j+1))
				d := vertex(at(f.corner, f.u, f.v, i, j+1))
				m.Triangles = append(m.Triangles, [3]int{a, b, c}, [3]int{a, c, d})
			}
		}
	}
	return m
}

// rotation is the rotation matrix of angle (radians) about axis (Rodrigues).
func rotation(axis [3]float64, angle float64) [3][3]float64 {
	n := math.Sqrt(axis[0]*axis[0] + axis[1]*axis[1] + axis[2]*axis[2])
	x, y, z := axis[0]/n, axis[1]/n, axis[2]/n
	c, s := math.Cos(angle), math.Sin(angle)
	t := 1 - c
	return [3][3]float64{
		{t*x*x + c, t*x*y - s*z, t*x*z + s*y},
		{t*x*y + s*z, t*y*y + c, t*y*z - s*x},
		{t*x*z - s*y, t*y*z + s*x, t*z*z + c},
	}
}

func apply(r [3][3]float64, p [3]float64) [3]float64 {
	var out [3]float64
	for i := range 3 {
		out[i] = r[i][0]*p[0] + r[i][1]*p[1] + r[i][2]*p[2]
	}
	return out
}

// moved returns m rotated by r then translated by t.
func (m testMesh) moved(r [3][3]float64, t [3]float64) testMesh {
	out := testMesh{Triangles: m.Triangles}
	for _, p := range m.Vertices {
		q := apply(r, p)
		out.Vertices = append(out.Vertices, [3]float64{q[0] + t[0], q[1] + t[1], q[2] + t[2]})
	}
	return out
}

// flipped reverses the winding of every triangle.
func (m testMesh) flipped() testMesh {
	out := testMesh{Vertices: m.Vertices}
	for _, t := range m.Triangles {
		out.Triangles = append(out.Triangles, [3]int{t[0], t[2], t[1]})
	}
	return out
}

// rotateTensor is r·I·rᵀ.
func rotateTensor(r, in [3][3]float64) [3][3]float64 {
	var out [3][3]float64
	for i := range 3 {
		for j := range 3 {
			for k := range 3 {
				for l := range 3 {
					out[i][j] += r[i][k] * in[k][l] * r[j][l]
				}
			}
		}
	}
	return out
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

type obj = map[string]any

func testPart(name, material string, m testMesh) obj {
	return obj{"name": name, "material": material, "mesh": m}
}
