package manifest

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const validYAML = `
abi: 1
name: material
version: 1.2.0
stage: material
description: resolves materials
phases:
  - {name: MATERIAL_RESOLVE_LIBRARY, step: resolve_library, maps_to: PROGRESS}
  - {name: MATERIAL_APPLY_START, step: apply, maps_to: START}
  - {name: MATERIAL_APPLY_PROGRESS, step: apply, maps_to: PROGRESS}
  - {name: MATERIAL_APPLY_END, step: apply, maps_to: END}
  - {name: MATERIAL_OVERRIDE_PROPERTIES, step: override_properties, maps_to: PROGRESS}
`

func TestParseValid(t *testing.T) {
	m, err := Parse([]byte(validYAML))
	require.NoError(t, err)
	assert.Equal(t, "material@1.2.0", m.Ref())
	assert.Equal(t, []string{"resolve_library", "apply", "override_properties"}, m.Steps())
	assert.Equal(t, 1.0, m.EffectiveWeight())
	p, ok := m.Phase(4)
	require.True(t, ok)
	assert.Equal(t, "MATERIAL_OVERRIDE_PROPERTIES", p.Name)
	_, ok = m.Phase(5)
	assert.False(t, ok)
	_, ok = m.Phase(-1)
	assert.False(t, ok)

	// JSON round trip: what pack embeds parses back to the same manifest.
	again, err := Parse(m.JSON())
	require.NoError(t, err)
	assert.Equal(t, m, again)
}

func TestReferencePluginManifests(t *testing.T) {
	for _, name := range []string{"assembly4", "material", "topology"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile("../../plugins/" + name + "/plugin.yaml")
			require.NoError(t, err)
			m, err := Parse(b)
			require.NoError(t, err)
			assert.Equal(t, name, m.Name)
		})
	}
}

