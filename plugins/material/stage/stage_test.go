package stage

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	sdk "github.com/phasehost/phasehost/sdk/go"
	"github.com/phasehost/phasehost/sdk/go/sdktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/plugins/material/phases"
)

type outPart struct {
	Name               string             `json:"name"`
	MaterialProperties materialProperties `json:"material_properties"`
	MassProperties     massProperties     `json:"mass_properties"`
}

type outDoc struct {
	Parts    []outPart `json:"parts"`
	Material summary   `json:"material"`
}

// runStage runs the stage on doc and requires it to succeed.
func runStage(t testing.TB, doc []byte) (*sdktest.Host, outDoc) {
	t.Helper()
	h := sdktest.New(doc, phases.All(), sdktest.Options{})
	require.Equal(t, int32(0), h.Run(Stage), "failure: %s", h.Failure())
	var out outDoc
	require.NoError(t, json.Unmarshal(h.Output(), &out))
	return h, out
}

func assertClose(t *testing.T, want, got float64, msg string) {
	t.Helper()
	tol := 1e-9 * math.Max(1, math.Abs(want))
	assert.InDelta(t, want, got, tol, msg)
}

func assertVec(t *testing.T, want, got [3]float64, msg string) {
	t.Helper()
	for i := range 3 {
		assertClose(t, want[i], got[i], fmt.Sprintf("%s[%d]", msg, i))
	}
}

func assertTensor(t *testing.T, want, got [3][3]float64, scale float64, msg string) {
	t.Helper()
	for i := range 3 {
		for j := range 3 {
			assert.InDelta(t, want[i][j], got[i][j], 1e-9*scale, "%s[%d][%d]", msg, i, j)
		}
	}
}

// boxInertia is the inertia tensor of a solid a×b×c box of mass m about its
// centre, in its own axes.
func boxInertia(m, a, b, c float64) [3][3]float64 {
	return [3][3]float64{
		{m * (b*b + c*c) / 12, 0, 0},
		{0, m * (a*a + c*c) / 12, 0},
		{0, 0, m * (a*a + b*b) / 12},
	}
}

func TestMassPropertiesOfBoxes(t *testing.T) {
	rot := rotation([3]float64{1, 2, 3}, 0.7)
	ident := rotation([3]float64{0, 0, 1}, 0)
	tests := []struct {
		name    string
		units   string
		mesh    testMesh
		density float64 // of the material named below
		mat     string
		r       [3][3]float64 // rotation applied to the box's own frame
		com     [3]float64    // expected, document units
		a, b, c float64       // box sides in metres
	}{
		{
			name: "unit cube in metres", units: "m", mat: "aluminium-6061-t6", density: 2700,
			mesh: boxMesh(1, [3]float64{}, [3]float64{1, 1, 1}), r: ident,
			com: [3]float64{0.5, 0.5, 0.5}, a: 1, b: 1, c: 1,
		},
		{
			name: "100 mm cube in millimetres", units: "mm", mat: "steel-s235", density: 7850,
			mesh: boxMesh(1, [3]float64{}, [3]float64{100, 100, 100}), r: ident,
			com: [3]float64{50, 50, 50}, a: 0.1, b: 0.1, c: 0.1,
		},
		{
			name: "units default to millimetres", units: "", mat: "pla", density: 1240,
			mesh: boxMesh(1, [3]float64{}, [3]float64{100, 100, 100}), r: ident,
			com: [3]float64{50, 50, 50}, a: 0.1, b: 0.1, c: 0.1,
		},
		{
			name: "subdivided 1x2x3 box", units: "m", mat: "abs", density: 1050,
			mesh: boxMesh(4, [3]float64{}, [3]float64{1, 2, 3}), r: ident,
			com: [3]float64{0.5, 1, 1.5}, a: 1, b: 2, c: 3,
		},
		{
			name: "translated 1x2x3 box far from the origin", units: "mm", mat: "copper-c110", density: 8890,
			mesh: boxMesh(2, [3]float64{10000, -20000, 5000}, [3]float64{10, 20, 30}), r: ident,
			com: [3]float64{10005, -19990, 5015}, a: 0.01, b: 0.02, c: 0.03,
		},
		{
			name: "rotated and translated 1x2x3 box", units: "m", mat: "titanium-ti6al4v", density: 4430,
			mesh: boxMesh(3, [3]float64{-0.5, -1, -1.5}, [3]float64{1, 2, 3}).moved(rot, [3]float64{7, -3, 2}),
			r:    rot, com: [3]float64{7, -3, 2}, a: 1, b: 2, c: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := obj{"parts": []obj{testPart("p", tc.mat, tc.mesh)}}
			if tc.units != "" {
				d["units"] = tc.units
			}
			_, out := runStage(t, mustJSON(t, d))
			require.Len(t, out.Parts, 1)
			mp := out.Parts[0].MassProperties
			vol := tc.a * tc.b * tc.c
			mass := tc.density * vol
			assertClose(t, vol, mp.VolumeM3, "volume")
			assertClose(t, mass, mp.MassKg, "mass")
			assertVec(t, tc.com, mp.CenterOfMass, "com")
			want := rotateTensor(tc.r, boxInertia(mass, tc.a, tc.b, tc.c))
			scale := mass * (tc.a*tc.a + tc.b*tc.b + tc.c*tc.c)
			assertTensor(t, want, mp.InertiaKgM2, scale, "inertia")
			assertClose(t, mass, out.Material.TotalMassKg, "total mass")
			assertVec(t, tc.com, out.Material.CenterOfMass, "assembly com")
			assert.Equal(t, 1, out.Material.Parts)
		})
	}
}

