package stage

import (
	"math"
	"strconv"

	"github.com/phasehost/phasehost/sdk/go/docjson"
)

// The parts' placements and the summary are written by hand, as
// json.Marshal writes them: its reflection costs ten times more in
// WebAssembly than natively, some 2 ms a run on a document of 100 parts
// there. TestOutputAsMarshal holds both to json.Marshal.

// appendPlacement appends out as json.Marshal does; ok is false, and
// nothing appended, when a number is not finite (json.Marshal says which).
func appendPlacement(buf []byte, out *placementOut) (_ []byte, ok bool) {
	for _, v := range out.Matrix {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return buf, false
		}
	}
	for _, v := range [...]float64{out.Position[0], out.Position[1], out.Position[2], out.Rotation.Axis[0], out.Rotation.Axis[1], out.Rotation.Axis[2], out.Rotation.AngleDeg} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return buf, false
		}
	}
	buf = append(buf, `{"position":`...)
	buf = appendNumbers(buf, out.Position[:])
	buf = append(buf, `,"rotation":{"axis":`...)
	buf = appendNumbers(buf, out.Rotation.Axis[:])
	buf = append(buf, `,"angle_deg":`...)
	buf = appendJSONFloat(buf, out.Rotation.AngleDeg)
	buf = append(buf, `},"matrix":`...)
	buf = appendNumbers(buf, out.Matrix[:])
	return append(buf, '}'), true
}

// appendSummary appends s as json.Marshal does.
func appendSummary(buf []byte, s *summary) []byte {
	buf = append(buf, `{"order":`...)
	buf = docjson.AppendStrings(buf, s.Order)
	buf = append(buf, `,"constraints_solved":`...)
	buf = strconv.AppendInt(buf, int64(s.ConstraintsSolved), 10)
	buf = append(buf, `,"vertices_transformed":`...)
	buf = strconv.AppendInt(buf, s.VerticesTransformed, 10)
	return append(buf, '}')
}

// appendNumbers appends finite numbers as a JSON array, as json.Marshal
// does.
func appendNumbers(buf []byte, v []float64) []byte {
	buf = append(buf, '[')
	for i, x := range v {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONFloat(buf, x)
	}
	return append(buf, ']')
}

// appendJSONFloat appends v, finite, as json.Marshal does: strconv's
// shortest 'f' text, or 'e' for the smallest and largest magnitudes with a
// one-digit exponent written without its leading zero (1e-7, not 1e-07).
func appendJSONFloat(buf []byte, v float64) []byte {
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		buf = strconv.AppendFloat(buf, v, 'e', -1, 64)
		if n := len(buf); n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
			buf[n-2] = buf[n-1]
			buf = buf[:n-1]
		}
		return buf
	}
	return docjson.AppendFloatFixed(buf, v)
}
