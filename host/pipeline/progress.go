package pipeline

import (
	"math"

	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/sdk/go/abi"
)

// stageProgress turns a stage's emits into its percent. The manifest's steps,
// in the order of their first phase, split the stage into equal parts; within a
// step, START is 0, PROGRESS is done/total (indeterminate when total is 0) and
// END is 1. The percent never goes down.
type stageProgress struct {
	steps   map[string]int
	nSteps  int
	percent float64
}

func newStageProgress(m *manifest.Manifest) *stageProgress {
	steps := m.Steps()
	sp := &stageProgress{steps: make(map[string]int, len(steps)), nSteps: len(steps)}
	for i, s := range steps {
		sp.steps[s] = i
	}
	return sp
}

// observe updates the percent with one emit and returns it.
func (sp *stageProgress) observe(p manifest.Phase, done, total int64) float64 {
	k, ok := sp.steps[p.Step]
	if !ok || sp.nSteps == 0 {
		return sp.percent
	}
	f := -1.0
	switch p.MapsTo {
	case abi.PhaseStart:
		f = 0
	case abi.PhaseEnd:
		f = 1
	case abi.PhaseProgress:
		if total > 0 {
			f = math.Min(float64(done)/float64(total), 1)
		}
	}
	if f >= 0 {
		sp.percent = math.Max(sp.percent, round2((float64(k)+f)/float64(sp.nSteps)*100))
	}
	return sp.percent
}

// jobPercent weighs stage percents by the stages' weights.
func jobPercent(weights, percents []float64) float64 {
	var sum, w float64
	for i := range weights {
		sum += weights[i] * percents[i]
		w += weights[i]
	}
	if w == 0 {
		return 0
	}
	return round2(sum / w)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
