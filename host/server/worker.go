package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/metrics"
	"github.com/phasehost/phasehost/host/pipeline"
	"github.com/phasehost/phasehost/host/store"
)

// countingPublisher publishes into the store and counts events. An event the
// store refuses for a transient reason (Redis unreachable or restarting) is
// retried with backoff for up to retry, so that a job outlives a short
// outage of a shared store instead of failing on its first lost event.
type countingPublisher struct {
	s     store.Store
	m     *metrics.Metrics
	retry time.Duration // <= 0: no retry
	log   *slog.Logger

	mu      sync.Mutex
	stopped map[string]bool // jobs whose run here publishes no more (handed over)
}

// stopJob makes every later event of job id from this node refused, as a
// fenced run's would be (store.ErrFenced), without asking the store.
func (p *countingPublisher) stopJob(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped == nil {
		p.stopped = map[string]bool{}
	}
	p.stopped[id] = true
}

// forgetJob undoes stopJob once the job's run here has returned.
func (p *countingPublisher) forgetJob(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.stopped, id)
}

func (p *countingPublisher) isStopped(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped[id]
}

const (
	publishFirstBackoff = 50 * time.Millisecond
	publishMaxBackoff   = time.Second
)

func (p *countingPublisher) Publish(ctx context.Context, ev event.Event) (event.Event, error) {
	if p.isStopped(ev.JobID) {
		return event.Event{}, fmt.Errorf("%w: %s was handed over to another node", store.ErrFenced, ev.JobID)
	}
	if ev.Time.IsZero() {
		// Fixed before the first attempt: a retry can then recognise the
		// event in the history when an attempt landed but its reply was lost.
		ev.Time = time.Now().UTC()
	}
	out, err := p.s.Publish(ctx, ev)
	if err != nil && p.retry > 0 && transient(ctx, err) {
		out, err = p.retryPublish(ctx, ev, err)
	}
	if err == nil {
		p.m.EventPublished(out.Type)
	}
	return out, err
}

// transient reports whether a failed Publish may succeed if tried again: not
// a refusal by the store's rules, not a closed store, not a done context.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	for _, permanent := range []error{store.ErrNotFound, store.ErrExists, store.ErrTerminal,
		store.ErrResultTooLarge, store.ErrInvalidEvent, store.ErrClosed, store.ErrFenced, context.Canceled} {
		if errors.Is(err, permanent) {
			return false
		}
	}
	return true
}

