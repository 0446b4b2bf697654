// Package pipeline runs a job: its stages in order, each stage's output the
// next one's input, every change published as an event.
//
// The mapping from a plugin's declared phases to the unified model happens
// here and only here: an accepted emit carries its manifest phase (resolved by
// id, never by name), which gives source_phase, step and the unified phase;
// percent and job_percent follow from done/total, the manifest's steps and the
// stages' weights.
//
// Run is called by one goroutine per job; the Publisher must be safe for the
// jobs it serves.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/plugin"
)

// Publisher records an event of a job: it assigns seq (from 1, no gaps) and
// makes it visible to watchers. The event it returns carries the seq.
type Publisher interface {
	Publish(ctx context.Context, ev event.Event) (event.Event, error)
}

// Job is one run of a pipeline.
type Job struct {
	ID     string
	Stages []*plugin.Plugin
	Input  json.RawMessage
	// Cancel, when closed, cancels the job: the running stage's guest is told,
	// and stopped after the policy's grace period.
	Cancel <-chan struct{}
	// Fence is the run's fencing token (store.Store.Fence), carried by every
	// event it publishes; 0 when the job cannot be taken over.
	Fence int64
	// Note, when set, is the message of the "job running" event (e.g. that
	// this run took the job over from a node that died).
	Note string
	// From, when set, is where an earlier run of the job got to: the run
	// starts after From's stages, with its output as input, and counts them
	// as done in job_percent. (Stages are deterministic: a stage's output for
	// an input is the same in every run.)
	From *Checkpoint
	// StageDone, when set, is called after each stage's succeeded event
	// with the checkpoint it makes, so that a later run can start there.
	StageDone func(ctx context.Context, c Checkpoint)
}

// Checkpoint is a job's progress: its first Stages stages have completed,
// the last with Output.
type Checkpoint struct {
	Stages int
	Output []byte
}

// Outcome is how a job ended.
type Outcome struct {
	Status string // succeeded, failed or cancelled
	Result json.RawMessage
	Err    error // the failure, for failed and cancelled jobs
}

// Clock returns the time of events; tests may fix it.
type Clock func() time.Time

// Runner runs jobs.
type Runner struct {
	pub   Publisher
	clock Clock
}

// NewRunner returns a Runner publishing to pub. A nil clock means time.Now.
func NewRunner(pub Publisher, clock Clock) *Runner {
	if clock == nil {
		clock = time.Now
	}
	return &Runner{pub: pub, clock: clock}
}

// Queued publishes the job's first event, status queued.
func (r *Runner) Queued(ctx context.Context, jobID string) error {
	_, err := r.pub.Publish(ctx, event.Event{JobID: jobID, Time: r.clock().UTC(), Type: event.TypeJob, Status: event.StatusQueued, JobPercent: event.Float(0)})
	return err
}

// Run runs job to its end and publishes every event from "job running" to the
// final job event. The returned error is only for events that could not be
// published; how the job ended is in the Outcome.
func (r *Runner) Run(ctx context.Context, job Job) (Outcome, error) {
	js := &jobState{r: r, job: job}
	for _, p := range job.Stages {
		m := p.Manifest()
		js.weights = append(js.weights, m.EffectiveWeight())
	}
	js.percents = make([]float64, len(job.Stages))
	start, input := 0, job.Input
	if c := job.From; c != nil && c.Stages > 0 {
		start, input = min(c.Stages, len(job.Stages)), c.Output
	}
	for i := range start {
		js.percents[i] = 100
	}
	if err := js.publish(ctx, event.Event{Type: event.TypeJob, Status: event.StatusRunning,
		JobPercent: event.Float(jobPercent(js.weights, js.percents)), Message: job.Note}); err != nil {
		return Outcome{}, err
	}
	for i := start; i < len(job.Stages); i++ {
		p := job.Stages[i]
		out, runErr, pubErr := js.stage(ctx, i, p, input)
		if pubErr != nil {
			return Outcome{}, pubErr
		}
		if runErr != nil {
			status := event.StatusFailed
			if errors.Is(runErr, plugin.ErrCancelled) {
				status = event.StatusCancelled
			}
			msg := fmt.Sprintf("stage %d (%s) %s: %v", i, p.Manifest().Stage, status, runErr)
			o := Outcome{Status: status, Err: runErr}
			return o, js.publish(ctx, event.Event{Type: event.TypeJob, Status: status, JobPercent: event.Float(jobPercent(js.weights, js.percents)), Error: msg})
		}
		if job.StageDone != nil {
			job.StageDone(ctx, Checkpoint{Stages: i + 1, Output: out})
		}
		input = out
	}
	o := Outcome{Status: event.StatusSucceeded, Result: input}
	return o, js.publish(ctx, event.Event{Type: event.TypeJob, Status: event.StatusSucceeded, JobPercent: event.Float(100), Result: input})
}

