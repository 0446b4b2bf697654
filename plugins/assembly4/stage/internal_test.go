package stage

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/sdk/go/docjson"
)

func TestDecodeObjectRoundTrip(t *testing.T) {
	tests := []string{
		`{}`,
		` { "a" : 1 } `,
		`{"a":"x\"]}{[","b":[1,{"c":"\\"}],"d":  true , "e":null,"f":-1.5e+3,"g":{},"h":[]}`,
		"{\n\t\"unicode \\u00e9\": \"caf\\u00e9 ☕\",\r\n \"nested\": [[[{\"x\": [\"]\"]}]]]\n}",
	}
	for _, in := range tests {
		require.NoError(t, docjson.Check([]byte(in)))
		o, err := decodeObject([]byte(in))
		require.NoError(t, err, in)
		out, err := o.appendTo(nil)
		require.NoError(t, err)
		assert.JSONEq(t, in, string(out), in)
	}
}

func TestDecodeObjectKeepsOrderAndReplaces(t *testing.T) {
	o, err := decodeObject([]byte(`{"z":1,"a":2,"m":3,"a":4}`))
	require.NoError(t, err)
	o.set("m", func(buf []byte) ([]byte, error) { return append(buf, `"new"`...), nil })
	require.NoError(t, o.setJSON("added", []int{1}))
	out, err := o.appendTo(nil)
	require.NoError(t, err)
	assert.Equal(t, `{"z":1,"a":4,"m":"new","added":[1]}`, string(out))
}

func TestSplitArray(t *testing.T) {
	parts, err := splitArray([]byte(` [ {"a":"]"} , 2,"x",[3,[4]] ] `))
	require.NoError(t, err)
	var got []string
	for _, p := range parts {
		got = append(got, string(p))
	}
	assert.Equal(t, []string{`{"a":"]"}`, `2`, `"x"`, `[3,[4]]`}, got)

	parts, err = splitArray([]byte(`null`))
	require.NoError(t, err)
	assert.Empty(t, parts)
	parts, err = splitArray([]byte(`[]`))
	require.NoError(t, err)
	assert.Empty(t, parts)
}

func TestParseVertices(t *testing.T) {
	v, err := parseVertices([]byte(" [ [1, -2.5e1 ,3] ,\n[0,0,1E-3]] "))
	require.NoError(t, err)
	assert.Equal(t, []float64{1, -25, 3, 0, 0, 0.001}, v)

	v, err = parseVertices([]byte(`[]`))
	require.NoError(t, err)
	assert.Empty(t, v)

	_, err = parseVertices([]byte(`{"x":1}`))
	require.EqualError(t, err, "vertices: want an array of [x, y, z]")
	_, err = parseVertices([]byte(`[1,2,3]`))
	require.EqualError(t, err, "vertex 0: want [x, y, z]")
	_, err = parseVertices([]byte(`[[1,2,3],[null,1,2]]`))
	require.EqualError(t, err, "vertex 1: coordinate 0: not a number")
}

func TestAppendVertices(t *testing.T) {
	b, err := appendVertices(nil, []float64{1, -0.5, 1e21, 1e-7, 123456789, 0})
	require.NoError(t, err)
	assert.Equal(t, `[[1,-0.5,1e+21],[1e-07,123456789,0]]`, string(b))
	_, err = appendVertices(nil, []float64{math.Inf(1), 0, 0})
	require.EqualError(t, err, "vertex 0: coordinate +Inf is not finite after the transform")
}

func matNear(t *testing.T, want, got mat4, msg string) {
	t.Helper()
	for i := range want {
		if math.Abs(want[i]-got[i]) > 1e-9 {
			assert.Fail(t, msg, "want %v\ngot  %v", want, got)
			return
		}
	}
}

func TestRigidAndAxisAngle(t *testing.T) {
	axes := [][3]float64{{0, 0, 1}, {1, 0, 0}, {0, -1, 0}, {1, 1, 1}, {1, -2, 0.5}, {-3, 0.1, 2}}
	angles := []float64{0, 1e-7, 15, 90, 120, 179.999, 180, 181, 270, -45, 720 + 30}
	for _, axis := range axes {
		for _, angle := range angles {
			m, err := rigid([3]float64{1, -2, 3}, axis, angle)
			require.NoError(t, err)
			a, deg := m.axisAngle()
			assert.GreaterOrEqual(t, deg, 0.0)
			assert.LessOrEqual(t, deg, 180.0)
			back, err := rigid([3]float64{1, -2, 3}, a, deg)
			require.NoError(t, err)
			matNear(t, m, back, "axis-angle round trip")
			matNear(t, identity(), m.mul(m.inverse()), "m × m⁻¹")
			matNear(t, identity(), m.inverse().mul(m), "m⁻¹ × m")
		}
	}
}

func TestRigidExactQuarterTurns(t *testing.T) {
	m, err := rigid([3]float64{}, [3]float64{0, 0, 5}, 90)
	require.NoError(t, err)
	assert.Equal(t, mat4{0, -1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, m)
	m, err = rigid([3]float64{}, [3]float64{0, 1, 0}, -90)
	require.NoError(t, err)
	assert.Equal(t, mat4{0, 0, -1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1}, m)
	a, deg := m.axisAngle()
	assert.Equal(t, [3]float64{0, -1, 0}, a)
	assert.Equal(t, 90.0, deg)

	_, err = rigid([3]float64{}, [3]float64{}, 10)
	require.ErrorIs(t, err, errZeroAxis)
	_, err = rigid([3]float64{math.NaN(), 0, 0}, [3]float64{0, 0, 1}, 10)
	require.EqualError(t, err, "non-finite number NaN")
}
