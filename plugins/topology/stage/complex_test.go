package stage

import (
	"cmp"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBuildComplexMatchesSort holds buildComplex's counting sorts (half-edge
// counts packed per vertex, buckets by higher then lower vertex) to a plain
// comparison sort of the half-edges by (lower vertex, higher vertex, face),
// and its edges and valences to ones counted from that order, on closed
// surfaces, a surface with a boundary, renumbered vertices and edges of
// three faces.
func TestBuildComplexMatchesSort(t *testing.T) {
	fin := unitBox().with(func(tris [][3]int, verts [][3]float64) ([][3]int, [][3]float64) {
		// A fin on an edge of the box: that edge gets a third face.
		return append(slices.Clone(tris), [3]int{tris[0][0], tris[0][1], len(verts)}), append(slices.Clone(verts), [3]float64{5, 5, 5})
	})
	for _, tc := range []struct {
		name string
		mesh testMesh
	}{
		{"box", boxMesh(4, [3]float64{}, [3]float64{1, 2, 3}, nil)},
		{"torus", torusMesh(12, 8, 30, 10)},
		{"renumbered torus", torusMesh(9, 7, 30, 10).renumbered(7).rotatedIndices(3)},
		{"open box", openBox()},
		{"fin", fin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := partOf(tc.mesh)
			var sc scratch
			faces, orig := p.faces(&sc)
			c := buildComplex(len(p.vertices), faces, orig, &sc)

			var want []halfEdge
			for f, tr := range faces {
				for k := range 3 {
					a, b := tr[k], tr[(k+1)%3]
					want = append(want, halfEdge{lo: min(a, b), hi: max(a, b), face: int32(f), local: int8(k), fwd: a < b})
				}
			}
			slices.SortFunc(want, func(x, y halfEdge) int {
				return cmp.Or(cmp.Compare(x.lo, y.lo), cmp.Compare(x.hi, y.hi), cmp.Compare(x.face, y.face))
			})
			require.Equal(t, want, c.he)

			wantStart := []int32{0}
			valence := make([]int32, len(p.vertices))
			for i, h := range want {
				if i > 0 && h.lo == want[i-1].lo && h.hi == want[i-1].hi {
					wantStart[len(wantStart)-1] = int32(i + 1)
					continue
				}
				wantStart = append(wantStart, int32(i+1))
				valence[h.lo]++
				valence[h.hi]++
			}
			require.Equal(t, wantStart, c.edgeStart)
			require.Equal(t, valence, c.valence)
			require.Equal(t, tc.name != "fin", c.twoFaced)
		})
	}
}