func TestRotationKeepsVolumeAndRotatesInertia(t *testing.T) {
	base := boxMesh(2, [3]float64{0, 0, 0}, [3]float64{40, 10, 20})
	rot := rotation([3]float64{0.3, -1, 0.5}, 2.1)
	moved := base.moved(rot, [3]float64{-300, 1200, 45})
	_, a := runStage(t, mustJSON(t, obj{"parts": []obj{testPart("a", "brass-c360", base)}}))
	_, b := runStage(t, mustJSON(t, obj{"parts": []obj{testPart("a", "brass-c360", moved)}}))
	pa, pb := a.Parts[0].MassProperties, b.Parts[0].MassProperties
	assertClose(t, pa.VolumeM3, pb.VolumeM3, "volume")
	assertClose(t, pa.MassKg, pb.MassKg, "mass")
	c := apply(rot, pa.CenterOfMass)
	assertVec(t, [3]float64{c[0] - 300, c[1] + 1200, c[2] + 45}, pb.CenterOfMass, "com")
	scale := pa.InertiaKgM2[0][0] + pa.InertiaKgM2[1][1] + pa.InertiaKgM2[2][2]
	assertTensor(t, rotateTensor(rot, pa.InertiaKgM2), pb.InertiaKgM2, scale, "inertia")
}

func TestAssemblyTotals(t *testing.T) {
	// Two 1 m cubes of density 1000 side by side along x: the assembly is a
	// 2x1x1 box of 2000 kg centred at (1, 0.5, 0.5).
	d := obj{
		"units": "m",
		"parts": []obj{
			testPart("left", "abs", boxMesh(1, [3]float64{0, 0, 0}, [3]float64{1, 1, 1})),
			testPart("right", "abs", boxMesh(1, [3]float64{1, 0, 0}, [3]float64{1, 1, 1})),
		},
		"overrides": []obj{
			{"part": "left", PropDensity: 1000},
			{"part": "right", PropDensity: 1000},
		},
	}
	_, out := runStage(t, mustJSON(t, d))
	assertClose(t, 2000, out.Material.TotalMassKg, "total mass")
	assertVec(t, [3]float64{1, 0.5, 0.5}, out.Material.CenterOfMass, "com")
	assertTensor(t, boxInertia(2000, 2, 1, 1), out.Material.InertiaKgM2, 2000, "inertia")
	assert.Equal(t, 2, out.Material.Parts)
	assert.Equal(t, "m", out.Material.Units)
}

func TestMaterialResolution(t *testing.T) {
	tests := []struct {
		given, want string
	}{
		{"aluminium-6061-t6", "aluminium-6061-t6"},
		{"Aluminium-6061-T6", "aluminium-6061-t6"},
		{"  STAINLESS-304 ", "stainless-304"},
		{"PLA", "pla"},
	}
	for _, tc := range tests {
		t.Run(tc.given, func(t *testing.T) {
			_, out := runStage(t, mustJSON(t, obj{"parts": []obj{testPart("p", tc.given, boxMesh(1, [3]float64{}, [3]float64{1, 1, 1}))}}))
			mp := out.Parts[0].MaterialProperties
			want, err := Lookup(tc.want)
			require.NoError(t, err)
			assert.Equal(t, tc.want, mp.Name)
			assert.Equal(t, want.DisplayName, mp.DisplayName)
			assert.Equal(t, want.DensityKgM3, mp.DensityKgM3)
			assert.Equal(t, want.YoungsModulusPa, mp.YoungsModulusPa)
			assert.Equal(t, want.PoissonRatio, mp.PoissonRatio)
			assert.Equal(t, want.YieldStrengthPa, mp.YieldStrengthPa)
			assert.Equal(t, []string{}, mp.Overridden)
		})
	}
}

