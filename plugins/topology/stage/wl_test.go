package stage

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWLGatherMatchesSums holds the rounds that gather the terms of the
// faces across (surfaces whose edges have one or two faces) to the general
// rounds over per-edge sums: the same labels after the same number of
// rounds, on closed surfaces and on surfaces with a boundary.
func TestWLGatherMatchesSums(t *testing.T) {
	for _, tc := range []struct {
		name string
		mesh testMesh
	}{
		{"box", boxMesh(4, [3]float64{}, [3]float64{1, 2, 3}, nil)},
		{"torus", torusMesh(12, 8, 30, 10)},
		{"open box", openBox()},
		{"flipped box", boxMesh(3, [3]float64{}, [3]float64{1, 1, 1}, func(face, i, j int) bool { return (face+i*j)%3 == 0 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := partOf(tc.mesh)
			var sc scratch
			faces, orig := p.faces(&sc)
			c := buildComplex(len(p.vertices), faces, orig, &sc)
			require.True(t, c.twoFaced)
			gathered, gFaces, n := c.wlLabels(&sc)
			gathered, gFaces = slices.Clone(gathered), slices.Clone(gFaces)
			c.twoFaced = false
			summed, sFaces, m := c.wlLabels(&sc)
			require.Equal(t, n, m, "rounds")
			require.Equal(t, gathered, summed)
			require.Equal(t, gFaces, sFaces)
		})
	}
}

// openBox is a subdivided box with four of its triangles taken out: a
// surface with a boundary.
func openBox() testMesh {
	return boxMesh(3, [3]float64{}, [3]float64{1, 2, 3}, nil).with(func(tris [][3]int, verts [][3]float64) ([][3]int, [][3]float64) {
		return slices.Delete(slices.Clone(tris), 5, 9), verts
	})
}

// partOf is a part with m's vertices and triangles.
func partOf(m testMesh) *part {
	p := &part{}
	for _, v := range m.Vertices {
		p.vertices = append(p.vertices, v)
	}
	for _, tr := range m.Triangles {
		p.triangles = append(p.triangles, [3]int64{int64(tr[0]), int64(tr[1]), int64(tr[2])})
	}
	return p
}
