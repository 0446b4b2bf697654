package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/internal/refplugins"
	"github.com/phasehost/phasehost/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// recorder is a Publisher that numbers and keeps events.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) Publish(_ context.Context, ev event.Event) (event.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev.Seq = int64(len(r.events) + 1)
	r.events = append(r.events, ev)
	return ev, nil
}

func loadReference(t *testing.T) []*plugin.Plugin {
	t.Helper()
	e, err := plugin.NewEngine(plugin.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	mods := refplugins.Modules(t)
	var stages []*plugin.Plugin
	for _, name := range refplugins.Names() {
		p, err := e.Load(context.Background(), mods[name])
		require.NoError(t, err, name)
		stages = append(stages, p)
	}
	return stages
}

func eventSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.Event()))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource("event.schema.json", doc))
	s, err := c.Compile("event.schema.json")
	require.NoError(t, err)
	return s
}

// The bracket example through all three reference plugins: every event valid
// against the schema, seq 1..N, all 15 seed phases, percents that only go up,
// and the exact phase sequence of testdata/bracket.golden.
func TestReferencePipelineOnBracket(t *testing.T) {
	stages := loadReference(t)
	input, err := os.ReadFile("../../examples/bracket.json")
	require.NoError(t, err)

	rec := &recorder{}
	r := NewRunner(rec, nil)
	require.NoError(t, r.Queued(context.Background(), "bracket"))
	out, err := r.Run(context.Background(), Job{ID: "bracket", Stages: stages, Input: input})
	require.NoError(t, err)
	require.Equal(t, event.StatusSucceeded, out.Status, "%v", out.Err)

	schema := eventSchema(t)
	seen := map[string]bool{}
	var golden strings.Builder
	lastStagePct := map[int]float64{}
	lastJobPct := 0.0
	for i, ev := range rec.events {
		assert.Equal(t, int64(i+1), ev.Seq)
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		require.NoError(t, err)
		assert.NoError(t, schema.Validate(inst), "event %d: %s", ev.Seq, b)
		if ev.JobPercent != nil {
			assert.GreaterOrEqual(t, *ev.JobPercent, lastJobPct, "job_percent went down at seq %d", ev.Seq)
			lastJobPct = *ev.JobPercent
		}
		switch ev.Type {
		case event.TypePhase:
			seen[ev.SourcePhase] = true
			assert.GreaterOrEqual(t, *ev.Percent, lastStagePct[*ev.StageIndex], "stage percent went down at seq %d", ev.Seq)
			lastStagePct[*ev.StageIndex] = *ev.Percent
			fmt.Fprintf(&golden, "%d %s %s %s %s %d/%d %.2f%%\n", *ev.StageIndex, ev.Plugin, ev.SourcePhase, ev.Step, ev.Phase, *ev.Done, *ev.Total, *ev.Percent)
		default:
			fmt.Fprintf(&golden, "%s %s %s\n", ev.Type, ev.Stage, ev.Status)
		}
	}
	last := rec.events[len(rec.events)-1]
	assert.Equal(t, event.TypeJob, last.Type)
	assert.Equal(t, event.StatusSucceeded, last.Status)
	assert.Equal(t, 100.0, *last.JobPercent)
	assert.JSONEq(t, string(out.Result), string(last.Result))

	want := []string{"SOLVER_START", "SOLVER_PROGRESS", "SOLVER_END", "LCS_PLACEMENT_START", "LCS_PLACEMENT_PROGRESS", "LCS_PLACEMENT_END",
		"MATERIAL_RESOLVE_LIBRARY", "MATERIAL_APPLY_START", "MATERIAL_APPLY_PROGRESS", "MATERIAL_APPLY_END", "MATERIAL_OVERRIDE_PROPERTIES",
		"TOPO_HASH_START", "TOPO_HASH_PROGRESS", "TOPO_HASH_END", "EXPORT_VALIDATION"}
	for _, p := range want {
		assert.True(t, seen[p], "phase %s never emitted", p)
	}
	assert.Len(t, seen, len(want))

	// The result carries every stage's work.
	var result map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(out.Result, &result))
	for _, k := range []string{"assembly4", "material", "topology", "parts"} {
		assert.Contains(t, result, k)
	}

	const goldenFile = "testdata/bracket.golden"
	if *update {
		require.NoError(t, os.WriteFile(goldenFile, []byte(golden.String()), 0o644))
	}
	wantGolden, err := os.ReadFile(goldenFile)
	require.NoError(t, err, "run go test ./host/pipeline -run Bracket -update to create it")
	assert.Equal(t, string(wantGolden), golden.String())
}

