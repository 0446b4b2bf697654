package stage

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	sdk "github.com/phasehost/phasehost/sdk/go"
	"github.com/phasehost/phasehost/sdk/go/sdktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/plugins/topology/phases"
)

type outPart struct {
	Name     string `json:"name"`
	Topology report `json:"topology"`
}

type outDoc struct {
	Parts    []outPart `json:"parts"`
	Topology summary   `json:"topology"`
}

func runStage(t testing.TB, doc []byte) (*sdktest.Host, outDoc) {
	t.Helper()
	h := sdktest.New(doc, phases.All(), sdktest.Options{})
	require.Equal(t, int32(0), h.Run(Stage), "failure: %s", h.Failure())
	var out outDoc
	require.NoError(t, json.Unmarshal(h.Output(), &out))
	return h, out
}

// topologyOf runs the stage on a one-part document and returns the report.
func topologyOf(t testing.TB, m testMesh) report {
	t.Helper()
	_, out := runStage(t, mustJSON(t, obj{"parts": []obj{testPart("p", m)}}))
	require.Len(t, out.Parts, 1)
	return out.Parts[0].Topology
}

func intp(v int) *int { return &v }

func TestValidation(t *testing.T) {
	box := unitBox()
	tests := []struct {
		name string
		mesh testMesh
		want report // Hash and Problems are checked separately
		// problems are substrings, one per expected problem, in order
		problems []string
	}{
		{
			name: "closed box", mesh: box,
			want: report{Vertices: 8, Edges: 18, Faces: 12, Components: 1, EulerCharacteristic: 2, Genus: intp(0),
				Watertight: true, ConsistentlyOriented: true, ExportOK: true},
		},
		{
			name: "subdivided box", mesh: boxMesh(3, [3]float64{}, [3]float64{1, 2, 3}, nil),
			want: report{Vertices: 56, Edges: 162, Faces: 108, Components: 1, EulerCharacteristic: 2, Genus: intp(0),
				Watertight: true, ConsistentlyOriented: true, ExportOK: true},
		},
		{
			name: "torus", mesh: torusMesh(8, 6, 3, 1),
			want: report{Vertices: 48, Edges: 144, Faces: 96, Components: 1, EulerCharacteristic: 0, Genus: intp(1),
				Watertight: true, ConsistentlyOriented: true, ExportOK: true},
		},
		{
			name: "two tori in one part", mesh: merged(torusMesh(8, 6, 3, 1), torusMesh(8, 6, 3, 1).moved([3]float64{1, 0, 0}, 1, [3]float64{20, 0, 0})),
			want: report{Vertices: 96, Edges: 288, Faces: 192, Components: 2, EulerCharacteristic: 0, Genus: intp(2),
				Watertight: true, ConsistentlyOriented: true, ExportOK: true},
		},
		{
			name: "box with a removed triangle",
			mesh: box.with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) { return tr[:11], v }),
			want: report{Vertices: 8, Edges: 18, Faces: 11, Components: 1, EulerCharacteristic: 1,
				ConsistentlyOriented: true},
			problems: []string{"not watertight: 3 boundary edges used by one triangle only: (3, 5), (3, 6), (5, 6)"},
		},
		{
			name: "box with a flipped triangle",
			mesh: box.with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) {
				tr[4] = [3]int{tr[4][0], tr[4][2], tr[4][1]}
				return tr, v
			}),
			want: report{Vertices: 8, Edges: 18, Faces: 12, Components: 1, EulerCharacteristic: 2, Genus: intp(0),
				Watertight: true},
			problems: []string{"not consistently oriented: 3 edges traversed in the same direction by both triangles: " +
				"(0, 3) in triangles[1] and [4], (0, 5) in triangles[4] and [5], (3, 5) in triangles[4] and [11]; " +
				"the surface is orientable: reversing 1 triangle makes it consistent: triangles[4]"},
		},
		{
			name: "triangle repeating a vertex",
			mesh: box.with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) { return append(tr, [3]int{0, 0, 1}), v }),
			want: report{Vertices: 8, Edges: 18, Faces: 12, Components: 1, EulerCharacteristic: 2, Genus: intp(0),
				Watertight: true, ConsistentlyOriented: true, DegenerateFaces: 1},
			problems: []string{"1 degenerate triangle repeating a vertex, left out: triangles[12] = [0, 0, 1]"},
		},
		{
			name: "collinear triangle",
			mesh: box.with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) {
				v[7] = [3]float64{0.5, 0.5, 1} // midpoint of 4 and 6: triangles[3] = [4 6 7] is flat
				return tr, v
			}),
			want: report{Vertices: 8, Edges: 18, Faces: 12, Components: 1, EulerCharacteristic: 2, Genus: intp(0),
				Watertight: true, ConsistentlyOriented: true, DegenerateFaces: 1},
			problems: []string{"1 degenerate triangle of zero area: triangles[3]"},
		},
		{
			name: "coincident vertices",
			mesh: box.with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) {
				v[7] = v[6]
				return tr, v
			}),
			want: report{Vertices: 8, Edges: 18, Faces: 12, Components: 1, EulerCharacteristic: 2, Genus: intp(0),
				Watertight: true, ConsistentlyOriented: true, DegenerateFaces: 2},
			problems: []string{"2 degenerate triangles of zero area: triangles[3], triangles[6]"},
		},
		{
			name: "indices out of range",
			mesh: box.with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) {
				return append(tr, [3]int{0, 1, 99}, [3]int{-1, 2, 3}), v
			}),
			want: report{Vertices: 8, Edges: 18, Faces: 12, Components: 1, EulerCharacteristic: 2,
				ConsistentlyOriented: true},
			problems: []string{"2 vertex indices out of range [0, 8), triangles left out: triangles[12][2] = 99, triangles[13][0] = -1"},
		},
		{
			name: "unused vertex",
			mesh: box.with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) { return tr, append(v, [3]float64{5, 5, 5}) }),
			want: report{Vertices: 9, Edges: 18, Faces: 12, Components: 2, EulerCharacteristic: 3,
				Watertight: true, ConsistentlyOriented: true},
			problems: []string{"1 vertex not used by any valid triangle: 8"},
		},
		{
			name: "two boxes sharing a corner",
			mesh: merged(box, boxMesh(1, [3]float64{1, 1, 1}, [3]float64{1, 1, 1}, nil), 0, 7),
			want: report{Vertices: 15, Edges: 36, Faces: 24, Components: 1, EulerCharacteristic: 3,
				Watertight: true, ConsistentlyOriented: true},
			problems: []string{"1 non-manifold vertex where separate sheets of triangles meet: 7"},
		},
		{
			name: "fin on an edge",
			mesh: box.with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) {
				return append(tr, [3]int{0, 1, 8}), append(v, [3]float64{0.5, -1, 0})
			}),
			want: report{Vertices: 9, Edges: 20, Faces: 13, Components: 1, EulerCharacteristic: 2,
				ConsistentlyOriented: true},
			problems: []string{
				"not watertight: 2 boundary edges used by one triangle only: (0, 8), (1, 8)",
				"not watertight: 1 non-manifold edge shared by more than two triangles: (0, 1) in 3 triangles",
			},
		},
		{
			name:     "no triangles",
			mesh:     testMesh{Vertices: [][3]float64{}, Triangles: [][3]int{}},
			want:     report{},
			problems: []string{"no valid triangles"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := topologyOf(t, tc.mesh)
			assert.Len(t, got.Hash, 64)
			require.Len(t, got.Problems, len(tc.problems), "problems: %q", got.Problems)
			for i, p := range tc.problems {
				assert.Contains(t, got.Problems[i], p)
			}
			tc.want.Hash, tc.want.Problems = got.Hash, got.Problems
			tc.want.ExportOK = len(tc.problems) == 0
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestHashStable(t *testing.T) {
	meshes := map[string]testMesh{
		"box":            unitBox(),
		"subdivided box": boxMesh(4, [3]float64{}, [3]float64{1, 2, 3}, nil),
		"torus":          torusMesh(12, 7, 5, 1.5),
		"open box":       boxMesh(2, [3]float64{}, [3]float64{1, 1, 1}, nil).shuffled(9).with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) { return tr[3:], v }),
	}
	for name, m := range meshes {
		base := topologyOf(t, m).Hash
		variants := map[string]testMesh{
			"vertex renumbering":    m.renumbered(1),
			"another renumbering":   m.renumbered(2),
			"triangle reordering":   m.shuffled(3),
			"cyclic index rotation": m.rotatedIndices(4),
			"rigid motion":          m.moved([3]float64{1, -2, 0.5}, 2.2, [3]float64{100, -40, 7}),
			"all at once":           m.renumbered(5).shuffled(6).rotatedIndices(7).moved([3]float64{0, 0, 1}, 1, [3]float64{1, 1, 1}),
		}
		for vname, v := range variants {
			t.Run(name+"/"+vname, func(t *testing.T) {
				assert.Equal(t, base, topologyOf(t, v).Hash)
			})
		}
	}
}

