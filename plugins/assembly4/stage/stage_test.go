package stage

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/plugins/assembly4/phases"
	sdk "github.com/phasehost/phasehost/sdk/go"
	"github.com/phasehost/phasehost/sdk/go/sdktest"
)

// outPart is the part of an output part the tests look at.
type outPart struct {
	Name      string `json:"name"`
	Color     string `json:"color"`
	Placement struct {
		Position [3]float64 `json:"position"`
		Rotation struct {
			Axis     [3]float64 `json:"axis"`
			AngleDeg float64    `json:"angle_deg"`
		} `json:"rotation"`
		Matrix [16]float64 `json:"matrix"`
	} `json:"placement"`
	Mesh struct {
		Vertices  [][3]float64 `json:"vertices"`
		Triangles [][3]int     `json:"triangles"`
		Normals   []string     `json:"normals"`
	} `json:"mesh"`
}

// outDoc is the part of the output document the tests look at.
type outDoc struct {
	Parts     []outPart      `json:"parts"`
	Assembly4 summary        `json:"assembly4"`
	Meta      map[string]any `json:"meta"`
}

func (d outDoc) part(t *testing.T, name string) int {
	t.Helper()
	i := slices.IndexFunc(d.Parts, func(p outPart) bool { return p.Name == name })
	require.GreaterOrEqual(t, i, 0, "part %s in output", name)
	return i
}

// run executes Stage on input with a recording host.
func run(t *testing.T, input []byte, opts sdktest.Options) (*sdktest.Host, error) {
	t.Helper()
	h := sdktest.New(input, phases.All(), opts)
	err := Stage(h)
	assert.Zero(t, h.Refused(), "no emit may be refused as undeclared")
	return h, err
}

func decodeOutput(t *testing.T, h *sdktest.Host) outDoc {
	t.Helper()
	var d outDoc
	require.NoError(t, json.Unmarshal(h.Output(), &d))
	return d
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func repeat(name string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = name
	}
	return out
}

func readBracket(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "bracket.json"))
	require.NoError(t, err)
	return b
}

func TestBracketGoldenPhases(t *testing.T) {
	h, err := run(t, readBracket(t), sdktest.Options{})
	require.NoError(t, err)

	// 5 parts: one SOLVER_PROGRESS each. 460 vertices: one
	// LCS_PLACEMENT_PROGRESS per 10 (ceil(460/50)).
	var want []string
	want = append(want, "SOLVER_START")
	want = append(want, repeat("SOLVER_PROGRESS", 5)...)
	want = append(want, "SOLVER_END", "LCS_PLACEMENT_START")
	want = append(want, repeat("LCS_PLACEMENT_PROGRESS", 46)...)
	want = append(want, "LCS_PLACEMENT_END")
	require.Equal(t, want, h.PhaseNames())

	ev := h.Events()
	assert.Equal(t, sdktest.Event{PhaseID: 0, Phase: "SOLVER_START", Done: 0, Total: 4, Message: "solving 4 constraints over 5 parts"}, ev[0])
	var msgs []string
	for _, e := range ev[1:6] {
		msgs = append(msgs, e.Message)
	}
	assert.Equal(t, []string{
		"placed base (grounded)",
		"placed upright via upright_on_base",
		"placed gusset via gusset_on_base",
		"placed pin via pin_in_upright",
		"placed washer via washer_on_pin",
	}, msgs)
	assert.Equal(t, sdktest.Event{PhaseID: 2, Phase: "SOLVER_END", Done: 5, Total: 5, Message: "placed 5 parts with 4 constraints"}, ev[6])
	assert.Equal(t, sdktest.Event{PhaseID: 3, Phase: "LCS_PLACEMENT_START", Done: 0, Total: 460, Message: "transforming 460 vertices of 5 parts"}, ev[7])
	assert.Equal(t, "transformed 10/460 vertices (base)", ev[8].Message)
	assert.Equal(t, sdktest.Event{PhaseID: 5, Phase: "LCS_PLACEMENT_END", Done: 460, Total: 460, Message: "transformed 460 vertices"}, ev[len(ev)-1])

	d := decodeOutput(t, h)
	assert.Equal(t, summary{
		Order:               []string{"base", "upright", "gusset", "pin", "washer"},
		ConstraintsSolved:   4,
		VerticesTransformed: 460,
	}, d.Assembly4)
}

