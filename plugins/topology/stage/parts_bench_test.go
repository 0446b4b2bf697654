package stage

import "testing"

// benchPart is a part of the 240,000-triangle torus of BenchmarkStage.
func benchPart() *part {
	p := partOf(torusMesh(400, 300, 50, 10))
	p.name, p.label = "ring", `part "ring"`
	return p
}

// BenchmarkBuildComplex indexes the faces and edges of a part, reusing the
// scratch buffers as the stage does from one part to the next.
func BenchmarkBuildComplex(b *testing.B) {
	p := benchPart()
	var sc scratch
	b.ReportAllocs()
	for b.Loop() {
		faces, orig := p.faces(&sc)
		buildComplex(len(p.vertices), faces, orig, &sc)
	}
}

// BenchmarkHash runs the Weisfeiler–Lehman hash of a part's complex.
func BenchmarkHash(b *testing.B) {
	p := benchPart()
	var sc scratch
	faces, orig := p.faces(&sc)
	c := buildComplex(len(p.vertices), faces, orig, &sc)
	b.ReportAllocs()
	for b.Loop() {
		c.hash(&sc)
	}
}

// BenchmarkValidate validates a part for export.
func BenchmarkValidate(b *testing.B) {
	p := benchPart()
	var sc scratch
	faces, orig := p.faces(&sc)
	c := buildComplex(len(p.vertices), faces, orig, &sc)
	h := c.hash(&sc)
	b.ReportAllocs()
	for b.Loop() {
		validate(c, p.vertices, p.triangles, h, &sc)
	}
}