func TestHashPinned(t *testing.T) {
	// The hash is an identifier stored downstream: it must not change by
	// accident. Changing its definition means bumping hashVersion and these.
	tests := []struct {
		name string
		mesh testMesh
		want string
	}{
		{"unit box", unitBox(), "31184da5e187a8df80b2b3a6b918a1d57134930963b86279b765356e242ce197"},
		{"torus 8x6", torusMesh(8, 6, 30, 10), "934c136b503dcd939cfd8579cdfd31258717c31820600314395eb5ac4dfb886b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, topologyOf(t, tc.mesh).Hash)
		})
	}
}

func TestHashDistinguishes(t *testing.T) {
	box := unitBox()
	// One face of the box cut along the other diagonal: same V/E/F, but a
	// different triangulation (the vertex valences differ).
	otherDiagonal := boxMesh(1, [3]float64{}, [3]float64{1, 1, 1}, func(face, i, j int) bool { return face == 1 })
	require.NotEqual(t, box.valences(), otherDiagonal.valences(), "premise: the triangulations are not isomorphic")
	tests := []struct {
		name string
		a, b testMesh
	}{
		{"box vs torus", box, torusMesh(4, 3, 3, 1)},
		{"box vs subdivided box", box, boxMesh(2, [3]float64{}, [3]float64{1, 1, 1}, nil)},
		{"box vs box with another diagonal", box, otherDiagonal},
		{"torus 8x6 vs torus 8x7", torusMesh(8, 6, 3, 1), torusMesh(8, 7, 3, 1)},
		{"box vs box with a hole", box, box.with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) { return tr[:11], v })},
		{"box vs box with an unused vertex", box, box.with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) { return tr, append(v, v[0]) })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.NotEqual(t, topologyOf(t, tc.a).Hash, topologyOf(t, tc.b).Hash)
		})
	}
}

