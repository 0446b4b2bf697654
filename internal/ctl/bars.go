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

func newProgressBars(w io.Writer, stages []*plugin.Plugin) *progressBars {
	pb := &progressBars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40)), info: make([]string, len(stages))}
	width := 0
	for _, s := range stages {
		width = max(width, len(s.Ref()))
	}
	for i, s := range stages {
		i := i
		bar := pb.p.AddBar(10000,
			mpb.PrependDecorators(decor.Name(s.Ref(), decor.WC{W: width + 1, C: decor.DindentRight})),
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