// A stage that fails ends the job: failed stage event, failed job event naming
// the stage, nothing after.
func TestFailedStageEndsJob(t *testing.T) {
	stages := loadReference(t)
	rec := &recorder{}
	r := NewRunner(rec, nil)
	// A constraint naming a part that does not exist.
	input := []byte(`{"assembly":"x","parts":[{"name":"a","material":"pla","grounded":true,"mesh":{"vertices":[],"triangles":[]}}],"constraints":[{"name":"c","part":"ghost","lcs":"L","parent":"a","parent_lcs":"L"}]}`)
	out, err := r.Run(context.Background(), Job{ID: "bad", Stages: stages, Input: input})
	require.NoError(t, err)
	assert.Equal(t, event.StatusFailed, out.Status)
	require.Error(t, out.Err)
	last := rec.events[len(rec.events)-1]
	assert.Equal(t, event.TypeJob, last.Type)
	assert.Equal(t, event.StatusFailed, last.Status)
	assert.Contains(t, last.Error, "stage 0 (assembly4) failed: assembly4@1.0.0: failed:")
	assert.Contains(t, last.Error, "ghost")
	stageEv := rec.events[len(rec.events)-2]
	assert.Equal(t, event.TypeStage, stageEv.Type)
	assert.Equal(t, event.StatusFailed, stageEv.Status)
	for _, ev := range rec.events {
		assert.NotEqual(t, "material", ev.Stage, "no later stage runs")
	}
}

func TestStageProgress(t *testing.T) {
	stages := loadReference(t)
	m := stages[1].Manifest() // material: resolve_library, override_properties, apply
	sp := newStageProgress(&m)
	byName := map[string]int{}
	for i, p := range m.Phases {
		byName[p.Name] = i
	}
	obs := func(name string, done, total int64) float64 {
		return sp.observe(m.Phases[byName[name]], done, total)
	}
	assert.Equal(t, 16.67, obs("MATERIAL_RESOLVE_LIBRARY", 1, 2))
	assert.Equal(t, 33.33, obs("MATERIAL_RESOLVE_LIBRARY", 2, 2))
	assert.Equal(t, 33.33, obs("MATERIAL_OVERRIDE_PROPERTIES", 0, 0), "indeterminate keeps the percent")
	assert.Equal(t, 66.67, obs("MATERIAL_APPLY_START", 0, 10))
	assert.Equal(t, 83.33, obs("MATERIAL_APPLY_PROGRESS", 5, 10))
	assert.Equal(t, 83.33, obs("MATERIAL_APPLY_PROGRESS", 1, 10), "never goes down")
	assert.Equal(t, 100.0, obs("MATERIAL_APPLY_END", 10, 10))
	assert.Equal(t, 50.0, jobPercent([]float64{1, 3}, []float64{100, 33.333333}))
}

// A run given the outputs of the first stages starts after them, counts them
// in job_percent, and reports each stage it completes; the result is the
// same as a whole run's.
func TestResumeAfterCompletedStages(t *testing.T) {
	stages := loadReference(t)
	input, err := os.ReadFile("../../examples/bracket.json")
	require.NoError(t, err)
	ctx := context.Background()

	var cps []Checkpoint
	whole := &recorder{}
	full, err := NewRunner(whole, nil).Run(ctx, Job{ID: "whole", Stages: stages, Input: input,
		StageDone: func(_ context.Context, c Checkpoint) {
			require.Equal(t, len(cps)+1, c.Stages, "in order")
			cps = append(cps, c)
		}})
	require.NoError(t, err)
	require.Equal(t, event.StatusSucceeded, full.Status)
	require.Len(t, cps, 3)

	rec := &recorder{}
	var done []int
	resumed, err := NewRunner(rec, nil).Run(ctx, Job{ID: "resumed", Stages: stages, Input: input, From: &cps[1],
		Note: "resuming", StageDone: func(_ context.Context, c Checkpoint) { done = append(done, c.Stages) }})
	require.NoError(t, err)
	require.Equal(t, event.StatusSucceeded, resumed.Status)
	assert.JSONEq(t, string(full.Result), string(resumed.Result))
	assert.Equal(t, []int{3}, done)
	first := rec.events[0]
	assert.Equal(t, event.StatusRunning, first.Status)
	assert.Equal(t, "resuming", first.Message)
	w := make([]float64, 3)
	for i, p := range stages {
		m := p.Manifest()
		w[i] = m.EffectiveWeight()
	}
	assert.InDelta(t, 100*(w[0]+w[1])/(w[0]+w[1]+w[2]), *first.JobPercent, 0.01) // rounded to hundredths
	last := -1.0
	for _, ev := range rec.events[1:] {
		if ev.StageIndex != nil {
			assert.Equal(t, 2, *ev.StageIndex, "only the last stage runs")
		}
		if ev.JobPercent != nil {
			assert.GreaterOrEqual(t, *ev.JobPercent, last)
			last = *ev.JobPercent
		}
	}
}