func TestLibrary(t *testing.T) {
	want := []string{"steel-s235", "stainless-304", "aluminium-6061-t6", "aluminium-7075-t6", "titanium-ti6al4v",
		"brass-c360", "copper-c110", "cast-iron-gg25", "abs", "pla", "nylon-pa6", "polycarbonate"}
	lib := Library()
	require.Len(t, lib, len(want))
	for i, m := range lib {
		assert.Equal(t, want[i], m.Name)
		assert.NotEmpty(t, m.DisplayName)
		for _, k := range propertyNames {
			var v float64
			switch k {
			case PropDensity:
				v = m.DensityKgM3
			case PropYoungsModulus:
				v = m.YoungsModulusPa
			case PropPoissonRatio:
				v = m.PoissonRatio
			case PropYieldStrength:
				v = m.YieldStrengthPa
			}
			assert.NoError(t, checkProperty(k, v), "%s %s", m.Name, k)
		}
		assert.Less(t, m.YieldStrengthPa, m.YoungsModulusPa, m.Name)
	}
	// Spot-check a few handbook values.
	al, _ := Lookup("aluminium-6061-t6")
	assert.Equal(t, Material{"aluminium-6061-t6", "Aluminium 6061-T6", 2700, 68.9e9, 0.33, 276e6}, al)
	st, _ := Lookup("steel-s235")
	assert.Equal(t, 235e6, st.YieldStrengthPa)
	assert.Equal(t, 7850.0, st.DensityKgM3)
}

func TestUnknownMaterialSuggestions(t *testing.T) {
	tests := []struct {
		name        string
		want        []string // substrings of the error
		notContains string
	}{
		{"aluminum-6061-t6", []string{`unknown material "aluminum-6061-t6"`, `did you mean "aluminium-6061-t6"`}, ""},
		{"steel-s355", []string{`did you mean "steel-s235"`}, ""},
		{"aluminium", []string{`"aluminium-6061-t6"`, `"aluminium-7075-t6"`}, "steel"},
		{"nylon", []string{`did you mean "nylon-pa6"`}, ""},
		{"unobtainium", []string{`unknown material "unobtainium" (known materials: steel-s235,`}, "did you mean"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Lookup(tc.name)
			require.ErrorIs(t, err, ErrUnknownMaterial)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			if tc.notContains != "" {
				assert.NotContains(t, err.Error(), tc.notContains)
			}
		})
	}
}

func TestOverrides(t *testing.T) {
	cube := boxMesh(1, [3]float64{}, [3]float64{100, 100, 100})
	d := obj{
		"parts": []obj{testPart("base", "aluminium-6061-t6", cube), testPart("arm", "aluminium-6061-t6", cube)},
		"overrides": []obj{
			{"part": "arm", PropDensity: 2810, PropYoungsModulus: 7.2e10},
			{"part": "arm", PropPoissonRatio: 0.33, PropYieldStrength: 5.0e8, PropDensity: 2800},
		},
	}
	h, out := runStage(t, mustJSON(t, d))
	base, arm := out.Parts[0], out.Parts[1]
	assert.Equal(t, "base", base.Name)
	assert.Equal(t, []string{}, base.MaterialProperties.Overridden)
	assert.Equal(t, 2700.0, base.MaterialProperties.DensityKgM3)
	assertClose(t, 2.7, base.MassProperties.MassKg, "base mass")

	assert.Equal(t, "arm", arm.Name)
	assert.Equal(t, "aluminium-6061-t6", arm.MaterialProperties.Name)
	assert.Equal(t, []string{PropDensity, PropYoungsModulus, PropPoissonRatio, PropYieldStrength}, arm.MaterialProperties.Overridden)
	assert.Equal(t, 2800.0, arm.MaterialProperties.DensityKgM3, "later override wins")
	assert.Equal(t, 7.2e10, arm.MaterialProperties.YoungsModulusPa)
	assert.Equal(t, 0.33, arm.MaterialProperties.PoissonRatio)
	assert.Equal(t, 5.0e8, arm.MaterialProperties.YieldStrengthPa)
	assertClose(t, 2.8, arm.MassProperties.MassKg, "arm mass uses the overridden density")
	assertClose(t, 5.5, out.Material.TotalMassKg, "total")

	var ov []sdktest.Event
	for _, e := range h.Events() {
		if e.Phase == "MATERIAL_OVERRIDE_PROPERTIES" {
			ov = append(ov, e)
		}
	}
	require.Len(t, ov, 2)
	assert.Equal(t, sdktest.Event{PhaseID: 1, Phase: "MATERIAL_OVERRIDE_PROPERTIES", Done: 2, Total: 2,
		Message: `part "arm": overrode density_kg_m3, poisson_ratio, yield_strength_pa`}, ov[1])
}

