package example

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkClosed asserts that m is a closed 2-manifold with outward normals and
// no degenerate triangles, and returns its Euler characteristic.
func checkClosed(t *testing.T, m Mesh) int {
	t.Helper()
	require.NotEmpty(t, m.Triangles)
	edges := map[[2]int]int{}
	used := make([]bool, len(m.Vertices))
	volume := 0.0
	for n, tri := range m.Triangles {
		for _, i := range tri {
			require.True(t, i >= 0 && i < len(m.Vertices), "triangle %d: index %d out of range", n, i)
			used[i] = true
		}
		a, b, c := m.Vertices[tri[0]], m.Vertices[tri[1]], m.Vertices[tri[2]]
		cross := crossProduct(sub(b, a), sub(c, a))
		require.Greater(t, norm(cross), 1e-9, "triangle %d is degenerate", n)
		volume += dot(a, crossProduct(b, c)) / 6
		for k := 0; k < 3; k++ {
			edges[[2]int{tri[k], tri[(k+1)%3]}]++
		}
	}
	for e, count := range edges {
		require.Equal(t, 1, count, "directed edge %v used %d times (inconsistent orientation or non-manifold)", e, count)
		require.Equal(t, 1, edges[[2]int{e[1], e[0]}], "edge %v has no opposite half-edge (not watertight)", e)
	}
	for i, u := range used {
		require.True(t, u, "vertex %d is not used", i)
	}
	assert.Greater(t, volume, 0.0, "signed volume must be positive (outward normals)")
	return len(m.Vertices) - len(edges)/2 + len(m.Triangles)
}

func sub(a, b [3]float64) [3]float64 { return [3]float64{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func dot(a, b [3]float64) float64    { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func norm(a [3]float64) float64      { return math.Sqrt(dot(a, a)) }
func crossProduct(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

func signedVolume(m Mesh) float64 {
	v := 0.0
	for _, tri := range m.Triangles {
		v += dot(m.Vertices[tri[0]], crossProduct(m.Vertices[tri[1]], m.Vertices[tri[2]])) / 6
	}
	return v
}

func TestMeshesAreClosedAndOutward(t *testing.T) {
	must := func(m Mesh, err error) Mesh {
		require.NoError(t, err)
		return m
	}
	tests := []struct {
		name      string
		mesh      Mesh
		euler     int
		triangles int
		volume    float64 // exact volume, 0 to skip
		tolerance float64 // relative
	}{
		{"box 1", must(Box([3]float64{2, 3, 4}, 1)), 2, 12, 24, 1e-12},
		{"box 5", must(Box([3]float64{120, 80, 10}, 5)), 2, 300, 96000, 1e-12},
		{"cylinder", must(Cylinder(4, 30, 32, 3)), 2, 2*32*3 + 2*32, math.Pi * 16 * 30, 0.01},
		{"cylinder coarse", must(Cylinder(1, 1, 3, 1)), 2, 12, 0, 0},
		{"ring", must(Ring(4.2, 8, 2, 32)), 0, 8 * 32, math.Pi * (64 - 4.2*4.2) * 2, 0.01},
		{"torus", must(Torus(10, 3, 24, 12)), 0, 2 * 24 * 12, 2 * math.Pi * math.Pi * 10 * 9, 0.07},
		{"triangular prism", must(Prism([][2]float64{{0, 0}, {40, 0}, {0, 40}}, 8)), 2, 8, 6400, 1e-12},
		{"hexagonal prism", must(Prism([][2]float64{{2, 0}, {1, 2}, {-1, 2}, {-2, 0}, {-1, -2}, {1, -2}}, 1)), 2, 20, 12, 1e-12},
		{"translated box", must(Box([3]float64{1, 1, 1}, 2)).Translate([3]float64{-5, 7, 100}), 2, 48, 1, 1e-9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.euler, checkClosed(t, tt.mesh), "Euler characteristic")
			assert.Len(t, tt.mesh.Triangles, tt.triangles)
			if tt.volume > 0 {
				assert.InEpsilon(t, tt.volume, signedVolume(tt.mesh), tt.tolerance)
			}
		})
	}
}

func TestMeshBuilderErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"box size", second(Box([3]float64{1, 0, 1}, 1)), "box size: dimension 0: want a positive finite number"},
		{"box subdivisions", second(Box([3]float64{1, 1, 1}, 0)), "box subdivisions 0: want at least 1"},
		{"cylinder segments", second(Cylinder(1, 1, 2, 1)), "cylinder with 2 segments and 1 rings: want at least 3 and 1"},
		{"cylinder radius", second(Cylinder(math.NaN(), 1, 8, 1)), "cylinder: dimension NaN: want a positive finite number"},
		{"ring radii", second(Ring(2, 1, 1, 8)), "ring inner radius 2: want less than the outer radius 1"},
		{"torus radii", second(Torus(1, 1, 8, 8)), "torus tube radius 1: want less than the major radius 1"},
		{"prism clockwise", second(Prism([][2]float64{{0, 0}, {0, 1}, {1, 0}}, 1)), "prism polygon: corner 1: want a strictly convex, counter-clockwise polygon"},
		{"prism collinear", second(Prism([][2]float64{{0, 0}, {1, 0}, {2, 0}, {1, 1}}, 1)), "prism polygon: corner 1: want a strictly convex, counter-clockwise polygon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.EqualError(t, tt.err, tt.want)
		})
	}
}

func second(_ Mesh, err error) error { return err }

func ExampleRing() {
	m, _ := Ring(4.2, 8, 2, 16)
	fmt.Println(len(m.Vertices), "vertices,", len(m.Triangles), "triangles")
	// Output: 64 vertices, 128 triangles
}
