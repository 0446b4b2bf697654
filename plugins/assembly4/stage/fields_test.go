package stage

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNumberAsParseFloat holds number and cursor.number (shortDecimal, then strconv) to
// strconv.ParseFloat, bit for bit, on decimals of every length around the
// 15 digits shortDecimal takes.
func TestNumberAsParseFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	texts := []string{"0", "-0", "0.0", "-0.0", "1", "-1", "90", "0.1", "0.3", "2.5", "-2.5",
		"123456789012345", "999999999999999", "1234567890123456", "0.000000000000001", "0.0000000000000001",
		"99999999999999.9", "9007199254740993", "1e5", "1E-3", "-2.5e+2", "1e999", "-1e999", "1e-999"}
	for i := 0; i < 100000; i++ {
		nd := 1 + r.IntN(18)
		digits := make([]byte, nd)
		for k := range digits {
			digits[k] = byte('0' + r.IntN(10))
		}
		if digits[0] == '0' && nd > 1 {
			digits[0] = '1'
		}
		s := string(digits)
		if p := r.IntN(nd + 1); p > 0 && p < nd {
			s = s[:p] + "." + s[p:]
		} else if p == 0 {
			s = "0." + s
		}
		if r.IntN(2) == 0 {
			s = "-" + s
		}
		texts = append(texts, s)
	}
	for _, s := range texts {
		want, err := strconv.ParseFloat(s, 64)
		got, ok := number([]byte(s))
		require.Equal(t, err == nil, ok, s)
		if ok {
			require.Equal(t, math.Float64bits(want), math.Float64bits(got), s)
		}
		// In place, as the cursor reads array elements.
		c := cursor{b: []byte(" " + s + " ]")}
		got, ok = c.number()
		require.Equal(t, err == nil, ok, s)
		if ok {
			require.Equal(t, math.Float64bits(want), math.Float64bits(got), s)
			require.Equal(t, len(s)+1, c.i, s)
		}
	}
	for _, s := range []string{`"1"`, "null", "true", "[1]", "{}"} {
		_, ok := number([]byte(s))
		assert.False(t, ok, s)
	}
}

// TestFastFieldsAsEncodingJSON holds the fast paths of fields.go to
// encoding/json's decoding: each either declines, or gives what
// json.Unmarshal gives (for constraints, also its error).
func TestFastFieldsAsEncodingJSON(t *testing.T) {
	frames := []string{
		`{}`, `{"origin":[1,2,3]}`, `{"origin":[]}`, `{"origin":[1,2]}`, `{"origin":[1,2,3,4]}`,
		`{"origin":[0.5,-2,1e3],"rotation":{"axis":[0,0,1],"angle_deg":90}}`,
		`{ "rotation" : { "angle_deg" : 12.25 , "axis" : [ 1 , 1 , 0 ] } , "origin" : [ 1 , 2 , 3 ] }`,
		`{"rotation":{}}`, `{"rotation":null}`, `{"origin":null}`, `{"origin":[1,2,3],"origin":[4,5,6]}`,
		`{"rotation":{"axis":[1,0,0]},"rotation":{"angle_deg":3}}`, `{"rotation":{"axis":[1,0,0],"axis":[0,1,0]}}`,
		`{"rotation":{"angle_deg":1,"angle_deg":2}}`, `{"Origin":[1,2,3]}`, `{"origin":[1,2,3],"extra":1}`,
		`{"origin":["1",2,3]}`, `{"origin":[1e999,2,3]}`, `{"rotation":{"angle_deg":"9"}}`, `{"rotation":[]}`,
		`{"or\u0069gin":[1,2,3]}`, `{"rotation":{"axis":[1,2,3],"angle_deg":0.1234567890123456789}}`,
		`null`, `[]`, `1`,
	}
	convert := func(l lcsJSON) frame { return frameOf(l.Origin, l.Rotation) }

	for _, raw := range frames {
		// As an LCS, in an "lcs" object with other names.
		for _, lraw := range []string{`{"L":` + raw + `}`, `{"b":{},"a":` + raw + `,"b":{"origin":[9,9,9]}}`, `{"L":` + raw + `,"L":{}}`} {
			var want map[string]lcsJSON
			werr := json.Unmarshal([]byte(lraw), &want)
			got, err := decodeLCS([]byte(lraw))
			if werr != nil {
				require.EqualError(t, err, werr.Error(), lraw)
				continue
			}
			require.NoError(t, err, lraw)
			require.Len(t, got, len(want), lraw)
			for i, f := range got {
				if i > 0 {
					require.Less(t, got[i-1].name, f.name, lraw)
				}
				require.Contains(t, want, f.name, lraw)
				require.Equal(t, convert(want[f.name]), f.frame, lraw)
			}
		}
		// As a placement.
		pos := []byte(`{"position"` + raw[min(len(raw), 9):])
		if raw[0] != '{' || len(raw) < 10 || raw[:9] != `{"origin"` {
			pos = []byte(raw)
		}
		var want *placementJSON
		werr := json.Unmarshal(pos, &want)
		got, given, err := decodePlacement(pos)
		if werr != nil {
			require.EqualError(t, err, werr.Error(), string(pos))
			continue
		}
		require.NoError(t, err, string(pos))
		require.Equal(t, want != nil, given, string(pos))
		if want != nil {
			require.Equal(t, frameOf(want.Position, want.Rotation), got, string(pos))
		}
	}
	for _, raw := range []string{`{"lcs":{}}`, `{}`, `{"\u00e9":{}}`, `{"a\"b":{}}`, "{\"\xff\":{}}", `null`} {
		var want map[string]lcsJSON
		werr := json.Unmarshal([]byte(raw), &want)
		got, err := decodeLCS([]byte(raw))
		if werr != nil {
			require.EqualError(t, err, werr.Error(), raw)
			continue
		}
		require.NoError(t, err, raw)
		require.Len(t, got, len(want), raw)
		for _, f := range got {
			require.Contains(t, want, f.name, raw)
		}
	}

	cons := []string{
		`[]`, `[{}]`, `null`, `[{"name":"c","part":"a","lcs":"L","parent":"b","parent_lcs":"M"}]`,
		`[ { "name" : "c" , "part" : "a" } , { "parent" : "b" } ]`, `[{"name":"c","name":"d"}]`,
		`[{"name":"c\u0041"}]`, `[{"Name":"c"}]`, `[{"name":1}]`, `[{"name":null}]`, `[1]`, `[null]`,
		`[{"name":"c","extra":true}]`, "[{\"name\":\"\xff\"}]", `{"name":"c"}`,
	}
	for _, raw := range cons {
		var want, got []constraint
		werr := json.Unmarshal([]byte(raw), &want)
		err := decodeConstraints([]byte(raw), &got)
		if werr != nil {
			require.EqualError(t, err, werr.Error(), raw)
			continue
		}
		require.NoError(t, err, raw)
		require.Equal(t, want, got, raw)
		if _, ok := constraintsFast([]byte(raw)); ok {
			require.NotNil(t, got, "the fast path gives an empty slice for [], as encoding/json")
		}
	}
}

