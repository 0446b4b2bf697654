package stage

import (
	"math"
	"math/rand/v2"
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
	_, err = appendVertices(nil, [][3]float64{{1, 2, 3}, {4, 5, math.NaN()}})
	require.EqualError(t, err, "vertex 1: coordinate NaN is not finite after the transform")
	b, err = appendVertices(nil, nil)
	require.NoError(t, err)
	assert.Equal(t, `[]`, string(b))

	// Against the plain writer: a coordinate at a time, through appendFloat.
	r := rand.New(rand.NewPCG(15, 16))
	special := []float64{0, math.Copysign(0, -1), 1e-6, -1e-6, math.Nextafter(1e-6, 0), 9.9e-7, -1e-300, 1e21, -1e21,
		math.Nextafter(1e21, 0), -math.Nextafter(1e21, 0), 9.99e20, -2e22, math.MaxFloat64, math.SmallestNonzeroFloat64, 0.1, 1, -7}
	v := make([][3]float64, 3000)
	for i := range v {
		for c := range v[i] {
			switch r.IntN(3) {
			case 0:
				v[i][c] = special[r.IntN(len(special))]
			case 1:
				v[i][c] = (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(34)-10))
			default:
				v[i][c] = float64(r.IntN(2001)-1000) / 16
			}
		}
	}
	want := []byte{'['}
	for i, p := range v {
		if i > 0 {
			want = append(want, ',')
		}
		want = append(want, '[')
		for c, x := range p {
			if c > 0 {
				want = append(want, ',')
			}
			want, err = appendFloat(want, x)
			require.NoError(t, err)
		}
		want = append(want, ']')
	}
	want = append(want, ']')
	got, err := appendVertices([]byte{}, v)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
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

// TestTidyAsRound holds tidy to its definition with math.Round and math.Max.
func TestTidyAsRound(t *testing.T) {
	want := func(v float64) float64 {
		r := math.Round(v)
		if math.Abs(v-r) <= 1e-12*math.Max(1, math.Abs(v)) {
			if r == 0 {
				return 0
			}
			return r
		}
		return v
	}
	vals := []float64{0, math.Copysign(0, -1), 0.5, -0.5, 1.5, 2.5, 1e-13, -1e-13, 1 + 1e-13, 3 - 2e-12,
		5e11 + 0.5, 5e11 + 1.5, -(5e11 + 0.5), 4e12 + 0.5, 4e12 + 2.5, 1<<52 - 0.5, 1 << 53, 1e300,
		math.Inf(1), math.Inf(-1), math.NaN(), math.SmallestNonzeroFloat64, math.MaxFloat64}
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200000; i++ {
		v := float64(r.Int64N(1<<40)-1<<39) / 2
		switch i % 4 {
		case 1:
			v += (r.Float64() - 0.5) * 1e-11 * math.Max(1, math.Abs(v))
		case 2:
			v = math.Float64frombits(r.Uint64())
		case 3:
			v = (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(30)-10))
		}
		vals = append(vals, v, math.Nextafter(v, 0), math.Nextafter(v, math.Inf(1)))
	}
	for _, v := range vals {
		got, w := tidy(v), want(v)
		if math.Float64bits(got) != math.Float64bits(w) && !(math.IsNaN(got) && math.IsNaN(w)) {
			t.Fatalf("tidy(%v) = %v, want %v", v, got, w)
		}
	}
}

// TestTransformPointsTidies holds transformPoints' written-out tidy to tidy.
func TestTransformPointsTidies(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 0; n < 200; n++ {
		m, err := rigid([3]float64{float64(r.IntN(21) - 10), r.Float64() * 10, 0.5},
			[3]float64{float64(r.IntN(3)), float64(r.IntN(3)), 1}, float64(r.IntN(8)*45)+float64(r.IntN(2))*r.Float64())
		require.NoError(t, err)
		v := make([][3]float64, 500)
		for i := range v {
			for k := range v[i] {
				v[i][k] = float64(r.IntN(2001)-1000) / 8
				if r.IntN(3) == 0 {
					v[i][k] += (r.Float64() - 0.5) * 1e-9
				}
			}
		}
		v[0] = [3]float64{math.Inf(1), math.NaN(), 1e300}
		want := make([][3]float64, len(v))
		for i, p := range v {
			x, y, z := p[0], p[1], p[2]
			want[i] = [3]float64{
				tidy(m[0]*x + m[1]*y + m[2]*z + m[3]),
				tidy(m[4]*x + m[5]*y + m[6]*z + m[7]),
				tidy(m[8]*x + m[9]*y + m[10]*z + m[11]),
			}
		}
		m.transformPoints(v)
		for i := range v {
			for k := range v[i] {
				g, w := v[i][k], want[i][k]
				if math.Float64bits(g) != math.Float64bits(w) && !(math.IsNaN(g) && math.IsNaN(w)) {
					t.Fatalf("point %d coordinate %d: %v, want %v", i, k, g, w)
				}
			}
		}
	}
}