func TestGoldenPhases(t *testing.T) {
	cube := boxMesh(1, [3]float64{}, [3]float64{10, 10, 10}) // 12 triangles
	tests := []struct {
		name string
		doc  obj
		want []sdktest.Event
	}{
		{
			name: "two parts, one override",
			doc: obj{
				"parts": []obj{testPart("base", "aluminium-6061-t6", cube), testPart("arm", "ABS", boxMesh(2, [3]float64{}, [3]float64{10, 10, 10}))},
				"overrides": []obj{
					{"part": "arm", PropDensity: 1100},
				},
			},
			want: []sdktest.Event{
				{PhaseID: 0, Phase: "MATERIAL_RESOLVE_LIBRARY", Done: 1, Total: 2, Message: "aluminium-6061-t6: Aluminium 6061-T6 (1 part)"},
				{PhaseID: 0, Phase: "MATERIAL_RESOLVE_LIBRARY", Done: 2, Total: 2, Message: "abs: ABS (acrylonitrile butadiene styrene) (1 part)"},
				{PhaseID: 1, Phase: "MATERIAL_OVERRIDE_PROPERTIES", Done: 1, Total: 1, Message: `part "arm": overrode density_kg_m3`},
				{PhaseID: 2, Phase: "MATERIAL_APPLY_START", Done: 0, Total: 60, Message: "integrating 60 triangles over 2 parts"},
				{PhaseID: 3, Phase: "MATERIAL_APPLY_PROGRESS", Done: 2, Total: 60, Message: `part "base": 2/12 triangles`},
			},
		},
		{
			name: "same material twice, no overrides",
			doc: obj{
				"parts": []obj{testPart("a", "pla", cube), testPart("b", "PLA", cube)},
			},
			want: []sdktest.Event{
				{PhaseID: 0, Phase: "MATERIAL_RESOLVE_LIBRARY", Done: 1, Total: 1, Message: "pla: PLA (polylactic acid) (2 parts)"},
				{PhaseID: 1, Phase: "MATERIAL_OVERRIDE_PROPERTIES", Done: 0, Total: 0, Message: "no overrides"},
				{PhaseID: 2, Phase: "MATERIAL_APPLY_START", Done: 0, Total: 24, Message: "integrating 24 triangles over 2 parts"},
				{PhaseID: 3, Phase: "MATERIAL_APPLY_PROGRESS", Done: 1, Total: 24, Message: `part "a": 1/12 triangles`},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := runStage(t, mustJSON(t, tc.doc))
			ev := h.Events()
			require.GreaterOrEqual(t, len(ev), len(tc.want))
			assert.Equal(t, tc.want, ev[:len(tc.want)])
			// The rest: APPLY_PROGRESS up to done == total, then APPLY_END.
			total := tc.want[len(tc.want)-1].Total
			rest := ev[len(tc.want):]
			require.NotEmpty(t, rest)
			last := rest[len(rest)-1]
			assert.Equal(t, "MATERIAL_APPLY_END", last.Phase)
			assert.Equal(t, total, last.Done)
			assert.Equal(t, total, last.Total)
			prev := tc.want[len(tc.want)-1].Done
			for _, e := range rest[:len(rest)-1] {
				assert.Equal(t, "MATERIAL_APPLY_PROGRESS", e.Phase)
				assert.Greater(t, e.Done, prev)
				prev = e.Done
			}
			assert.Equal(t, total, prev, "final progress is done == total")
		})
	}
}

