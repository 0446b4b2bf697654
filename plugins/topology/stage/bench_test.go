package stage

import (
	"testing"

	"github.com/phasehost/phasehost/sdk/go/sdktest"

	"github.com/phasehost/phasehost/plugins/topology/phases"
)

// BenchmarkStage runs the stage natively on a 4-part document: a torus of
// 240,000 triangles, a subdivided box of 120,000, and two smaller parts,
// with constraints between them (about 13 MB of JSON).
func BenchmarkStage(b *testing.B) {
	doc := mustJSON(b, obj{
		"assembly": "bench",
		"parts": []obj{
			testPart("base", boxMesh(100, [3]float64{0, 0, 0}, [3]float64{200, 100, 20}, nil)),
			testPart("ring", torusMesh(400, 300, 50, 10)),
			testPart("pin", boxMesh(30, [3]float64{-5, -5, 0}, [3]float64{10, 10, 40}, nil)),
			testPart("cap", torusMesh(60, 40, 10, 2)),
		},
		"constraints": []obj{
			{"part": "ring", "parent": "base"},
			{"part": "pin", "parent": "base"},
			{"part": "cap", "parent": "pin"},
		},
	})
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		h := sdktest.New(doc, phases.All(), sdktest.Options{})
		if err := Stage(h); err != nil {
			b.Fatal(err)
		}
	}
}
