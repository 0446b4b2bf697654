package docjson

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
)

// benchMesh returns a mesh object of 50k vertices, whose coordinates are
// shortest representations of up to 17 digits as a previous stage writes
// them, and 100k triangles: about 4 MB.
func benchMesh() []byte {
	b := []byte(`{"vertices":[`)
	for i := 0; i < 50000; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "[%s,%s,%s]", strconv.FormatFloat(math.Sin(float64(i))*123.456, 'g', -1, 64),
			strconv.FormatFloat(math.Cos(float64(i))*77.1, 'g', -1, 64), strconv.FormatFloat(float64(i)*0.37, 'g', -1, 64))
	}
	b = append(b, `],"triangles":[`...)
	for i := 0; i < 100000; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "[%d,%d,%d]", i%50000, (i*7)%50000, (i*13)%50000)
	}
	return append(b, "]}"...)
}

// benchDocument returns a document of 10 parts with benchMesh's mesh each.
func benchDocument() []byte {
	m := benchMesh()
	b := []byte(`{"units":"mm","parts":[`)
	for i := 0; i < 10; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"name":"part_%d","material":"steel","mesh":%s}`, i, m)
	}
	return append(b, "]}"...)
}

func BenchmarkCheck(b *testing.B) {
	d := benchMesh()
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		if err := Check(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMesh parses a mesh that was not parsed by the check before it.
func BenchmarkMesh(b *testing.B) {
	d := benchMesh()
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		if _, err := NewScanner(d).Mesh(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseDocument checks and parses a document the way the material
// and topology stages do.
func BenchmarkParseDocument(b *testing.B) {
	d := benchDocument()
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		_, parts, err := ParseDocument(d, "parts", nil, func(i int, s *Scanner) (Mesh, error) {
			_, m, meshErr, err := s.ObjectWithMesh("mesh")
			if err == nil {
				err = meshErr
			}
			return m, err
		})
		if err != nil || len(parts) != 10 {
			b.Fatal(err)
		}
	}
}

// partVertices reads a part's mesh's vertices, as the assembly4 stage does.
func partVertices(i int, s *Scanner) ([][3]float64, error) {
	var v [][3]float64
	_, err := s.Object(func(key string, s *Scanner) (bool, error) {
		if key != "mesh" {
			return false, nil
		}
		_, err := s.Object(func(key string, s *Scanner) (bool, error) {
			if key != "vertices" {
				return false, nil
			}
			var err error
			v, err = s.Vertices()
			return true, err
		})
		return true, err
	})
	return v, err
}

// BenchmarkParseDocumentVertices checks and parses a document the way the
// assembly4 stage does: its meshes' vertices parsed, their triangles parsed
// too (parsed) or only checked (raw, ParseOptions.RawTriangles).
func BenchmarkParseDocumentVertices(b *testing.B) {
	d := benchDocument()
	for _, raw := range []bool{false, true} {
		b.Run(map[bool]string{false: "parsed", true: "raw"}[raw], func(b *testing.B) {
			b.SetBytes(int64(len(d)))
			for b.Loop() {
				_, parts, err := ParseDocumentWith(d, "parts", nil, ParseOptions{RawTriangles: raw}, partVertices)
				if err != nil || len(parts) != 10 {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkValue(b *testing.B) {
	d := benchMesh()
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		NewScanner(d).Value()
	}
}

var benchNumbers = []string{"123.456789012", "-77.0999", "0.37", "1e-3", "18499.63", "12.345678901234567", "-0.30000000000000004", "20"}

// BenchmarkParseNumber parses numbers followed by more of a document, as
// in a mesh (parseShortNumber's straight path, for most).
func BenchmarkParseNumber(b *testing.B) {
	toks := make([][]byte, len(benchNumbers))
	for i, s := range benchNumbers {
		toks[i] = []byte(s + ",0,0],[0,0,0],[0,0,0],[0,0,0],[0,0,0]]")
	}
	for b.Loop() {
		for _, t := range toks {
			if _, _, st := parseNumber(t, 0); st != numOK {
				b.Fatal(st)
			}
		}
	}
}

// BenchmarkParseNumberGeneral parses the same numbers alone: without 32
// bytes to read ahead, parseNumber takes its general path.
func BenchmarkParseNumberGeneral(b *testing.B) {
	toks := make([][]byte, len(benchNumbers))
	for i, s := range benchNumbers {
		toks[i] = []byte(s)
	}
	for b.Loop() {
		for _, t := range toks {
			if _, _, st := parseNumber(t, 0); st != numOK {
				b.Fatal(st)
			}
		}
	}
}

// BenchmarkParseFloat is BenchmarkParseNumber with strconv.ParseFloat.
func BenchmarkParseFloat(b *testing.B) {
	for b.Loop() {
		for _, t := range benchNumbers {
			if _, err := strconv.ParseFloat(t, 64); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkAppendWithArray writes a parsed document back, as the material
// and topology stages do.
func BenchmarkAppendWithArray(b *testing.B) {
	d := benchDocument()
	top, err := ParseObject(d)
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := top.Get("parts")
	elems, err := SplitArray(raw)
	if err != nil {
		b.Fatal(err)
	}
	parts := make([]*Object, len(elems))
	for i, e := range elems {
		if parts[i], err = ParseObject(e); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		out := top.AppendWithArray(make([]byte, 0, len(d)+64), "parts", parts)
		if len(out) != len(d) {
			b.Fatal(len(out), len(d))
		}
	}
}

// BenchmarkValid checks a document as the host checks every stage's output
// (Valid): the generated document, and the file named by
// $DOCJSON_BENCH_FILE when set (a reference plugin's output, say).
func BenchmarkValid(b *testing.B) {
	docs := []struct {
		name string
		d    []byte
	}{{"document", benchDocument()}}
	if f := os.Getenv("DOCJSON_BENCH_FILE"); f != "" {
		d, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, struct {
			name string
			d    []byte
		}{"file", d})
	}
	for _, doc := range docs {
		b.Run(doc.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc.d)))
			for b.Loop() {
				if !Valid(doc.d) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// BenchmarkSkipNumberArrays checks the vertices and the triangles of
// benchMesh with skipNumberArrays alone (validate's loop for them).
func BenchmarkSkipNumberArrays(b *testing.B) {
	m := benchMesh()
	split := bytes.Index(m, []byte(`],"triangles":`))
	for _, c := range []struct {
		name string
		d    []byte
	}{{"vertices", m[len(`{"vertices":`) : split+1]}, {"triangles", m[split+len(`],"triangles":`) : len(m)-1]}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.d)))
			for b.Loop() {
				if end := skipNumberArrays(c.d, 1); end < len(c.d)-100 {
					b.Fatal(end, len(c.d)) // stopped early: a number it does not take
				}
			}
		})
	}
}

// BenchmarkParseFile parses the document named by $DOCJSON_BENCH_FILE (a
// reference plugin's output, say) as the material and topology stages do
// (document) and as the assembly4 stage does (vertices-raw), and parts of
// it: the check with the meshes parsed on the way (validate), the check
// alone (valid).
func BenchmarkParseFile(b *testing.B) {
	f := os.Getenv("DOCJSON_BENCH_FILE")
	if f == "" {
		b.Skip("no $DOCJSON_BENCH_FILE")
	}
	d, err := os.ReadFile(f)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("document", func(b *testing.B) {
		b.SetBytes(int64(len(d)))
		for b.Loop() {
			_, _, err := ParseDocument(d, "parts", nil, func(i int, s *Scanner) (Mesh, error) {
				_, m, meshErr, err := s.ObjectWithMesh("mesh")
				if err == nil {
					err = meshErr
				}
				return m, err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	// As the assembly4 stage reads its input: vertices parsed, triangles
	// only checked.
	b.Run("vertices-raw", func(b *testing.B) {
		b.SetBytes(int64(len(d)))
		for b.Loop() {
			_, _, err := ParseDocumentWith(d, "parts", nil, ParseOptions{RawTriangles: true}, partVertices)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("validate", func(b *testing.B) {
		b.SetBytes(int64(len(d)))
		for b.Loop() {
			if !validate(d, &preparsed{}) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("valid", func(b *testing.B) {
		b.SetBytes(int64(len(d)))
		for b.Loop() {
			if !Valid(d) {
				b.Fatal("invalid")
			}
		}
	})
}
