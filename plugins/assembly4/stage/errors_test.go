package stage

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/plugins/assembly4/phases"
	sdk "github.com/phasehost/phasehost/sdk/go"
	"github.com/phasehost/phasehost/sdk/go/sdktest"
)

// graphDoc builds a document of parts (name → grounded) with one LCS "L" each
// and constraints given as "name:part>parent".
func graphDoc(parts []string, grounded map[string]bool, constraints ...[3]string) map[string]any {
	var ps, cs []any
	for _, name := range parts {
		p := map[string]any{
			"name": name,
			"mesh": map[string]any{"vertices": [][3]float64{{1, 2, 3}}, "triangles": [][3]int{}},
			"lcs":  map[string]any{"L": map[string]any{"origin": []float64{0, 0, 1}}},
		}
		if grounded[name] {
			p["grounded"] = true
		}
		ps = append(ps, p)
	}
	for _, c := range constraints {
		cs = append(cs, map[string]any{"name": c[0], "part": c[1], "lcs": "L", "parent": c[2], "parent_lcs": "L"})
	}
	return map[string]any{"assembly": "graph", "units": "mm", "parts": ps, "constraints": cs}
}

func TestErrors(t *testing.T) {
	g := map[string]bool{"base": true}
	c := func(name, part, parent string) [3]string { return [3]string{name, part, parent} }
	tests := []struct {
		name   string
		input  any // a document (marshalled) or raw []byte
		target error
		want   string
	}{
		{
			"unknown part", graphDoc([]string{"base", "arm"}, g, c("arm_on_base", "arm", "base"), c("ghost_on_base", "ghost", "base")),
			ErrUnknownPart, `assembly4: constraint graph: constraint "ghost_on_base": unknown part "ghost"`,
		},
		{
			"unknown parent part", graphDoc([]string{"base", "arm"}, g, c("arm_on_bse", "arm", "bse")),
			ErrUnknownPart, `assembly4: constraint graph: constraint "arm_on_bse": unknown part "bse" (as parent)`,
		},
		{
			"unknown LCS", withLCS(graphDoc([]string{"base", "arm"}, g, c("arm_on_base", "arm", "base")), 0, "LCS_Nope", "L"),
			ErrUnknownLCS, `assembly4: constraint graph: constraint "arm_on_base": unknown LCS "LCS_Nope" on part "arm"`,
		},
		{
			"unknown parent LCS", withLCS(graphDoc([]string{"base", "arm"}, g, c("arm_on_base", "arm", "base")), 0, "L", "LCS_Tp"),
			ErrUnknownLCS, `assembly4: constraint graph: constraint "arm_on_base": unknown LCS "LCS_Tp" on parent part "base"`,
		},
		{
			"cycle", graphDoc([]string{"base", "a", "b"}, g, c("a_on_b", "a", "b"), c("b_on_a", "b", "a")),
			ErrCycle, `assembly4: constraint graph: constraint cycle: "a" -> "b" -> "a" (via constraints "a_on_b", "b_on_a"; each part is attached to the next)`,
		},
		{
			"cycle behind a tail", graphDoc([]string{"base", "tail", "a", "b", "c"}, g,
				c("tail_on_a", "tail", "a"), c("a_on_b", "a", "b"), c("b_on_c", "b", "c"), c("c_on_a", "c", "a")),
			ErrCycle, `assembly4: constraint graph: constraint cycle: "a" -> "b" -> "c" -> "a" (via constraints "a_on_b", "b_on_c", "c_on_a"; each part is attached to the next)`,
		},
		{
			"part attached to itself", graphDoc([]string{"base", "a"}, g, c("a_on_a", "a", "a")),
			ErrCycle, `assembly4: constraint graph: constraint cycle: "a" -> "a" (via constraint "a_on_a"; each part is attached to the next)`,
		},
		{
			"attached twice", graphDoc([]string{"base", "up", "arm"}, g, c("up_on_base", "up", "base"), c("arm_on_base", "arm", "base"), c("arm_on_up", "arm", "up")),
			ErrOverConstrained, `assembly4: constraint graph: over-constrained: part "arm" is attached by 2 constraints "arm_on_base", "arm_on_up", want one`,
		},
		{
			"grounded and attached", graphDoc([]string{"base", "arm"}, g, c("arm_on_base", "arm", "base"), c("base_on_arm", "base", "arm")),
			ErrOverConstrained, `assembly4: constraint graph: over-constrained: grounded part "base" is also attached by constraint "base_on_arm"`,
		},
		{
			"one loose part", graphDoc([]string{"base", "arm", "loose"}, g, c("arm_on_base", "arm", "base")),
			ErrUnderConstrained, `assembly4: constraint graph: under-constrained: part "loose" is neither grounded nor attached by a constraint`,
		},
		{
			"two loose parts", graphDoc([]string{"loose", "base", "spare"}, g),
			ErrUnderConstrained, `assembly4: constraint graph: under-constrained: parts "loose", "spare" are neither grounded nor attached by a constraint`,
		},
		{
			"no grounded part", graphDoc([]string{"a", "b"}, nil, c("a_on_b", "a", "b")),
			ErrNoGround, `assembly4: constraint graph: no grounded part: mark at least one part "grounded": true`,
		},
		{
			"no parts", map[string]any{"assembly": "empty"},
			ErrNoGround, `assembly4: constraint graph: no grounded part: mark at least one part "grounded": true`,
		},
		{
			"not an object", []byte(`[1, 2]`),
			ErrInvalidDocument, `assembly4: invalid document: want a JSON object, got an array`,
		},
		{
			"not JSON", []byte(`{"parts": [}`),
			ErrInvalidDocument, `assembly4: invalid document: at byte 12: invalid character '}' looking for beginning of value`,
		},
		{
			"trailing data", []byte(`{} {}`),
			ErrInvalidDocument, `assembly4: invalid document: at byte 4: invalid character '{' after top-level value`,
		},
		{
			"parts not an array", map[string]any{"parts": map[string]any{}},
			ErrInvalidDocument, `assembly4: invalid document: parts: want an array, got an object`,
		},
		{
			"part not an object", map[string]any{"parts": []any{"base"}},
			ErrInvalidDocument, `assembly4: invalid document: part 0: want a JSON object, got a string`,
		},
		{
			"units", map[string]any{"units": "in"},
			ErrInvalidDocument, `assembly4: invalid document: units "in": want "mm" or "m"`,
		},
		{
			"duplicate part", graphDoc([]string{"base", "arm", "arm"}, g),
			ErrInvalidDocument, `assembly4: invalid document: part 2: name "arm" is already used by part 1`,
		},
		{
			"part without name", map[string]any{"parts": []any{map[string]any{"grounded": true}}},
			ErrInvalidDocument, `assembly4: invalid document: part 0: missing "name"`,
		},
		{
			"vertex with 2 coordinates", map[string]any{"parts": []any{map[string]any{"name": "p", "mesh": map[string]any{"vertices": [][]float64{{1, 2, 3}, {1, 2}}}}}},
			ErrInvalidDocument, `assembly4: invalid document: part 0 "p": mesh: vertex 1: has 2 coordinates, want 3`,
		},
		{
			"vertex with 4 coordinates", map[string]any{"parts": []any{map[string]any{"name": "p", "mesh": map[string]any{"vertices": [][]float64{{1, 2, 3, 4}}}}}},
			ErrInvalidDocument, `assembly4: invalid document: part 0 "p": mesh: vertex 0: has more than 3 coordinates, want 3`,
		},
		{
			"vertex not a number", []byte(`{"parts": [{"name": "p", "mesh": {"vertices": [[1, "2", 3]]}}]}`),
			ErrInvalidDocument, `assembly4: invalid document: part 0 "p": mesh: vertex 0: coordinate 1: not a number`,
		},
		{
			"vertex out of range", []byte(`{"parts": [{"name": "p", "mesh": {"vertices": [[1, 2, 1e999]]}}]}`),
			ErrInvalidDocument, `assembly4: invalid document: part 0 "p": mesh: vertex 0: coordinate 2: number 1e999 out of range`,
		},
		{
			"LCS rotation without axis", map[string]any{"parts": []any{map[string]any{"name": "p", "lcs": map[string]any{"L": map[string]any{"rotation": map[string]any{"angle_deg": 90}}}}}},
			ErrInvalidDocument, `assembly4: invalid document: part 0 "p": LCS "L": rotation axis is zero with angle_deg 90`,
		},
		{
			"placement position", map[string]any{"parts": []any{map[string]any{"name": "p", "grounded": true, "placement": map[string]any{"position": []float64{1}}}}},
			ErrInvalidDocument, `assembly4: invalid document: part 0 "p": placement: position has 1 coordinates, want 3`,
		},
		{
			"LCS origin", map[string]any{"parts": []any{map[string]any{"name": "p", "lcs": map[string]any{"L": map[string]any{"origin": []float64{1, 2}}}}}},
			ErrInvalidDocument, `assembly4: invalid document: part 0 "p": LCS "L": origin has 2 coordinates, want 3`,
		},
		{
			"grounded not a boolean", map[string]any{"parts": []any{map[string]any{"name": "p", "grounded": "yes"}}},
			ErrInvalidDocument, `assembly4: invalid document: part 0 "p": grounded: json: cannot unmarshal string into Go value of type bool`,
		},
		{
			"constraint without parent_lcs", map[string]any{"constraints": []any{map[string]any{"name": "c", "part": "a", "lcs": "L", "parent": "b"}}},
			ErrInvalidDocument, `assembly4: invalid document: constraint 0 "c": missing "parent_lcs"`,
		},
		{
			"duplicate constraint", graphDoc([]string{"base", "arm"}, g, c("arm_on_base", "arm", "base"), c("arm_on_base", "arm", "base")),
			ErrInvalidDocument, `assembly4: invalid document: constraint 1: name "arm_on_base" is already used by constraint 0`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input, ok := tt.input.([]byte)
			if !ok {
				input = mustJSON(t, tt.input)
			}
			h, err := run(t, input, sdktest.Options{})
			require.ErrorIs(t, err, tt.target)
			require.EqualError(t, err, tt.want)
			assert.Empty(t, h.Events(), "an invalid document emits nothing")
			assert.Empty(t, h.Output())
		})
	}
}