func TestGoldenPhaseNamesTwoParts(t *testing.T) {
	// 2 parts of 12 triangles: every triangle is its own progress event.
	cube := boxMesh(1, [3]float64{}, [3]float64{10, 10, 10})
	d := obj{
		"parts":     []obj{testPart("base", "steel-s235", cube), testPart("arm", "aluminium-7075-t6", cube)},
		"overrides": []obj{{"part": "arm", PropYieldStrength: 4.8e8}},
	}
	h, _ := runStage(t, mustJSON(t, d))
	want := []string{"MATERIAL_RESOLVE_LIBRARY", "MATERIAL_RESOLVE_LIBRARY", "MATERIAL_OVERRIDE_PROPERTIES", "MATERIAL_APPLY_START"}
	for range 24 {
		want = append(want, "MATERIAL_APPLY_PROGRESS")
	}
	want = append(want, "MATERIAL_APPLY_END")
	assert.Equal(t, want, h.PhaseNames())
	assert.Equal(t, 0, h.Refused())
}

func TestProgressThrottled(t *testing.T) {
	// 40 parts of a 10x10 grid box (1200 triangles each, 48000 in all) and
	// 120 overrides: each PROGRESS phase emits at most 50 events, the last at
	// done == total, with done strictly increasing.
	var parts []obj
	var overrides []obj
	mats := []string{"abs", "pla", "nylon-pa6", "polycarbonate"}
	for i := range 40 {
		name := fmt.Sprintf("p%02d", i)
		parts = append(parts, testPart(name, mats[i%len(mats)], boxMesh(10, [3]float64{float64(i) * 20, 0, 0}, [3]float64{10, 10, 10})))
	}
	for i := range 120 {
		overrides = append(overrides, obj{"part": fmt.Sprintf("p%02d", i%40), PropDensity: 1000 + i})
	}
	h, out := runStage(t, mustJSON(t, obj{"parts": parts, "overrides": overrides}))
	byPhase := map[string][]sdktest.Event{}
	for _, e := range h.Events() {
		byPhase[e.Phase] = append(byPhase[e.Phase], e)
	}
	for phase, total := range map[string]int64{
		"MATERIAL_RESOLVE_LIBRARY":     4,
		"MATERIAL_OVERRIDE_PROPERTIES": 120,
		"MATERIAL_APPLY_PROGRESS":      48000,
	} {
		ev := byPhase[phase]
		require.NotEmpty(t, ev, phase)
		assert.LessOrEqual(t, len(ev), sdk.DefaultProgressEvents, phase)
		var prev int64
		for _, e := range ev {
			assert.Greater(t, e.Done, prev, phase)
			assert.Equal(t, total, e.Total, phase)
			prev = e.Done
		}
		assert.Equal(t, total, prev, phase)
	}
	assert.Len(t, byPhase["MATERIAL_APPLY_PROGRESS"], 50)
	assert.Len(t, byPhase["MATERIAL_APPLY_START"], 1)
	assert.Len(t, byPhase["MATERIAL_APPLY_END"], 1)
	assert.Len(t, out.Parts, 40)
	// Part p00 had overrides 0, 40 and 80: the last density wins.
	assert.Equal(t, 1080.0, out.Parts[0].MaterialProperties.DensityKgM3)
	assertClose(t, 1080*1e-6, out.Parts[0].MassProperties.MassKg, "p00 mass")
}

func TestPassesDocumentAlong(t *testing.T) {
	cube := boxMesh(1, [3]float64{}, [3]float64{1, 1, 1})
	in := obj{
		"assembly": "bracket",
		"units":    "mm",
		"future":   obj{"x": []int{1, 2, 3}},
		"parts": []obj{{
			"name": "base", "material": "abs", "mesh": cube, "grounded": true,
			"lcs":       obj{"LCS_Top": obj{"position": []float64{0, 0, 1}}},
			"placement": obj{"position": []float64{0, 0, 0}, "matrix": []float64{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}},
			"custom":    "kept",
		}},
		"constraints": []obj{},
		"assembly4":   obj{"order": []string{"base"}, "constraints_solved": 0, "vertices_transformed": 8},
	}
	h, _ := runStage(t, mustJSON(t, in))
	var got map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(h.Output(), &got))
	for _, k := range []string{"assembly", "units", "future", "constraints", "assembly4", "parts", "material"} {
		assert.Contains(t, got, k)
	}
	assert.JSONEq(t, `{"x":[1,2,3]}`, string(got["future"]))
	assert.JSONEq(t, `{"order":["base"],"constraints_solved":0,"vertices_transformed":8}`, string(got["assembly4"]))
	var parts []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(got["parts"], &parts))
	for _, k := range []string{"name", "material", "mesh", "grounded", "lcs", "placement", "custom", "material_properties", "mass_properties"} {
		assert.Contains(t, parts[0], k)
	}
	assert.JSONEq(t, string(mustJSON(t, cube)), string(parts[0]["mesh"]))
	assert.JSONEq(t, `"kept"`, string(parts[0]["custom"]))
	assert.NotContains(t, string(h.Output()), "-0,", "no negative zeros")
	assert.NotContains(t, string(h.Output()), "-0]", "no negative zeros")

	// The output is a valid input: running the stage again gives the same result.
	h2, _ := runStage(t, h.Output())
	assert.JSONEq(t, string(h.Output()), string(h2.Output()))
}