// bracket is a 3-part document: a base, an arm on the base and a pin on the arm.
func bracket(names [3]string, order [3]int) obj {
	meshes := []testMesh{
		boxMesh(2, [3]float64{}, [3]float64{100, 60, 10}, nil),
		torusMesh(10, 6, 20, 4),
		boxMesh(1, [3]float64{0, 0, 10}, [3]float64{5, 5, 40}, nil),
	}
	parts := make([]obj, 3)
	for k, i := range order {
		parts[k] = testPart(names[i], meshes[i])
	}
	return obj{
		"assembly": "bracket",
		"parts":    parts,
		"constraints": []obj{
			{"name": "c1", "part": names[1], "lcs": "LCS_Origin", "parent": names[0], "parent_lcs": "LCS_Top"},
			{"name": "c2", "part": names[2], "lcs": "LCS_Origin", "parent": names[1], "parent_lcs": "LCS_Hole"},
		},
	}
}

func TestAssemblyHash(t *testing.T) {
	_, base := runStage(t, mustJSON(t, bracket([3]string{"base", "arm", "pin"}, [3]int{0, 1, 2})))
	hash := base.Topology.AssemblyHash
	// Pinned like the part hashes: changing the definition means bumping
	// assemblyVersion and this.
	require.Equal(t, "b36e57864ad6d5f88055c804363c5f43106bcf93cfeaad2a6242d918736a44dd", hash)

	t.Run("stable under renaming and reordering parts", func(t *testing.T) {
		_, renamed := runStage(t, mustJSON(t, bracket([3]string{"plate", "lever", "bolt"}, [3]int{2, 0, 1})))
		assert.Equal(t, hash, renamed.Topology.AssemblyHash)
		// Part hashes do not depend on names either.
		byName := map[string]string{}
		for _, p := range renamed.Parts {
			byName[p.Name] = p.Topology.Hash
		}
		assert.Equal(t, base.Parts[0].Topology.Hash, byName["plate"])
		assert.Equal(t, base.Parts[1].Topology.Hash, byName["lever"])
		assert.Equal(t, base.Parts[2].Topology.Hash, byName["bolt"])
	})
	t.Run("stable under reordering constraints and renaming LCS", func(t *testing.T) {
		d := bracket([3]string{"base", "arm", "pin"}, [3]int{0, 1, 2})
		c := d["constraints"].([]obj)
		c[0], c[1] = c[1], c[0]
		c[0]["lcs"], c[0]["name"] = "LCS_Other", "renamed"
		_, got := runStage(t, mustJSON(t, d))
		assert.Equal(t, hash, got.Topology.AssemblyHash)
	})
	t.Run("changes with the constraint graph", func(t *testing.T) {
		d := bracket([3]string{"base", "arm", "pin"}, [3]int{0, 1, 2})
		d["constraints"].([]obj)[1]["parent"] = "base" // pin on the base, not the arm
		_, got := runStage(t, mustJSON(t, d))
		assert.NotEqual(t, hash, got.Topology.AssemblyHash)

		d = bracket([3]string{"base", "arm", "pin"}, [3]int{0, 1, 2})
		d["constraints"] = []obj{}
		_, got = runStage(t, mustJSON(t, d))
		assert.NotEqual(t, hash, got.Topology.AssemblyHash)

		d = bracket([3]string{"base", "arm", "pin"}, [3]int{0, 1, 2})
		c := d["constraints"].([]obj)
		c[0]["part"], c[0]["parent"] = c[0]["parent"], c[0]["part"] // reversed direction
		_, got = runStage(t, mustJSON(t, d))
		assert.NotEqual(t, hash, got.Topology.AssemblyHash)
	})
	t.Run("changes with a part's topology", func(t *testing.T) {
		d := bracket([3]string{"base", "arm", "pin"}, [3]int{0, 1, 2})
		d["parts"].([]obj)[2]["mesh"] = boxMesh(2, [3]float64{0, 0, 10}, [3]float64{5, 5, 40}, nil)
		_, got := runStage(t, mustJSON(t, d))
		assert.NotEqual(t, hash, got.Topology.AssemblyHash)
	})
	t.Run("identical parts are told apart by the graph", func(t *testing.T) {
		// Two equal boxes A, B and a torus T: "T on A" and "A on B" have the
		// same part hashes and the same number of constraints.
		box, torus := unitBox(), torusMesh(6, 4, 3, 1)
		parts := []obj{testPart("a", box), testPart("b", box), testPart("t", torus)}
		one := obj{"parts": parts, "constraints": []obj{{"part": "t", "parent": "a"}, {"part": "a", "parent": "b"}}}
		two := obj{"parts": parts, "constraints": []obj{{"part": "t", "parent": "a"}, {"part": "b", "parent": "a"}}}
		_, h1 := runStage(t, mustJSON(t, one))
		_, h2 := runStage(t, mustJSON(t, two))
		assert.NotEqual(t, h1.Topology.AssemblyHash, h2.Topology.AssemblyHash)
	})
}