// retryPublish retries ev after the transient failure first, until it is
// published, refused for good, ctx is done or p.retry has passed. Before each
// attempt it looks for ev among the job's last events: an attempt whose reply
// was lost may have been applied, and publishing it again would repeat it.
func (p *countingPublisher) retryPublish(ctx context.Context, ev event.Event, first error) (event.Event, error) {
	log := p.log.With(slog.String("job", ev.JobID), slog.String("type", ev.Type))
	log.Warn("event not published; retrying", slog.Duration("for", p.retry), errAttr(first))
	start := time.Now()
	deadline := start.Add(p.retry)
	backoff := publishFirstBackoff
	err := first
	for attempt := 2; ; attempt++ {
		wait := min(backoff, time.Until(deadline))
		if wait <= 0 {
			return event.Event{}, fmt.Errorf("gave up publishing after %d attempts in %s: %w", attempt-1, p.retry, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return event.Event{}, fmt.Errorf("%w (retrying after: %w)", ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, publishMaxBackoff)
		prev, landed, lerr := p.landed(ctx, ev)
		if lerr != nil {
			if !transient(ctx, lerr) {
				return event.Event{}, lerr
			}
			err = lerr
			continue
		}
		if landed {
			log.Info("event found published by an earlier attempt", slog.Int64("seq", prev.Seq), slog.Int("attempts", attempt-1))
			return prev, nil
		}
		var out event.Event
		out, err = p.s.Publish(ctx, ev)
		if err == nil {
			log.Info("event published after retrying", slog.Int64("seq", out.Seq), slog.Int("attempts", attempt),
				slog.Duration("after", time.Since(start)))
			return out, nil
		}
		if !transient(ctx, err) {
			return event.Event{}, err
		}
	}
}

// landedWindow is how many of a job's last events are searched for an event
// whose publishing reply was lost. Only the job's worker publishes while it
// runs, so its event, if applied, is the last one or close to it.
const landedWindow = 4

// landed looks for ev among the job's last events.
func (p *countingPublisher) landed(ctx context.Context, ev event.Event) (event.Event, bool, error) {
	j, err := p.s.Get(ctx, ev.JobID)
	if err != nil {
		return event.Event{}, false, err
	}
	if j.Seq == 0 {
		return event.Event{}, false, nil
	}
	hist, err := p.s.History(ctx, ev.JobID, max(j.Seq-landedWindow, 0))
	if err != nil {
		return event.Event{}, false, err
	}
	for _, h := range hist {
		if sameEvent(h, ev) {
			return h, true, nil
		}
	}
	return event.Event{}, false, nil
}

// sameEvent reports whether stored (numbered) is ev: same time (to the
// nanosecond), type, status, stage, phase and progress.
func sameEvent(stored, ev event.Event) bool {
	eqInt := func(a, b *int) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	eqInt64 := func(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	return stored.Time.Equal(ev.Time) && stored.Type == ev.Type && stored.Status == ev.Status &&
		eqInt(stored.StageIndex, ev.StageIndex) && stored.SourcePhase == ev.SourcePhase &&
		eqInt64(stored.Done, ev.Done) && stored.Message == ev.Message && stored.Error == ev.Error
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
		s.run(j, pipeline.Job{})
		j.release()
		s.sm.JobsRunning(-1)
		s.forget(j.id)
	}
}

// run runs one job and makes sure it ends in a terminal state. how gives the
// run's Fence, Note, From and StageDone (pipeline.Job); zero for a job that
// runs where it was accepted. It reports whether the job has ended: false
// when another run took it over (store.ErrFenced).
func (s *Server) run(j *activeJob, how pipeline.Job) bool {
	log := s.log.With(slog.String("job", j.id))
	stopWatch := s.watchRemoteEnd(j)
	defer stopWatch()
	fence := how.Fence
	how.ID, how.Stages, how.Input, how.Cancel = j.id, j.stages, j.input, j.cancel
	out, err := s.runner.Run(s.runCtx, how)
	switch {
	case err == nil:
		s.sm.JobFinished(out.Status)
		if out.Err != nil {
			log.Info("job ended", slog.String("status", out.Status), errAttr(out.Err))
		} else {
			log.Info("job ended", slog.String("status", out.Status))
		}
		return true
	case errors.Is(err, store.ErrTerminal):
		// Cancelled (or otherwise finished) behind the runner's back: final already.
		log.Info("job finished elsewhere", errAttr(err))
		return true
	case errors.Is(err, store.ErrFenced):
		log.Warn("job taken over by another run; this one stopped", errAttr(err))
		return false
	}
	// An event could not be published: record the failure as the job's end.
	log.Error("job event not published", errAttr(err))
	msg := fmt.Sprintf("internal error: %v", err)
	if errors.Is(err, store.ErrResultTooLarge) {
		msg = fmt.Sprintf("result refused: %v", err)
	}
	ctx := context.WithoutCancel(s.runCtx)
	if s.runCtx.Err() != nil { // shutdown's last resort: do not hold it up
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
	}
	_, perr := s.pub.Publish(ctx, event.Event{JobID: j.id, Type: event.TypeJob,
		Status: event.StatusFailed, Error: msg, Fence: fence})
	switch {
	case errors.Is(perr, store.ErrFenced):
		log.Warn("job taken over by another run; this one stopped", errAttr(perr))
		return false
	case perr != nil && !errors.Is(perr, store.ErrTerminal):
		// With a shared queue, the job comes back after its lease.
		log.Error("job left unfinished: failure not published", errAttr(perr))
		return false
	}
	s.sm.JobFinished(event.StatusFailed)
	return true
}

// remoteEndPoll is how often a running job's state is read back from the
// store, to notice that it was ended elsewhere.
const remoteEndPoll = time.Second

// watchRemoteEnd cancels j's run when its job has been ended behind the
// worker's back: with a shared store, DELETE /v1/jobs/:id on another node
// publishes the cancelled event itself. The guest would otherwise learn it
// only from its next emit (refused), and a silent one never. It returns the
// function that stops the watch.
func (s *Server) watchRemoteEnd(j *activeJob) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(remoteEndPoll)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(s.runCtx, remoteEndPoll)
			st, err := s.store.Get(ctx, j.id)
			cancel()
			if err == nil && event.Terminal(st.Status) {
				s.log.Info("job ended elsewhere; stopping its run", slog.String("job", j.id), slog.String("status", st.Status))
				j.requestCancel()
				return
			}
		}
	}()
	return func() { close(done) }
}