// withLCS sets the lcs and parent_lcs of constraint i.
func withLCS(doc map[string]any, i int, lcs, parentLCS string) map[string]any {
	c := doc["constraints"].([]any)[i].(map[string]any)
	c["lcs"], c["parent_lcs"] = lcs, parentLCS
	return doc
}

// TestProgressThrottled checks that each PROGRESS phase emits at most 50
// events, ends with done == total and reports work actually done.
func TestProgressThrottled(t *testing.T) {
	tests := []struct {
		parts, verts int
	}{
		{1, 0}, {1, 1}, {3, 7}, {50, 2}, {51, 3}, {97, 101}, {400, 250}, {1000, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d parts of %d vertices", tt.parts, tt.verts), func(t *testing.T) {
			h, err := run(t, benchDoc(tt.parts, tt.verts), sdktest.Options{})
			require.NoError(t, err)
			for _, p := range []struct {
				phase phases.Phase
				total int64
			}{
				{phases.SolverProgress, int64(tt.parts)},
				{phases.LcsPlacementProgress, int64(tt.parts * tt.verts)},
			} {
				var ev []sdktest.Event
				for _, e := range h.Events() {
					if e.PhaseID == p.phase.PhaseID() {
						ev = append(ev, e)
					}
				}
				require.NotEmpty(t, ev, p.phase.String())
				assert.LessOrEqual(t, len(ev), maxProgressEvents, p.phase.String())
				prev := int64(-1)
				for _, e := range ev {
					assert.Equal(t, p.total, e.Total)
					assert.Greater(t, e.Done, prev, "done increases")
					prev = e.Done
				}
				assert.Equal(t, p.total, ev[len(ev)-1].Done, "the last event has done == total")
				if p.total >= maxProgressEvents {
					assert.GreaterOrEqual(t, len(ev), maxProgressEvents/2, "progress stays fine-grained")
				}
			}
			names := h.PhaseNames()
			assert.Equal(t, "SOLVER_START", names[0])
			assert.Equal(t, "LCS_PLACEMENT_END", names[len(names)-1])
		})
	}
}

func TestClip(t *testing.T) {
	long := ""
	for len(long) < 2000 {
		long += "ä"
	}
	got := sdk.Clip(long)
	assert.LessOrEqual(t, len(got), 1024)
	assert.Contains(t, got, "…")
	assert.Equal(t, "short", sdk.Clip("short"))

	doc := graphDoc([]string{"base", long}, map[string]bool{"base": true}, [3]string{"c", long, "base"})
	h, err := run(t, mustJSON(t, doc), sdktest.Options{})
	require.NoError(t, err, "a long part name gives clipped messages, not a refused emit")
	assert.NotEmpty(t, h.Events())
}
