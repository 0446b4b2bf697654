package stage

import (
	"testing"

	"github.com/phasehost/phasehost/sdk/go/sdktest"

	"github.com/phasehost/phasehost/plugins/material/phases"
)

// BenchmarkStage runs the stage natively on a 4-part document of 2×120,000
// and 2×30,000 triangles, about 8 MB of JSON.
func BenchmarkStage(b *testing.B) {
	doc := mustJSON(b, obj{
		"assembly": "bench",
		"units":    "mm",
		"parts": []obj{
			testPart("base", "aluminium-6061-t6", boxMesh(100, [3]float64{0, 0, 0}, [3]float64{200, 100, 20})),
			testPart("arm", "steel-s235", boxMesh(100, [3]float64{0, 0, 20}, [3]float64{20, 20, 300}).moved(rotation([3]float64{1, 1, 0}, 0.3), [3]float64{5, 5, 0})),
			testPart("pin", "brass-c360", boxMesh(50, [3]float64{-5, -5, 0}, [3]float64{10, 10, 40})),
			testPart("cap", "abs", boxMesh(50, [3]float64{0, 0, 320}, [3]float64{30, 30, 10})),
		},
		"overrides": []obj{{"part": "arm", PropDensity: 7800}},
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