// TestFastFieldsTaken makes sure the documents' usual shapes take the fast
// paths (so that the test above compares them).
func TestFastFieldsTaken(t *testing.T) {
	c := cursor{b: []byte(`{"origin":[0,0,5],"rotation":{"axis":[1,-2,0.5],"angle_deg":78}}`)}
	f, ok := c.frame("origin")
	require.True(t, ok)
	assert.Equal(t, frame{origin: coords{[3]float64{0, 0, 5}, 3}, rotated: true, axis: coords{[3]float64{1, -2, 0.5}, 3}, angle: 78}, f)
	l, ok := lcsFast([]byte(`{"LCS_Base":{"origin":[0,0,0]},"LCS_Top":{"rotation":{"angle_deg":0}}}`))
	require.True(t, ok)
	assert.Len(t, l, 2)
	cs, ok := constraintsFast([]byte(`[{"name":"c","part":"a","lcs":"L","parent":"b","parent_lcs":"M"}]`))
	require.True(t, ok)
	assert.Equal(t, []constraint{{Name: "c", Part: "a", LCS: "L", Parent: "b", ParentLCS: "M"}}, cs)
}

// TestOutputAsMarshal holds appendPlacement and appendSummary to
// json.Marshal, and appendPlacement's refusal to its error.
func TestOutputAsMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	special := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 1e-6, 9.99e-7, -1e-7, 1.5e-300, 1e20, 1e21, -1e21, 1.2345e22,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 1e-5, 123456789.123, 2.5e-8}
	val := func() float64 {
		switch r.IntN(4) {
		case 0:
			return special[r.IntN(len(special))]
		case 1:
			return math.Float64frombits(r.Uint64())
		case 2:
			return (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(40)-15))
		}
		return float64(r.IntN(2001)-1000) / 8
	}
	for n := 0; n < 20000; n++ {
		var out placementOut
		for i := range out.Matrix {
			out.Matrix[i] = val()
		}
		for i := range out.Position {
			out.Position[i], out.Rotation.Axis[i] = val(), val()
		}
		out.Rotation.AngleDeg = val()
		want, werr := json.Marshal(out)
		got, ok := appendPlacement([]byte("x"), &out)
		require.Equal(t, werr == nil, ok, "%v", out)
		if ok {
			require.Equal(t, "x"+string(want), string(got))
		} else {
			require.Equal(t, "x", string(got))
		}
	}
	for _, s := range []summary{
		{}, {Order: []string{}}, {Order: []string{"a", "b<&>", "é\"\\\n"}, ConstraintsSolved: 2, VerticesTransformed: 1 << 40},
		{Order: []string{"\xff", "\u2028"}, ConstraintsSolved: -1},
	} {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(appendSummary(nil, &s)))
	}
}
