package stage

import "testing"

// BenchmarkMassProperties integrates a box of 120,000 triangles, moved off
// the origin, as applyMassProperties does for one part.
func BenchmarkMassProperties(b *testing.B) {
	m := boxMesh(100, [3]float64{0, 0, 20}, [3]float64{20, 20, 300}).moved(rotation([3]float64{1, 1, 0}, 0.3), [3]float64{5, 5, 0})
	tris := make([][3]int32, len(m.Triangles))
	for i, t := range m.Triangles {
		tris[i] = [3]int32{int32(t[0]), int32(t[1]), int32(t[2])}
	}
	b.ReportAllocs()
	for b.Loop() {
		in := integrals{ref: boundsCentre(m.Vertices)}
		in.add(m.Vertices, tris)
		if p := in.result(); !(p.volume > 0) {
			b.Fatal(p.volume)
		}
	}
}