// TestBracketPlacements checks the bracket against placements worked out by hand.
func TestBracketPlacements(t *testing.T) {
	input := readBracket(t)
	h, err := run(t, input, sdktest.Options{})
	require.NoError(t, err)
	d := decodeOutput(t, h)

	up := d.Parts[d.part(t, "upright")].Placement
	assert.Equal(t, [16]float64{1, 0, 0, 0, 0, 0, -1, 80, 0, 1, 0, 10, 0, 0, 0, 1}, up.Matrix, "upright stood up on the back edge")
	assert.Equal(t, [3]float64{0, 80, 10}, up.Position)
	assert.Equal(t, [3]float64{1, 0, 0}, up.Rotation.Axis)
	assert.Equal(t, 90.0, up.Rotation.AngleDeg)

	// Gusset corners: own (0,0,0), (40,0,0), (0,40,0), (0,0,8) are its
	// vertices 0, 1, 2 and 3.
	g := d.Parts[d.part(t, "gusset")]
	for i, want := range [][3]float64{{64, 70, 10}, {64, 30, 10}, {64, 70, 50}, {56, 70, 10}} {
		assertNear(t, want, g.Mesh.Vertices[i], "gusset vertex %d", i)
	}
	assertNear(t, [3]float64{1 / math.Sqrt(3), -1 / math.Sqrt(3), -1 / math.Sqrt(3)}, g.Placement.Rotation.Axis, "gusset axis")
	assert.InDelta(t, 120, g.Placement.Rotation.AngleDeg, 1e-9)

	// The pin runs along +y through the upright; its caps' centres are the
	// last two vertices (bottom, top).
	pin := d.Parts[d.part(t, "pin")].Mesh.Vertices
	assertNear(t, [3]float64{60, 60, 65}, pin[len(pin)-2], "pin bottom")
	assertNear(t, [3]float64{60, 90, 65}, pin[len(pin)-1], "pin top")

	// The washer sits on the pin against the upright's back face (y=80).
	for i, v := range d.Parts[d.part(t, "washer")].Mesh.Vertices {
		assert.True(t, near(v[1], 80) || near(v[1], 82), "washer vertex %d y=%v", i, v[1])
		r := math.Hypot(v[0]-60, v[2]-65)
		assert.True(t, math.Abs(r-4.2) < 1e-6 || math.Abs(r-8) < 1e-6, "washer vertex %d radius %v", i, r)
	}

	// Everything else is passed along: triangles and the other members.
	var in, out map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(input, &in))
	require.NoError(t, json.Unmarshal(h.Output(), &out))
	for _, key := range []string{"assembly", "units", "constraints", "overrides"} {
		assert.JSONEq(t, string(in[key]), string(out[key]), key)
	}
	var inParts []struct {
		Material json.RawMessage `json:"material"`
		LCS      json.RawMessage `json:"lcs"`
		Mesh     struct {
			Triangles json.RawMessage `json:"triangles"`
		} `json:"mesh"`
	}
	outParts := inParts
	require.NoError(t, json.Unmarshal(in["parts"], &inParts))
	require.NoError(t, json.Unmarshal(out["parts"], &outParts))
	require.Len(t, outParts, len(inParts))
	for i := range inParts {
		assert.JSONEq(t, string(inParts[i].Material), string(outParts[i].Material))
		assert.JSONEq(t, string(inParts[i].LCS), string(outParts[i].LCS))
		assert.JSONEq(t, string(inParts[i].Mesh.Triangles), string(outParts[i].Mesh.Triangles))
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func assertNear(t *testing.T, want, got [3]float64, msgAndArgs ...any) {
	t.Helper()
	for i := range want {
		if !near(got[i], want[i]) {
			assert.Fail(t, "vectors differ", "want %v, got %v", want, got)
			assert.Fail(t, "", msgAndArgs...)
			return
		}
	}
}

// handDoc is a small assembly whose placements are worked out by hand.
func handDoc() map[string]any {
	return map[string]any{
		"assembly": "hand",
		"units":    "mm",
		"meta":     map[string]any{"author": "test", "n": 3},
		"parts": []any{
			map[string]any{
				"name": "base", "grounded": true, "color": "grey",
				"mesh": map[string]any{"vertices": [][3]float64{{0, 0, 0}, {10, 0, 5}}, "triangles": [][3]int{{0, 1, 0}}, "normals": []string{"kept"}},
				"lcs": map[string]any{
					"LCS_Top": map[string]any{"origin": []float64{10, 0, 5}, "rotation": map[string]any{"axis": []float64{0, 0, 1}, "angle_deg": 90}},
				},
			},
			map[string]any{
				"name": "arm",
				"mesh": map[string]any{"vertices": [][3]float64{{0, 0, 0}, {1, 2, 0}, {3, 0, 0}, {1, 2, 7}}, "triangles": [][3]int{{0, 1, 2}, {1, 2, 3}}},
				"lcs": map[string]any{
					"LCS_Root": map[string]any{"origin": []float64{1, 2, 0}},
					"LCS_Tip":  map[string]any{"origin": []float64{3, 0, 0}, "rotation": map[string]any{"axis": []float64{2, 0, 0}, "angle_deg": 90}},
				},
			},
			map[string]any{
				"name": "finger",
				"mesh": map[string]any{"vertices": [][3]float64{{0, 0, 0}, {0, 1, 0}}},
				"lcs": map[string]any{
					"LCS_Root": map[string]any{"rotation": map[string]any{"axis": []float64{1, 0, 0}, "angle_deg": 90}},
				},
			},
		},
		"constraints": []any{
			map[string]any{"name": "arm_on_base", "part": "arm", "lcs": "LCS_Root", "parent": "base", "parent_lcs": "LCS_Top"},
			map[string]any{"name": "finger_on_arm", "part": "finger", "lcs": "LCS_Root", "parent": "arm", "parent_lcs": "LCS_Tip"},
		},
	}
}

// TestHandWorkedPlacements: base's LCS_Top is at (10,0,5) turned 90° about z;
// arm's LCS_Root is at (1,2,0), so arm maps (x,y,z) to (12-y, x-1, z+5).
// arm's LCS_Tip at (3,0,0) is turned 90° about x and finger's LCS_Root is
// turned 90° about x too, so finger has arm's rotation: (x,y,z) maps to
// (12-y, x+2, z+5), i.e. position (12,2,5).
func TestHandWorkedPlacements(t *testing.T) {
	h, err := run(t, mustJSON(t, handDoc()), sdktest.Options{})
	require.NoError(t, err)
	d := decodeOutput(t, h)

	base, arm, finger := d.Parts[0], d.Parts[1], d.Parts[2]
	assert.Equal(t, [16]float64{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, base.Placement.Matrix)
	assert.Equal(t, [3]float64{0, 0, 1}, base.Placement.Rotation.Axis)
	assert.Equal(t, 0.0, base.Placement.Rotation.AngleDeg)
	assert.Equal(t, [][3]float64{{0, 0, 0}, {10, 0, 5}}, base.Mesh.Vertices)

	assert.Equal(t, [16]float64{0, -1, 0, 12, 1, 0, 0, -1, 0, 0, 1, 5, 0, 0, 0, 1}, arm.Placement.Matrix)
	assert.Equal(t, [3]float64{12, -1, 5}, arm.Placement.Position)
	assert.Equal(t, [3]float64{0, 0, 1}, arm.Placement.Rotation.Axis)
	assert.Equal(t, 90.0, arm.Placement.Rotation.AngleDeg)
	assert.Equal(t, [][3]float64{{12, -1, 5}, {10, 0, 5}, {12, 2, 5}, {10, 0, 12}}, arm.Mesh.Vertices)
	assert.Equal(t, [][3]int{{0, 1, 2}, {1, 2, 3}}, arm.Mesh.Triangles)

	assert.Equal(t, [16]float64{0, -1, 0, 12, 1, 0, 0, 2, 0, 0, 1, 5, 0, 0, 0, 1}, finger.Placement.Matrix)
	assert.Equal(t, [][3]float64{{12, 2, 5}, {11, 2, 5}}, finger.Mesh.Vertices)

	assert.Equal(t, "grey", base.Color, "unknown part member kept")
	assert.Equal(t, []string{"kept"}, base.Mesh.Normals, "unknown mesh member kept")
	assert.Equal(t, map[string]any{"author": "test", "n": 3.0}, d.Meta, "unknown document member kept")
	assert.Equal(t, summary{Order: []string{"base", "arm", "finger"}, ConstraintsSolved: 2, VerticesTransformed: 8}, d.Assembly4)
}

func TestGroundedPlacementFromInput(t *testing.T) {
	doc := handDoc()
	base := doc["parts"].([]any)[0].(map[string]any)
	base["placement"] = map[string]any{"position": []float64{100, 0, 0}, "rotation": map[string]any{"axis": []float64{1, 0, 0}, "angle_deg": 180}}
	h, err := run(t, mustJSON(t, doc), sdktest.Options{})
	require.NoError(t, err)
	d := decodeOutput(t, h)
	assert.Equal(t, [16]float64{1, 0, 0, 100, 0, -1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1}, d.Parts[0].Placement.Matrix)
	assert.Equal(t, [][3]float64{{100, 0, 0}, {110, 0, -5}}, d.Parts[0].Mesh.Vertices)
	assert.Equal(t, [3]float64{1, 0, 0}, d.Parts[0].Placement.Rotation.Axis)
	assert.Equal(t, 180.0, d.Parts[0].Placement.Rotation.AngleDeg)
	// arm's LCS_Root lands on base's LCS_Top, wherever base is.
	assert.Equal(t, [3]float64{110, 0, -5}, d.Parts[1].Mesh.Vertices[1])
}

func TestCancellation(t *testing.T) {
	h, err := run(t, readBracket(t), sdktest.Options{CancelAfter: 2})
	require.ErrorIs(t, err, sdk.ErrCancelled)
	assert.Equal(t, []string{"SOLVER_START", "SOLVER_PROGRESS"}, h.PhaseNames())
	assert.Empty(t, h.Output(), "a cancelled stage writes no output")

	h = sdktest.New(readBracket(t), phases.All(), sdktest.Options{CancelAfter: 9})
	assert.EqualValues(t, 1, h.Run(Stage))
	assert.Equal(t, sdk.ErrCancelled.Error(), h.Failure())
	assert.Len(t, h.Events(), 9)
}

func TestEventBudget(t *testing.T) {
	h, err := run(t, readBracket(t), sdktest.Options{MaxEvents: 3})
	require.ErrorIs(t, err, sdk.ErrEventBudget)
	assert.Len(t, h.Events(), 3)
}