func TestGoldenPhases(t *testing.T) {
	box := unitBox()
	hole := box.with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) { return tr[:11], v })
	d := obj{
		"parts":       []obj{testPart("base", box), testPart("arm", hole)},
		"constraints": []obj{{"name": "arm_on_base", "part": "arm", "lcs": "LCS_Origin", "parent": "base", "parent_lcs": "LCS_Top"}},
	}
	h, out := runStage(t, mustJSON(t, d))
	ev := h.Events()
	require.Len(t, ev, 6)
	assert.Equal(t, []string{"TOPO_HASH_START", "TOPO_HASH_PROGRESS", "TOPO_HASH_PROGRESS", "TOPO_HASH_END", "EXPORT_VALIDATION", "EXPORT_VALIDATION"}, h.PhaseNames())
	bh, ah := out.Parts[0].Topology.Hash, out.Parts[1].Topology.Hash
	want := []sdktest.Event{
		{PhaseID: 0, Phase: "TOPO_HASH_START", Done: 0, Total: 2, Message: "hashing 2 parts (23 triangles, 1 constraint)"},
		{PhaseID: 1, Phase: "TOPO_HASH_PROGRESS", Done: 1, Total: 2, Message: `part "base": V=8 E=18 F=12 hash ` + bh[:16]},
		{PhaseID: 1, Phase: "TOPO_HASH_PROGRESS", Done: 2, Total: 2, Message: `part "arm": V=8 E=18 F=11 hash ` + ah[:16]},
		{PhaseID: 2, Phase: "TOPO_HASH_END", Done: 2, Total: 2, Message: "assembly hash " + out.Topology.AssemblyHash},
		{PhaseID: 3, Phase: "EXPORT_VALIDATION", Done: 1, Total: 2, Message: `part "base": ok`},
		{PhaseID: 3, Phase: "EXPORT_VALIDATION", Done: 2, Total: 2, Message: `part "arm": 1 problem: not watertight: 3 boundary edges used by one triangle only: (3, 5), (3, 6), (5, 6)`},
	}
	assert.Equal(t, want, ev)
	assert.Equal(t, summary{AssemblyHash: out.Topology.AssemblyHash, PartsOK: 1, PartsFailed: 1, ExportOK: false}, out.Topology)
}