func TestErrors(t *testing.T) {
	cube := boxMesh(1, [3]float64{}, [3]float64{10, 10, 10})
	doc := func(mut func(d obj)) []byte {
		d := obj{"parts": []obj{testPart("base", "aluminium-6061-t6", cube), testPart("arm", "abs", cube)}}
		if mut != nil {
			mut(d)
		}
		return mustJSON(t, d)
	}
	setPart := func(i int, k string, v any) func(obj) {
		return func(d obj) { d["parts"].([]obj)[i][k] = v }
	}
	overrides := func(o ...obj) func(obj) {
		return func(d obj) { d["overrides"] = o }
	}
	flat := testMesh{Vertices: [][3]float64{{0, 0, 0}, {1, 0, 0}, {0, 1, 0}}, Triangles: [][3]int{{0, 1, 2}, {0, 2, 1}}}
	tests := []struct {
		name  string
		input []byte
		is    error
		want  []string
	}{
		{"not JSON", []byte(`{"parts": [`), ErrMalformed, []string{"malformed document: at byte 11: unexpected end of JSON input"}},
		{"not an object", []byte(`[1]`), ErrMalformed, []string{"malformed document: top level: want an object, got an array"}},
		{"parts not a list", []byte(`{"parts": {"name": "base"}}`), ErrMalformed, []string{"malformed document: parts: want an array, got an object"}},
		{"null part", []byte(`{"parts": [null]}`), ErrMalformed, []string{"malformed document: parts[0]: want an object, got null"}},
		{"units not a string", doc(func(d obj) { d["units"] = 1 }), ErrMalformed, []string{"units: want a string, got 1"}},
		{"null document", []byte(`null`), ErrMalformed, []string{"top level: want an object, got null"}},
		{"no parts", []byte(`{"assembly":"x"}`), ErrMalformed, []string{`missing "parts"`}},
		{"empty parts", []byte(`{"parts":[]}`), ErrMalformed, []string{"no parts"}},
		{"bad units", doc(func(d obj) { d["units"] = "cm" }), ErrMalformed, []string{`units: unsupported unit "cm"`}},
		{"mesh error named by a later name", []byte(`{"parts":[{"mesh":{"vertices":[[0,0]],"triangles":[[0,0,0]]},"name":"late","material":"abs"}]}`), ErrMalformed,
			[]string{`malformed document: part "late" (parts[0]): mesh: vertices[0]: want 3 coordinates, got 2`}},
		{"later null mesh wins", []byte(`{"parts":[{"name":"a","material":"abs","mesh":{"vertices":[[0,0,0]],"triangles":[[0,0,0]]},"mesh":null}]}`), ErrMalformed,
			[]string{`malformed document: part "a" (parts[0]): missing "mesh"`}},
		{"later parts win", []byte(`{"parts":[{"name":"a","material":"abs","mesh":{"vertices":[[0,0,0]],"triangles":[[0,0,0]]}}],"parts":[]}`), ErrMalformed,
			[]string{`parts: the document has no parts`}},
		{"part without name", doc(func(d obj) { delete(d["parts"].([]obj)[1], "name") }), ErrMalformed, []string{`parts[1]: missing "name"`}},
		{"duplicate name", doc(setPart(1, "name", "base")), ErrMalformed, []string{`parts[1]: duplicate part name "base" (also parts[0])`}},
		{"part without material", doc(setPart(1, "material", nil)), ErrMalformed, []string{`part "arm" (parts[1]): missing "material"`}},
		{"material not a string", doc(setPart(0, "material", 42)), ErrMalformed, []string{`part "base" (parts[0]): material: want a string, got 42`}},
		{"part without mesh", doc(setPart(1, "mesh", nil)), ErrMalformed, []string{`part "arm" (parts[1]): missing "mesh"`}},
		{"mesh not an object", doc(setPart(1, "mesh", "arm.stl")), ErrMalformed, []string{`part "arm" (parts[1]): mesh: want an object, got a string`}},
		{"mesh without vertices", doc(setPart(1, "mesh", obj{"triangles": cube.Triangles})), ErrMalformed, []string{`part "arm" (parts[1]): mesh: missing "vertices"`}},
		{"mesh without triangles", doc(setPart(1, "mesh", obj{"vertices": cube.Vertices})), ErrMalformed, []string{`part "arm" (parts[1]): mesh: missing "triangles"`}},
		{"mesh with no triangles", doc(setPart(1, "mesh", obj{"vertices": cube.Vertices, "triangles": []any{}})), ErrMalformed, []string{`part "arm" (parts[1]): mesh: no triangles`}},
		{"vertex coordinate not a number", doc(setPart(0, "mesh", obj{"vertices": []any{[]any{0, "1", 0}}, "triangles": [][]int{{0, 0, 0}}})), ErrMalformed,
			[]string{`part "base" (parts[0]): mesh: vertices[0][1]: want a number, got a string`}},
		{"vertex not an array", doc(setPart(0, "mesh", obj{"vertices": []any{obj{"x": 1}}, "triangles": [][]int{{0, 0, 0}}})), ErrMalformed,
			[]string{`vertices[0]: want an array of 3 coordinates, got an object`}},
		{"coordinate out of range", []byte(`{"parts":[{"name":"a","material":"abs","mesh":{"vertices":[[1e400,0,0]],"triangles":[[0,0,0]]}}]}`), ErrMalformed,
			[]string{`part "a" (parts[0]): mesh: vertices[0][0]: number 1e400 is out of range`}},
		{"vertex with two coordinates", doc(setPart(0, "mesh", obj{"vertices": [][]float64{{0, 0}, {1, 0, 0}, {0, 1, 0}}, "triangles": [][]int{{0, 1, 2}}})), ErrMalformed,
			[]string{`part "base" (parts[0]): mesh: vertices[0]: want 3 coordinates, got 2`}},
		{"triangle with four indices", doc(setPart(0, "mesh", obj{"vertices": cube.Vertices, "triangles": [][]int{{0, 1, 2, 3}}})), ErrMalformed,
			[]string{`triangles[0]: want 3 vertex indices, got 4`}},
		{"fractional index", doc(setPart(0, "mesh", obj{"vertices": cube.Vertices, "triangles": [][]float64{{0, 1.5, 2}}})), ErrMalformed,
			[]string{`part "base" (parts[0]): mesh: triangles[0][1]: want an integer vertex index, got 1.5`}},
		{"index out of range", doc(setPart(1, "mesh", obj{"vertices": cube.Vertices, "triangles": [][]int{{0, 1, 8}}})), ErrBadMesh,
			[]string{`invalid mesh: part "arm" (parts[1]): mesh: triangles[0][2]: vertex index out of range: 8 is not in [0, 8)`}},
		{"negative index", doc(setPart(1, "mesh", obj{"vertices": cube.Vertices, "triangles": [][]int{{-1, 1, 2}}})), ErrBadMesh,
			[]string{`triangles[0][0]: vertex index out of range: -1 is not in [0, 8)`}},
		{"unknown material", doc(setPart(1, "material", "aluminium-6016-t6")), ErrUnknownMaterial,
			[]string{`part "arm": unknown material "aluminium-6016-t6"; did you mean "aluminium-6061-t6"`}},
		{"inverted mesh", doc(setPart(1, "mesh", cube.flipped())), ErrBadMesh,
			[]string{`part "arm": signed volume -1000 mm³ is not positive`, "inverted"}},
		{"flat mesh", doc(setPart(0, "mesh", flat)), ErrBadMesh, []string{`part "base": signed volume 0 mm³ is not positive`}},
		{"overrides not a list", doc(func(d obj) { d["overrides"] = obj{"part": "arm"} }), ErrMalformed, []string{"overrides:"}},
		{"override without part", doc(overrides(obj{PropDensity: 1})), ErrBadOverride, []string{`invalid override: overrides[0]: missing "part"`}},
		{"override of unknown part", doc(overrides(obj{"part": "arm", PropDensity: 1000}, obj{"part": "lid", PropDensity: 1000})), ErrBadOverride,
			[]string{`overrides[1] (part "lid"): no part named "lid"`}},
		{"unknown property", doc(overrides(obj{"part": "arm", "densty_kg_m3": 1000})), ErrBadOverride,
			[]string{`overrides[0] (part "arm"): unknown property "densty_kg_m3"`}},
		{"override sets nothing", doc(overrides(obj{"part": "arm"})), ErrBadOverride, []string{`overrides[0] (part "arm"): sets no property`}},
		{"value not a number", doc(overrides(obj{"part": "arm", PropDensity: "2810"})), ErrBadOverride,
			[]string{`overrides[0] (part "arm"): density_kg_m3: want a number, got "2810"`}},
		{"null value", doc(overrides(obj{"part": "arm", PropDensity: nil})), ErrBadOverride, []string{`density_kg_m3: want a number, got null`}},
		{"zero density", doc(overrides(obj{"part": "arm", PropDensity: 0})), ErrBadOverride, []string{`overrides[0] (part "arm"): density_kg_m3 0 is not positive`}},
		{"negative modulus", doc(overrides(obj{"part": "base", PropYoungsModulus: -7e10})), ErrBadOverride, []string{`youngs_modulus_pa -7e+10 is not positive`}},
		{"negative yield", doc(overrides(obj{"part": "base", PropYieldStrength: -1})), ErrBadOverride, []string{`yield_strength_pa -1 is not positive`}},
		{"implausible density", doc(overrides(obj{"part": "base", PropDensity: 2.7e6})), ErrBadOverride, []string{`density_kg_m3 2.7e+06 is implausibly large`}},
		{"poisson ratio 0.5", doc(overrides(obj{"part": "arm", PropPoissonRatio: 0.5})), ErrBadOverride, []string{`poisson_ratio 0.5 is outside (-1, 0.5)`}},
		{"poisson ratio -1", doc(overrides(obj{"part": "arm", PropPoissonRatio: -1})), ErrBadOverride, []string{`poisson_ratio -1 is outside (-1, 0.5)`}},
		{"yield above modulus", doc(overrides(obj{"part": "arm", PropYieldStrength: 3e9})), ErrBadOverride,
			[]string{`part "arm": yield_strength_pa 3e+09 is not below youngs_modulus_pa 2.3e+09`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.New(tc.input, phases.All(), sdktest.Options{})
			err := Stage(h)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.is)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Empty(t, h.Output(), "no output on error")
			// Through Exec, the failure carries the same text and no panic.
			h2 := sdktest.New(tc.input, phases.All(), sdktest.Options{})
			assert.Equal(t, int32(1), h2.Run(Stage))
			assert.Equal(t, err.Error(), h2.Failure())
		})
	}
}

