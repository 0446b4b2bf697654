package stage

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/phasehost/phasehost/plugins/assembly4/phases"
	"github.com/phasehost/phasehost/sdk/go/sdktest"
)

// benchDoc builds a synthetic assembly of parts parts with verts vertices
// (and 2·verts triangles) each: part 0 is grounded, part i is attached to
// part i-1, or to part i/3 when i is a multiple of 3, through rotated LCS.
// The meshes are not closed solids (this module cannot import the root
// module's internal/example builders); assembly4 only transforms vertices, so
// for its benchmark the data volume is what matters.
func benchDoc(parts, verts int) []byte {
	type rotation struct {
		Axis     [3]float64 `json:"axis"`
		AngleDeg float64    `json:"angle_deg"`
	}
	type lcs struct {
		Origin   [3]float64 `json:"origin"`
		Rotation rotation   `json:"rotation"`
	}
	type mesh struct {
		Vertices  [][3]float64 `json:"vertices"`
		Triangles [][3]int     `json:"triangles"`
	}
	type part struct {
		Name     string         `json:"name"`
		Material string         `json:"material"`
		Mesh     mesh           `json:"mesh"`
		LCS      map[string]lcs `json:"lcs"`
		Grounded bool           `json:"grounded,omitempty"`
	}
	type constraint struct {
		Name      string `json:"name"`
		Part      string `json:"part"`
		LCS       string `json:"lcs"`
		Parent    string `json:"parent"`
		ParentLCS string `json:"parent_lcs"`
	}
	doc := struct {
		Assembly    string       `json:"assembly"`
		Units       string       `json:"units"`
		Parts       []part       `json:"parts"`
		Constraints []constraint `json:"constraints"`
	}{Assembly: fmt.Sprintf("bench-%d-%d", parts, verts), Units: "mm"}
	for i := 0; i < parts; i++ {
		m := mesh{Vertices: make([][3]float64, verts), Triangles: make([][3]int, 0, 2*verts)}
		for k := range m.Vertices {
			m.Vertices[k] = [3]float64{float64(k%17) * 1.25, float64(k%13) * 0.5, float64((k+i)%11) * 0.75}
		}
		for k := 0; verts >= 3 && k < 2*verts; k++ {
			m.Triangles = append(m.Triangles, [3]int{k % verts, (k + 1) % verts, (k + 2) % verts})
		}
		doc.Parts = append(doc.Parts, part{
			Name:     fmt.Sprintf("part_%d", i),
			Material: "steel-s235",
			Mesh:     m,
			Grounded: i == 0,
			LCS: map[string]lcs{
				"LCS_Base": {Origin: [3]float64{0, 0, -1}, Rotation: rotation{Axis: [3]float64{0, 0, 1}, AngleDeg: 45}},
				"LCS_Top":  {Origin: [3]float64{1, 2, 3}, Rotation: rotation{Axis: [3]float64{1, 1, 0}, AngleDeg: float64(30 + i%60)}},
			},
		})
		if i > 0 {
			parent := i - 1
			if i%3 == 0 {
				parent = i / 3
			}
			doc.Constraints = append(doc.Constraints, constraint{
				Name: fmt.Sprintf("c_%d", i), Part: fmt.Sprintf("part_%d", i), LCS: "LCS_Base",
				Parent: fmt.Sprintf("part_%d", parent), ParentLCS: "LCS_Top",
			})
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // only plain structs: cannot happen
	}
	return b
}

// BenchmarkStage runs Stage natively on a large input: the file named by
// PHASEHOST_BENCH_INPUT if set (e.g. from `phasectl example`), else a
// synthetic assembly of 200 parts of 2500 vertices (500k vertices, ~1M
// triangles).
func BenchmarkStage(b *testing.B) {
	input := benchDoc(200, 2500)
	if path := os.Getenv("PHASEHOST_BENCH_INPUT"); path != "" {
		var err error
		if input, err = os.ReadFile(path); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		h := sdktest.New(input, phases.All(), sdktest.Options{})
		if err := Stage(h); err != nil {
			b.Fatal(err)
		}
	}
}
