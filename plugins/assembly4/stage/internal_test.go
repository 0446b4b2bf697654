package stage

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/sdk/go/sdktest"
)

func TestParseVertices(t *testing.T) {
	v, err := parseVertices([]byte("[ [1, -2.5e1 ,3] ,\n[0,0,1E-3]]"))
	require.NoError(t, err)
	assert.Equal(t, [][3]float64{{1, -25, 3}, {0, 0, 0.001}}, v)

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
	b, err := appendVertices(nil, [][3]float64{{1, -0.5, 1e21}, {1e-7, 123456789, 0}})
	require.NoError(t, err)
	assert.Equal(t, `[[1,-0.5,1e+21],[1e-07,123456789,0]]`, string(b))
	_, err = appendVertices(nil, [][3]float64{{math.Inf(1), 0, 0}})
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

// TestRepeatedKeys holds decode to encoding/json's rule for a repeated key
// (its first position, its last value), in the one-pass parse and when a
// mesh that only a repeated key overrides makes decode read the document
// again (errRescan).
func TestRepeatedKeys(t *testing.T) {
	const identity = `"placement":{"position":[0,0,0],"rotation":{"axis":[0,0,1],"angle_deg":0},"matrix":[1,0,0,0,0,1,0,0,0,0,1,0,0,0,0,1]}`
	tests := []struct{ name, in, want string }{
		{
			"parts", `{"parts":[1],"parts":[{"name":"a","grounded":true}]}`,
			`{"parts":[{"name":"a","grounded":true,` + identity + `}],"assembly4":{"order":["a"],"constraints_solved":0,"vertices_transformed":0}}`,
		},
		{
			"parts with a bad mesh", `{"parts":[{"name":"a","grounded":true,"mesh":{"vertices":[[1,2]]}}],"parts":[{"name":"b","grounded":true}]}`,
			`{"parts":[{"name":"b","grounded":true,` + identity + `}],"assembly4":{"order":["b"],"constraints_solved":0,"vertices_transformed":0}}`,
		},
		{
			"vertices", `{"parts":[{"name":"a","grounded":true,"mesh":{"vertices":[[1,2]],"vertices":[[4,5,6]]}}]}`,
			`{"parts":[{"name":"a","grounded":true,"mesh":{"vertices":[[4,5,6]]},` + identity + `}],"assembly4":{"order":["a"],"constraints_solved":0,"vertices_transformed":1}}`,
		},
		{
			"null vertices", `{"parts":[{"name":"a","grounded":true,"mesh":{"vertices":[[1,2,3]],"vertices":null}}]}`,
			`{"parts":[{"name":"a","grounded":true,"mesh":{"vertices":[[1,2,3]],"vertices":null},` + identity + `}],"assembly4":{"order":["a"],"constraints_solved":0,"vertices_transformed":0}}`,
		},
		{
			"mesh", `{"parts":[{"name":"a","grounded":true,"mesh":{"vertices":[[1,2,3]]},"mesh":null}]}`,
			`{"parts":[{"name":"a","grounded":true,"mesh":null,` + identity + `}],"assembly4":{"order":["a"],"constraints_solved":0,"vertices_transformed":0}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := run(t, []byte(tt.in), sdktest.Options{})
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(h.Output()))
		})
	}
}
