package stage

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/phasehost/phasehost/sdk/go/docjson"
)

// parseVertices reads a mesh's "vertices" (JSON text that docjson.Check
// accepted) when the scanner did not parse them in place: with docjson's
// parser, and, when that refuses them, element by element to name the
// vertex and coordinate at fault.
func parseVertices(data []byte) ([][3]float64, error) {
	if v, err := docjson.ParseVertices(data); err == nil {
		return v, nil
	}
	if data[0] != '[' {
		return nil, errors.New("vertices: want an array of [x, y, z]")
	}
	elems, err := docjson.SplitArray(data)
	if err != nil {
		return nil, err
	}
	out := make([][3]float64, len(elems))
	for n, e := range elems {
		if e[0] != '[' {
			return nil, fmt.Errorf("vertex %d: want [x, y, z]", n)
		}
		coords, err := docjson.SplitArray(e)
		if err != nil {
			return nil, err
		}
		for c := 0; c < 3; c++ {
			if c > 0 && c >= len(coords) {
				return nil, fmt.Errorf("vertex %d: has %d coordinates, want 3", n, c)
			}
			if c >= len(coords) || (coords[c][0] != '-' && (coords[c][0] < '0' || coords[c][0] > '9')) {
				return nil, fmt.Errorf("vertex %d: coordinate %d: not a number", n, c)
			}
			v, err := strconv.ParseFloat(string(coords[c]), 64)
			if err != nil {
				return nil, fmt.Errorf("vertex %d: coordinate %d: number %s out of range", n, c, coords[c])
			}
			out[n][c] = v
		}
		if len(coords) > 3 {
			return nil, fmt.Errorf("vertex %d: has more than 3 coordinates, want 3", n)
		}
	}
	return out, nil
}

// appendVertices appends vertices as a JSON array of [x, y, z].
//
// It is shaped for WebAssembly, where every taken branch is an indirect
// jump (and, under the host's loop instrumentation, a countdown too): a
// vertex whose three coordinates all take AppendFloatFixed straight, as
// most do, is written in one straight run, after one test for the three
// (see plainLow); the others go coordinate by coordinate through
// appendFloat. The brackets between two vertices, "],[", are one append.
func appendVertices(buf []byte, v [][3]float64) ([]byte, error) {
	buf = append(buf, '[', '[')
	for i := range v {
		x, y, z := v[i][0], v[i][1], v[i][2]
		bx := math.Float64bits(x)&^(1<<63) - plainLow
		by := math.Float64bits(y)&^(1<<63) - plainLow
		bz := math.Float64bits(z)&^(1<<63) - plainLow
		if max(bx, by, bz) < plainSpan {
			buf = docjson.AppendFloatFixed(buf, x)
			buf = append(buf, ',')
			buf = docjson.AppendFloatFixed(buf, y)
			buf = append(buf, ',')
			buf = docjson.AppendFloatFixed(buf, z)
			buf = append(buf, ']', ',', '[')
			continue
		}
		for c := 0; c < 3; c++ {
			if c > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendFloat(buf, v[i][c]); err != nil {
				return nil, fmt.Errorf("vertex %d: %w", i, err)
			}
		}
		buf = append(buf, ']', ',', '[')
	}
	if len(v) == 0 {
		buf[len(buf)-1] = ']' // "[]"
		return buf, nil
	}
	buf = buf[:len(buf)-2] // the last vertex's ",["
	return append(buf, ']'), nil
}

// A coordinate x takes AppendFloatFixed straight when 1e-6 ≤ |x| < 1e21
// (appendFloat has the others): for float64s of the same sign the order of
// their bits is their order, so that is |x|'s bits minus plainLow, unsigned,
// below plainSpan (NaN's and ±Inf's are above). The three tests of a vertex
// are then one comparison of the largest, without && (a branch each).
var (
	plainLow  = math.Float64bits(1e-6)
	plainSpan = math.Float64bits(1e21) - plainLow
)

// appendFloat appends v in its shortest representation, with an exponent
// only for very small or large magnitudes, as encoding/json chooses; the
// exponent is strconv's (1e-07, where encoding/json writes 1e-7), as this
// stage has always written it (TestAppendVertices pins it; appendJSONFloat,
// for the other numbers of the output, writes encoding/json's).
func appendFloat(buf []byte, v float64) ([]byte, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("coordinate %v is not finite after the transform", v)
	}
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.AppendFloat(buf, v, 'e', -1, 64), nil
	}
	// The same text as strconv.AppendFloat(buf, v, 'f', -1, 64), cheaper in
	// WebAssembly.
	return docjson.AppendFloatFixed(buf, v), nil
}
