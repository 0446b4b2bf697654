package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/metrics"
	"github.com/phasehost/phasehost/host/pipeline"
	"github.com/phasehost/phasehost/host/store"
)

// countingPublisher publishes into the store and counts events.
type countingPublisher struct {
	s store.Store
	m *metrics.Metrics
}

func (p *countingPublisher) Publish(ctx context.Context, ev event.Event) (event.Event, error) {
	out, err := p.s.Publish(ctx, ev)
	if err == nil {
		p.m.EventPublished(out.Type)
	}
	return out, err
}

// worker runs queued jobs until the queue is closed and drained.
func (s *Server) worker() {
	defer s.workers.Done()
	for j := range s.queue {
		<-s.slots
		s.sm.QueueDepth(-1)
		j.mu.Lock()
		if j.state != event.StatusQueued { // cancelled while waiting
			j.mu.Unlock()
			continue
		}
		j.state = event.StatusRunning
		j.mu.Unlock()
		s.sm.JobsRunning(1)
		s.run(j)
		s.sm.JobsRunning(-1)
		s.forget(j.id)
	}
}

// run runs one job and makes sure it ends in a terminal state.
func (s *Server) run(j *activeJob) {
	log := s.log.With(slog.String("job", j.id))
	out, err := s.runner.Run(s.runCtx, pipeline.Job{ID: j.id, Stages: j.stages, Input: j.input, Cancel: j.cancel})
	switch {
	case err == nil:
		s.sm.JobFinished(out.Status)
		if out.Err != nil {
			log.Info("job ended", slog.String("status", out.Status), errAttr(out.Err))
		} else {
			log.Info("job ended", slog.String("status", out.Status))
		}
		return
	case errors.Is(err, store.ErrTerminal):
		// Cancelled (or otherwise finished) behind the runner's back: final already.
		log.Info("job finished elsewhere", errAttr(err))
		return
	}
	// An event could not be published: record the failure as the job's end.
	log.Error("job event not published", errAttr(err))
	msg := fmt.Sprintf("internal error: %v", err)
	if errors.Is(err, store.ErrResultTooLarge) {
		msg = fmt.Sprintf("result refused: %v", err)
	}
	_, perr := s.pub.Publish(context.WithoutCancel(s.runCtx), event.Event{JobID: j.id, Type: event.TypeJob,
		Status: event.StatusFailed, Error: msg})
	if perr != nil && !errors.Is(perr, store.ErrTerminal) {
		log.Error("job left unfinished: failure not published", errAttr(perr))
		return
	}
	s.sm.JobFinished(event.StatusFailed)
}