// Each rule of the manifest, with the exact problem it produces.
func TestParseProblems(t *testing.T) {
	phases := `phases: [{name: A_START, step: a, maps_to: START}]`
	head := "abi: 1\nname: p\nversion: 1.0.0\nstage: s\ndescription: d\n"
	cases := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "seed CRITICAL: mapping names a phase that does not exist",
			doc: head + `phases:
  - {name: MATERIAL_RESOLVE_LIBRARY, step: resolve, maps_to: PROGRESS}
  - {name: MATERIAL_APPLY_START, step: apply, maps_to: START}
  - {name: MATERIAL_APPLY_PROGRESS, step: apply, maps_to: PROGRESS}
  - {name: MATERIAL_APPLY_END, step: apply, maps_to: END}
  - {name: MATERIAL_OVERRIDE_PROPERTIES, step: apply, maps_to: LIBRARY_LOAD_START}`,
			want: []string{`phases[4].maps_to: "LIBRARY_LOAD_START" is not a unified phase (START, PROGRESS, END)`},
		},
		{"abi version", "abi: 2\nname: p\nversion: 1.0.0\nstage: s\ndescription: d\n" + phases,
			[]string{`abi: 2 is not supported: this host speaks ABI 1`}},
		{"abi not integer", "abi: one\nname: p\nversion: 1.0.0\nstage: s\ndescription: d\n" + phases,
			[]string{`abi: "one" is a string, want integer`}},
		{"name pattern", "abi: 1\nname: Bad Name\nversion: 1.0.0\nstage: s\ndescription: d\n" + phases,
			[]string{`name: "Bad Name" is not a valid name (a lower-case letter, then up to 62 of a-z 0-9 _ -: ^[a-z][a-z0-9_-]{0,62}$)`}},
		{"version not semver", "abi: 1\nname: p\nversion: 1.x\nstage: s\ndescription: d\n" + phases,
			[]string{`version: "1.x" is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.0)`}},
		{"version as YAML number", "abi: 1\nname: p\nversion: 1.0\nstage: s\ndescription: d\n" + phases,
			[]string{`version: 1 is a number, want string`}},
		{"missing fields", "abi: 1\nname: p\n",
			[]string{"description: required field is missing", "phases: required field is missing", "stage: required field is missing", "version: required field is missing"}},
		{"unknown top-level field", head + phases + "\ncolour: red",
			[]string{`colour: unknown field "colour"`}},
		{"unknown phase field", head + `phases: [{name: A_START, step: a, maps_to: START, weight: 2}]`,
			[]string{`phases[0].weight: unknown field "weight"`}},
		{"phase name pattern", head + `phases: [{name: a_start, step: a, maps_to: START}]`,
			[]string{`phases[0].name: "a_start" is not a phase name (upper-case letters, digits and _, starting with a letter: ^[A-Z][A-Z0-9_]*$)`}},
		{"step not lower_snake", head + `phases: [{name: A_START, step: Solver-1, maps_to: START}]`,
			[]string{`phases[0].step: "Solver-1" is not a lower_snake step name (^[a-z][a-z0-9]*(_[a-z0-9]+)*$)`}},
		{"no phases", head + `phases: []`,
			[]string{`phases: has 0 items, needs at least 1`}},
		{"duplicate phase names", head + `phases:
  - {name: A_START, step: a, maps_to: START}
  - {name: A_START, step: a, maps_to: PROGRESS}`,
			[]string{`phases[1].name: "A_START" is declared twice (first at phases[0]); phase names must be unique`}},
		{"two STARTs in a step", head + `phases:
  - {name: A_START, step: a, maps_to: START}
  - {name: A_BEGIN, step: a, maps_to: START}`,
			[]string{`phases[1].maps_to: "START": step "a" already has a START (phases[0] "A_START"); a step has at most one START and one END`}},
		{"two ENDs in a step", head + `phases:
  - {name: A_END, step: a, maps_to: END}
  - {name: A_DONE, step: a, maps_to: END}`,
			[]string{`phases[1].maps_to: "END": step "a" already has an END (phases[0] "A_END"); a step has at most one START and one END`}},
		{"limits out of range", head + phases + "\nlimits: {memory_mb: 0, timeout_ms: -5, speed: 3}",
			[]string{`limits.memory_mb: 0 is below the minimum 1`, `limits.speed: unknown field "speed"`, `limits.timeout_ms: -5 is below the minimum 1`}},
		{"weight not positive", head + phases + "\nweight: 0",
			[]string{`weight: 0 must be greater than 0`}},
		{"not an object", `[1, 2]`, []string{`manifest must be an object, got [1,2]`}},
		{"empty", "  ", []string{"manifest is empty"}},
		{"JSON syntax", "{\n \"abi\": 1,\n \"name\": }", []string{"not valid JSON: line 3, column 10: invalid character '}' looking for beginning of value"}},
		{"every problem at once", "abi: 3\nname: X\nversion: one\nstage: s\ndescription: d\nphases:\n" +
			"  - {name: A_START, step: a, maps_to: BEGIN}\n  - {name: A_START, step: a, maps_to: START}\n  - {name: B_START, step: a, maps_to: START}",
			[]string{
				`abi: 3 is not supported: this host speaks ABI 1`,
				`name: "X" is not a valid name (a lower-case letter, then up to 62 of a-z 0-9 _ -: ^[a-z][a-z0-9_-]{0,62}$)`,
				`phases[0].maps_to: "BEGIN" is not a unified phase (START, PROGRESS, END)`,
				`phases[1].name: "A_START" is declared twice (first at phases[0]); phase names must be unique`,
				`phases[2].maps_to: "START": step "a" already has a START (phases[1] "A_START"); a step has at most one START and one END`,
				`version: "one" is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.0)`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.doc))
			require.Error(t, err)
			assert.Nil(t, m)
			var inv *InvalidError
			require.True(t, errors.As(err, &inv), "error %T", err)
			var got []string
			for _, p := range inv.Problems {
				got = append(got, p.String())
			}
			assert.Equal(t, tc.want, got)
			assert.True(t, strings.HasPrefix(err.Error(), "invalid manifest: "), err.Error())
		})
	}
}

func TestParseJSONRefusesYAML(t *testing.T) {
	_, err := ParseJSON([]byte(validYAML))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not valid JSON: line 1, column 1: invalid character 'a' looking for beginning of value (the section holds JSON; phasectl plugin pack converts YAML)")
	m, err := Parse([]byte(validYAML))
	require.NoError(t, err)
	_, err = ParseJSON(m.JSON())
	require.NoError(t, err)
}

func TestParseJSONStrict(t *testing.T) {
	_, err := Parse([]byte(`{"abi":1,"name":"p","version":"1.0.0","stage":"s","description":"d","phases":[{"name":"A","step":"a","maps_to":"END"}],"extra":true}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `extra: unknown field "extra"`)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(validYAML))
	f.Add([]byte(`{"abi":1,"name":"p","version":"1.0.0","stage":"s","description":"d","phases":[{"name":"A","step":"a","maps_to":"END"}]}`))
	f.Add([]byte("abi: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			var inv *InvalidError
			if !errors.As(err, &inv) || len(inv.Problems) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			return
		}
		// Whatever parses must survive its own round trip.
		again, err := Parse(m.JSON())
		if err != nil {
			t.Fatalf("round trip of %s: %v", m.JSON(), err)
		}
		if again.Ref() != m.Ref() || len(again.Phases) != len(m.Phases) {
			t.Fatalf("round trip changed the manifest")
		}
	})
}