func TestProgressThrottled(t *testing.T) {
	var parts []obj
	for i := range 120 {
		parts = append(parts, testPart(fmt.Sprintf("p%03d", i), boxMesh(1+i%3, [3]float64{float64(i), 0, 0}, [3]float64{1, 1, 1}, nil)))
	}
	h, out := runStage(t, mustJSON(t, obj{"parts": parts}))
	byPhase := map[string][]sdktest.Event{}
	for _, e := range h.Events() {
		byPhase[e.Phase] = append(byPhase[e.Phase], e)
	}
	for _, phase := range []string{"TOPO_HASH_PROGRESS", "EXPORT_VALIDATION"} {
		ev := byPhase[phase]
		require.NotEmpty(t, ev)
		assert.LessOrEqual(t, len(ev), sdk.DefaultProgressEvents, phase)
		var prev int64
		for _, e := range ev {
			assert.Greater(t, e.Done, prev)
			assert.Equal(t, int64(120), e.Total)
			prev = e.Done
		}
		assert.Equal(t, int64(120), prev, phase)
	}
	assert.Len(t, byPhase["TOPO_HASH_START"], 1)
	assert.Len(t, byPhase["TOPO_HASH_END"], 1)
	assert.Equal(t, 120, out.Topology.PartsOK)
	assert.True(t, out.Topology.ExportOK)
}

func TestPassesDocumentAlong(t *testing.T) {
	in := obj{
		"assembly": "bracket",
		"units":    "mm",
		"future":   obj{"x": []int{1, 2, 3}},
		"parts": []obj{{
			"name": "base", "material": "abs", "mesh": unitBox(), "grounded": true,
			"placement":           obj{"position": []float64{0, 0, 0}},
			"material_properties": obj{"name": "abs"},
			"custom":              "kept",
		}},
		"material":  obj{"total_mass_kg": 1.0},
		"assembly4": obj{"order": []string{"base"}},
	}
	h, _ := runStage(t, mustJSON(t, in))
	var got map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(h.Output(), &got))
	for _, k := range []string{"assembly", "units", "future", "assembly4", "material", "parts", "topology"} {
		assert.Contains(t, got, k)
	}
	assert.JSONEq(t, `{"x":[1,2,3]}`, string(got["future"]))
	var parts []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(got["parts"], &parts))
	for _, k := range []string{"name", "material", "mesh", "grounded", "placement", "material_properties", "custom", "topology"} {
		assert.Contains(t, parts[0], k)
	}
	assert.JSONEq(t, string(mustJSON(t, unitBox())), string(parts[0]["mesh"]))
	// The output is a valid input, and running again gives the same document.
	h2, _ := runStage(t, h.Output())
	assert.JSONEq(t, string(h.Output()), string(h2.Output()))
	// A part that is not closed-orientable has "genus": null.
	_, out := runStage(t, mustJSON(t, obj{"parts": []obj{testPart("p", unitBox().with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) { return tr[1:], v }))}}))
	assert.Nil(t, out.Parts[0].Topology.Genus)
	assert.Contains(t, string(runOutput(t, obj{"parts": []obj{testPart("p", unitBox().with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) { return tr[1:], v }))}})), `"genus":null`)
}