// jobState is the bookkeeping of one Run.
type jobState struct {
	r        *Runner
	job      Job
	weights  []float64
	percents []float64
}

func (js *jobState) publish(ctx context.Context, ev event.Event) error {
	ev.JobID, ev.Fence = js.job.ID, js.job.Fence
	ev.Time = js.r.clock().UTC()
	_, err := js.r.pub.Publish(ctx, ev)
	if err != nil {
		return fmt.Errorf("publishing %s event of job %s: %w", ev.Type, js.job.ID, err)
	}
	return nil
}

// stage runs stage i. runErr is the plugin's failure; pubErr an event that
// could not be published (the stage is then stopped).
func (js *jobState) stage(ctx context.Context, i int, p *plugin.Plugin, input []byte) (out []byte, runErr, pubErr error) {
	m := p.Manifest()
	base := event.Event{Stage: m.Stage, StageIndex: event.Int(i), Plugin: m.Name, Version: m.Version}
	withBase := func(ev event.Event) event.Event {
		ev.Stage, ev.StageIndex, ev.Plugin, ev.Version = base.Stage, base.StageIndex, base.Plugin, base.Version
		return ev
	}
	stageEvent := func(status string, percent float64, errText string) error {
		js.percents[i] = percent
		return js.publish(ctx, withBase(event.Event{Type: event.TypeStage, Status: status, Percent: event.Float(percent),
			JobPercent: event.Float(jobPercent(js.weights, js.percents)), Error: errText}))
	}
	if err := stageEvent(event.StatusRunning, 0, ""); err != nil {
		return nil, nil, err
	}

	// A failed publish stops the guest: its events would be lost otherwise.
	cancel := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(cancel) }) }
	if js.job.Cancel != nil {
		go func() {
			select {
			case <-js.job.Cancel:
				stop()
			case <-cancel:
			}
		}()
	}
	defer stop()

	prog := newStageProgress(&m)
	var pubErr2 error
	res, err := p.Run(ctx, plugin.RunRequest{
		JobID:  js.job.ID,
		Input:  input,
		Cancel: cancel,
		OnEmit: func(e plugin.Emit) {
			if pubErr2 != nil {
				return
			}
			pct := prog.observe(*e.Phase, e.Done, e.Total)
			js.percents[i] = pct
			pubErr2 = js.publish(ctx, withBase(event.Event{
				Type: event.TypePhase, SourcePhase: e.Phase.Name, Step: e.Phase.Step, Phase: e.Phase.MapsTo,
				Done: event.Int64(e.Done), Total: event.Int64(e.Total), Percent: event.Float(pct),
				JobPercent: event.Float(jobPercent(js.weights, js.percents)), Message: string(e.Message),
			}))
			if pubErr2 != nil {
				stop()
			}
		},
	})
	if pubErr2 != nil {
		return nil, nil, pubErr2
	}
	if err != nil {
		status := event.StatusFailed
		if errors.Is(err, plugin.ErrCancelled) {
			status = event.StatusCancelled
		}
		if perr := stageEvent(status, js.percents[i], err.Error()); perr != nil {
			return nil, nil, perr
		}
		return nil, err, nil
	}
	return res.Output, nil, stageEvent(event.StatusSucceeded, 100, "")
}