func TestCancellation(t *testing.T) {
	cube := boxMesh(3, [3]float64{}, [3]float64{10, 10, 10})
	tests := []struct {
		name        string
		cancelAfter int
		doc         obj
		wantEvents  int
	}{
		{"during resolve", 1, obj{"parts": []obj{testPart("a", "abs", cube), testPart("b", "pla", cube)}}, 1},
		{"after two events", 2, obj{"parts": []obj{testPart("a", "abs", cube), testPart("b", "pla", cube)}}, 2},
		{"during apply", 5, obj{"parts": []obj{testPart("a", "abs", cube)}}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.New(mustJSON(t, tc.doc), phases.All(), sdktest.Options{CancelAfter: tc.cancelAfter})
			err := Stage(h)
			require.ErrorIs(t, err, sdk.ErrCancelled)
			assert.Len(t, h.Events(), tc.wantEvents)
			assert.Empty(t, h.Output())
		})
	}
}

func TestLongNamesAreClipped(t *testing.T) {
	name := strings.Repeat("é", 2000)
	h, _ := runStage(t, mustJSON(t, obj{"parts": []obj{testPart(name, "abs", boxMesh(1, [3]float64{}, [3]float64{1, 1, 1}))}}))
	for _, e := range h.Events() {
		assert.LessOrEqual(t, len(e.Message), 1024)
	}
}

func TestCancelledErrorIsReturnedAsIs(t *testing.T) {
	h := sdktest.New(mustJSON(t, obj{"parts": []obj{testPart("a", "abs", boxMesh(1, [3]float64{}, [3]float64{1, 1, 1}))}}),
		phases.All(), sdktest.Options{CancelAfter: 2})
	err := Stage(h)
	assert.True(t, errors.Is(err, sdk.ErrCancelled))
	assert.Equal(t, []string{"MATERIAL_RESOLVE_LIBRARY", "MATERIAL_OVERRIDE_PROPERTIES"}, h.PhaseNames())
}