func runOutput(t *testing.T, d obj) []byte {
	h, _ := runStage(t, mustJSON(t, d))
	return h.Output()
}

func TestErrors(t *testing.T) {
	box := unitBox()
	doc := func(mut func(d obj)) []byte {
		d := obj{
			"parts":       []obj{testPart("base", box), testPart("arm", box)},
			"constraints": []obj{{"name": "arm_on_base", "part": "arm", "parent": "base"}},
		}
		if mut != nil {
			mut(d)
		}
		return mustJSON(t, d)
	}
	setPart := func(i int, k string, v any) func(obj) {
		return func(d obj) { d["parts"].([]obj)[i][k] = v }
	}
	setConstraint := func(k string, v any) func(obj) {
		return func(d obj) { d["constraints"].([]obj)[0][k] = v }
	}
	tests := []struct {
		name  string
		input []byte
		want  string
	}{
		{"not JSON", []byte(`{"parts": [`), "malformed document: at byte 11: unexpected end of JSON input"},
		{"not an object", []byte(`[1, 2]`), "malformed document: top level: want an object, got an array"},
		{"null", []byte(`null`), "top level: want an object, got null"},
		{"no parts", []byte(`{}`), `malformed document: missing "parts"`},
		{"parts not a list", []byte(`{"parts": {"name": "x"}}`), "malformed document: parts: want an array, got an object"},
		{"empty parts", []byte(`{"parts": []}`), "parts: the document has no parts"},
		{"null part", doc(func(d obj) { d["parts"] = []any{nil} }), "parts[0]: want an object, got null"},
		{"mesh error named by a later name", []byte(`{"parts":[{"mesh":{"vertices":[[0,0]],"triangles":[]},"name":"late"}]}`),
			`malformed document: part "late" (parts[0]): mesh: vertices[0]: want 3 coordinates, got 2`},
		{"later null mesh wins", []byte(`{"parts":[{"name":"a","mesh":{"vertices":[],"triangles":[]},"mesh":null}]}`), `malformed document: part "a" (parts[0]): missing "mesh"`},
		{"later parts win", []byte(`{"parts":[{"name":"a","mesh":{"vertices":[],"triangles":[]}}],"parts":[]}`), `parts: the document has no parts`},
		{"part without name", doc(func(d obj) { delete(d["parts"].([]obj)[1], "name") }), `parts[1]: missing "name"`},
		{"name not a string", doc(setPart(0, "name", 7)), `parts[0]: name: want a string, got 7`},
		{"duplicate name", doc(setPart(1, "name", "base")), `parts[1]: duplicate part name "base" (also parts[0])`},
		{"missing mesh", doc(setPart(1, "mesh", nil)), `part "arm" (parts[1]): missing "mesh"`},
		{"mesh not an object", doc(setPart(1, "mesh", "box.stl")), `part "arm" (parts[1]): mesh: want an object, got a string`},
		{"missing vertices", doc(setPart(0, "mesh", obj{"triangles": box.Triangles})), `part "base" (parts[0]): mesh: missing "vertices"`},
		{"missing triangles", doc(setPart(0, "mesh", obj{"vertices": box.Vertices})), `part "base" (parts[0]): mesh: missing "triangles"`},
		{"vertex with two coordinates", doc(setPart(0, "mesh", obj{"vertices": [][]float64{{0, 0}}, "triangles": [][]int{}})), `mesh: vertices[0]: want 3 coordinates, got 2`},
		{"vertex not a number", doc(setPart(0, "mesh", obj{"vertices": [][]any{{0, "x", 0}}, "triangles": [][]int{}})), `part "base" (parts[0]): mesh: vertices[0][1]: want a number, got a string`},
		{"coordinate out of range", []byte(`{"parts":[{"name":"a","mesh":{"vertices":[[0,0,1e999]],"triangles":[]}}]}`), `part "a" (parts[0]): mesh: vertices[0][2]: number 1e999 is out of range`},
		{"triangle with two indices", doc(setPart(1, "mesh", obj{"vertices": box.Vertices, "triangles": [][]int{{0, 1}}})), `part "arm" (parts[1]): mesh: triangles[0]: want 3 vertex indices, got 2`},
		{"fractional index", doc(setPart(1, "mesh", obj{"vertices": box.Vertices, "triangles": [][]float64{{0, 1, 2.5}}})), `part "arm" (parts[1]): mesh: triangles[0][2]: want an integer vertex index, got 2.5`},
		{"constraint not an object", doc(func(d obj) { d["constraints"] = []any{"arm on base"} }), "malformed document: constraints[0]: want an object, got a string"},
		{"constraints not a list", doc(func(d obj) { d["constraints"] = "none" }), "malformed document: constraints: want an array, got a string"},
		{"constraint without part", doc(func(d obj) { delete(d["constraints"].([]obj)[0], "part") }), `constraints[0] ("arm_on_base"): missing "part"`},
		{"constraint on unknown part", doc(setConstraint("part", "lid")), `constraints[0] ("arm_on_base"): part: no part named "lid"`},
		{"constraint on unknown parent", doc(setConstraint("parent", "floor")), `constraints[0] ("arm_on_base"): parent: no part named "floor"`},
		{"parent not a string", doc(setConstraint("parent", 3)), `constraints[0] ("arm_on_base"): parent: want a string, got 3`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.New(tc.input, phases.All(), sdktest.Options{})
			err := Stage(h)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMalformed)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, h.Events())
			assert.Empty(t, h.Output())
			h2 := sdktest.New(tc.input, phases.All(), sdktest.Options{})
			assert.Equal(t, int32(1), h2.Run(Stage), "an error, not a panic")
		})
	}
}

