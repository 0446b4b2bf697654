package ctl

import (
	"fmt"
	"io"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/plugin"
)

// progressBars shows one bar per stage, in hundredths of a percent.
type progressBars struct {
	p    *mpb.Progress
	bars []*mpb.Bar
	mu   sync.Mutex
	info []string // current source phase and message per stage
}

// newProgressBars draws one bar per label (a stage, in pipeline order); both
// run (local stages) and watch (a remote job's stages) drive it with events.
func newProgressBars(w io.Writer, labels []string) *progressBars {
	// Env.StderrIsTerminal decides whether there are bars: draw them even
	// when w is not detected as a terminal (a pty wrapper, tests).
	pb := &progressBars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithAutoRefresh()), info: make([]string, len(labels))}
	width := 0
	for _, l := range labels {
		width = max(width, len(l))
	}
	for i, l := range labels {
		i := i
		bar := pb.p.AddBar(10000,
			mpb.PrependDecorators(decor.Name(l, decor.WC{W: width + 1, C: decor.DindentRight})),
			mpb.AppendDecorators(
				decor.Percentage(decor.WC{W: 5}),
				decor.Any(func(decor.Statistics) string {
					pb.mu.Lock()
					defer pb.mu.Unlock()
					return " " + pb.info[i]
				}),
			),
		)
		pb.bars = append(pb.bars, bar)
	}
	return pb
}

// stageRefs labels local stages name@version.
func stageRefs(stages []*plugin.Plugin) []string {
	out := make([]string, len(stages))
	for i, s := range stages {
		out[i] = s.Ref()
	}
	return out
}

func (pb *progressBars) update(ev event.Event) {
	if pb == nil || ev.StageIndex == nil || *ev.StageIndex >= len(pb.bars) {
		return
	}
	i := *ev.StageIndex
	bar := pb.bars[i]
	pb.mu.Lock()
	switch {
	case ev.Type == event.TypePhase:
		msg := ev.Message
		if len(msg) > 48 {
			msg = msg[:45] + "..."
		}
		pb.info[i] = fmt.Sprintf("%s %s", ev.SourcePhase, msg)
	case ev.Type == event.TypeStage && ev.Status != event.StatusRunning:
		pb.info[i] = ev.Status
	}
	pb.mu.Unlock()
	if ev.Percent != nil {
		cur := int64(*ev.Percent * 100)
		if ev.Type == event.TypePhase {
			cur = min(cur, 9999) // the bar completes with the stage, not its last phase
		}
		bar.SetCurrent(cur)
	}
	if ev.Type == event.TypeStage && (ev.Status == event.StatusFailed || ev.Status == event.StatusCancelled) {
		bar.Abort(false)
	}
}

// finish completes or aborts what is left and waits for the last render.
func (pb *progressBars) finish() {
	if pb == nil {
		return
	}
	for _, b := range pb.bars {
		if !b.Completed() {
			b.Abort(false)
		}
	}
	pb.p.Wait()
}
