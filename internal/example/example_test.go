package example

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite examples/bracket.json from Bracket()")

var bracketPath = filepath.Join("..", "..", "examples", "bracket.json")

// checkDocument asserts that d is a valid assembly document: unique names,
// library materials, constraints naming existing parts and LCS, exactly one
// grounded root, every other part attached exactly once, no cycle, overrides
// naming parts, and closed outward meshes. It returns the Euler
// characteristic of every part's mesh.
func checkDocument(t *testing.T, d *Document) map[string]int {
	t.Helper()
	assert.Contains(t, []string{"mm", "m"}, d.Units)
	parts := map[string]Part{}
	euler := map[string]int{}
	grounded := 0
	for _, p := range d.Parts {
		require.NotEmpty(t, p.Name)
		require.NotContains(t, parts, p.Name, "duplicate part name")
		parts[p.Name] = p
		assert.Contains(t, Materials(), p.Material, "part %s", p.Name)
		if p.Grounded {
			grounded++
		}
		euler[p.Name] = checkClosed(t, p.Mesh)
	}
	require.Equal(t, 1, grounded, "grounded parts")
	parent := map[string]string{}
	names := map[string]bool{}
	for _, c := range d.Constraints {
		require.False(t, names[c.Name], "duplicate constraint %s", c.Name)
		names[c.Name] = true
		require.Contains(t, parts, c.Part, "constraint %s", c.Name)
		require.Contains(t, parts, c.Parent, "constraint %s", c.Name)
		require.Contains(t, parts[c.Part].LCS, c.LCS, "constraint %s", c.Name)
		require.Contains(t, parts[c.Parent].LCS, c.ParentLCS, "constraint %s", c.Name)
		require.False(t, parts[c.Part].Grounded, "constraint %s attaches a grounded part", c.Name)
		require.NotContains(t, parent, c.Part, "part %s attached twice", c.Part)
		parent[c.Part] = c.Parent
	}
	for name, p := range parts {
		if p.Grounded {
			continue
		}
		seen := map[string]bool{}
		for at := name; !parts[at].Grounded; at = parent[at] {
			require.Contains(t, parent, at, "part %s is not attached", at)
			require.False(t, seen[at], "cycle through %s", at)
			seen[at] = true
		}
	}
	for _, o := range d.Overrides {
		assert.Contains(t, parts, o.Part, "override")
		assert.Positive(t, o.DensityKgM3)
		assert.Positive(t, o.YoungsModulusPa)
	}
	return euler
}

func TestBracketFile(t *testing.T) {
	want, err := Bracket()
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile(bracketPath, want, 0o644))
	}
	got, err := os.ReadFile(bracketPath)
	require.NoError(t, err, "run go test ./internal/example -run TestBracketFile -update")
	require.Equal(t, string(want), string(got), "examples/bracket.json is stale: run go test ./internal/example -run TestBracketFile -update")
	assert.Less(t, len(got), 200_000, "bracket.json size")

	var d Document
	require.NoError(t, json.Unmarshal(got, &d))
	built, err := BracketDocument()
	require.NoError(t, err)
	assert.Equal(t, *built, d, "the file decodes to BracketDocument()")
}

func TestBracketDocument(t *testing.T) {
	d, err := BracketDocument()
	require.NoError(t, err)
	euler := checkDocument(t, d)
	assert.Equal(t, map[string]int{"base": 2, "upright": 2, "gusset": 2, "pin": 2, "washer": 0}, euler)
	assert.GreaterOrEqual(t, len(d.Constraints), 4)
	assert.Len(t, d.Overrides, 1)

	materials := map[string]bool{}
	rotated := 0
	for _, p := range d.Parts {
		materials[p.Material] = true
		for _, l := range p.LCS {
			if l.Rotation.AngleDeg != 0 {
				rotated++
			}
		}
	}
	assert.GreaterOrEqual(t, len(materials), 3, "distinct materials")
	assert.GreaterOrEqual(t, rotated, 3, "rotated LCS")
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		parts, detail int
	}{
		{1, 1}, {2, 1}, {7, 2}, {25, 3}, {60, 1},
	}
	for _, tt := range tests {
		d, err := GenerateDocument(tt.parts, tt.detail)
		require.NoError(t, err)
		checkDocument(t, d)
		assert.Len(t, d.Parts, tt.parts)
		assert.Len(t, d.Constraints, tt.parts-1)
		assert.Len(t, d.Overrides, (tt.parts+9)/10)
		triangles := 0
		for i, p := range d.Parts {
			triangles += len(p.Mesh.Triangles)
			assert.Equal(t, Materials()[i%len(library)], p.Material)
		}
		assert.EqualValues(t, estimateTriangles(tt.parts, tt.detail), triangles)

		b, err := Generate(tt.parts, tt.detail)
		require.NoError(t, err)
		again, err := Generate(tt.parts, tt.detail)
		require.NoError(t, err)
		require.Equal(t, b, again, "deterministic")
		var decoded Document
		require.NoError(t, json.Unmarshal(b, &decoded))
		assert.Equal(t, *d, decoded)
	}
}

func TestGenerateShape(t *testing.T) {
	d, err := GenerateDocument(40, 2)
	require.NoError(t, err)
	children := map[string]int{}
	for _, c := range d.Constraints {
		children[c.Parent]++
	}
	branching, chained := 0, 0
	for _, n := range children {
		if n > 1 {
			branching++
		} else {
			chained++
		}
	}
	assert.Positive(t, branching, "parts with several children (branches)")
	assert.Positive(t, chained, "parts with one child (chains)")

	var prev int
	for detail := 1; detail <= 4; detail++ {
		n := int(estimateTriangles(4, detail))
		assert.Greater(t, n, prev, "triangles grow with detail")
		prev = n
	}
	shapes := []string{}
	for _, p := range d.Parts[:4] {
		shapes = append(shapes, p.Name)
	}
	assert.Equal(t, []string{"box_0", "cylinder_1", "ring_2", "torus_3"}, shapes)
	assert.True(t, slices.ContainsFunc(d.Parts, func(p Part) bool { return p.LCS["LCS_Top"].Rotation.Axis == [3]float64{1, -2, 0.5} }))
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		parts, detail int
		want          string
	}{
		{0, 1, "generate: 0 parts: want 1 to 100000"},
		{MaxParts + 1, 1, "generate: 100001 parts: want 1 to 100000"},
		{1, 0, "generate: detail 0: want 1 to 1000"},
		{10, 1000, "generate: 10 parts at detail 1000 make about 92208152 triangles: want at most 20000000"},
	}
	for _, tt := range tests {
		_, err := Generate(tt.parts, tt.detail)
		require.EqualError(t, err, tt.want)
	}
}