func TestConstraintWithoutParentIsGrounded(t *testing.T) {
	box := unitBox()
	parts := []obj{testPart("base", box), testPart("arm", box)}
	_, a := runStage(t, mustJSON(t, obj{"parts": parts, "constraints": []obj{{"part": "base"}}}))
	_, b := runStage(t, mustJSON(t, obj{"parts": parts, "constraints": []obj{{"part": "base", "parent": nil}}}))
	_, c := runStage(t, mustJSON(t, obj{"parts": parts}))
	assert.Equal(t, a.Topology.AssemblyHash, b.Topology.AssemblyHash)
	assert.NotEqual(t, a.Topology.AssemblyHash, c.Topology.AssemblyHash)
}

func TestCancellation(t *testing.T) {
	box := unitBox()
	parts := []obj{testPart("a", box), testPart("b", box), testPart("c", box)}
	for _, n := range []int{1, 2, 4, 6} {
		t.Run(fmt.Sprintf("after %d events", n), func(t *testing.T) {
			h := sdktest.New(mustJSON(t, obj{"parts": parts}), phases.All(), sdktest.Options{CancelAfter: n})
			err := Stage(h)
			require.ErrorIs(t, err, sdk.ErrCancelled)
			assert.Len(t, h.Events(), n)
			assert.Empty(t, h.Output())
		})
	}
}

func TestLongNamesAreClipped(t *testing.T) {
	name := strings.Repeat("名", 1000)
	h, _ := runStage(t, mustJSON(t, obj{"parts": []obj{testPart(name, unitBox().with(func(tr [][3]int, v [][3]float64) ([][3]int, [][3]float64) { return tr[2:], v }))}}))
	for _, e := range h.Events() {
		assert.LessOrEqual(t, len(e.Message), 1024)
	}
}
