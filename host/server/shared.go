package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/pipeline"
	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/host/queue"
	"github.com/phasehost/phasehost/host/store"
)

// Jobs across nodes (Config.Queue, with --redis): a node that accepts a job
// stores it and pushes it on the shared queue, a Redis Stream; any node's
// free worker takes it (host/queue). The taking node runs the exact modules
// the job was accepted with (name, version and sha256), fencing the job in
// the store first (store.Store.Fence): if its node dies or stalls past its
// lease, another node takes the job over and resumes it after the last stage
// checkpointed (queue.SaveCheckpoint), and the stalled run, should it come
// back, can publish nothing more. The job ends once: the store refuses every
// event after its final one.

// DefaultMaxAttempts is Config.MaxAttempts' default.
const DefaultMaxAttempts = 3

// enqueue stores j and pushes it on the shared queue. The accepting node does
// not keep j's plugins: whichever node takes the job holds them then.
func (s *Server) enqueue(ctx context.Context, j *activeJob, nj store.NewJob) error {
	defer j.release()
	q := s.cfg.Queue
	// The client learns what failed; the log, why (addresses stay inside).
	unavailable := func(what string, err error) error {
		s.log.Warn("job not accepted", slog.String("job", j.id), slog.String("step", what), errAttr(err))
		return fmt.Errorf("%w: %s; try again later", ErrUnavailable, what)
	}
	waiting, err := q.Waiting(ctx)
	if err != nil {
		return unavailable("the shared job queue cannot be reached", err)
	}
	if waiting >= int64(s.cfg.QueueSize) {
		return fmt.Errorf("%w: %d jobs waiting in the cluster", ErrQueueFull, waiting)
	}
	t := queue.Task{JobID: j.id, Input: j.input}
	for _, p := range j.stages {
		t.Stages = append(t.Stages, queue.Stage{Name: p.Name(), Version: p.Version(), SHA256: p.SHA256()})
	}
	if _, err := s.store.Create(ctx, nj); err != nil {
		return unavailable("creating the job", err)
	}
	if err := s.runner.Queued(ctx, j.id); err != nil {
		return unavailable("publishing its queued event", err)
	}
	if _, err := q.Push(ctx, t); err != nil {
		// Stored and queued but on no queue: end it, or it waits forever.
		_, perr := s.pub.Publish(context.WithoutCancel(ctx), event.Event{JobID: j.id, Type: event.TypeJob,
			Status: event.StatusFailed, JobPercent: event.Float(0), Error: fmt.Sprintf("not queued: %v", err)})
		return unavailable("queueing the job", errors.Join(err, perr))
	}
	return nil
}

// sharedWorker takes jobs from the shared queue, one at a time, until the
// server shuts down.
func (s *Server) sharedWorker() {
	defer s.workers.Done()
	for {
		d, err := s.cfg.Queue.Take(s.takeCtx)
		if err != nil {
			return // shutting down
		}
		s.runDelivery(d)
	}
}

// runDelivery runs a job taken from the shared queue and acknowledges it
// once the job has ended, here or before.
func (s *Server) runDelivery(d *queue.Delivery) {
	log := s.log.With(slog.String("job", d.JobID), slog.String("entry", d.ID))
	ctx := s.runCtx
	var fence int64 // the run's fencing token, once taken
	ack := func() {
		if err := d.Ack(context.WithoutCancel(ctx)); err != nil {
			// The entry comes back after its lease; the job, ended, is
			// then acknowledged by whoever takes it.
			log.Warn("job not acknowledged", errAttr(err))
		}
	}
	giveBack := func() {
		if err := d.Release(context.WithoutCancel(ctx)); err != nil {
			log.Warn("job not given back; it returns after its lease", errAttr(err))
		}
	}
	// endHere fails the job as this run (it cannot run here) and
	// acknowledges it, or gives it back when the failure could not be
	// recorded: it must not be lost unfinished.
	endHere := func(msg string) {
		if s.failTaken(ctx, d.JobID, fence, msg) {
			ack()
		} else {
			giveBack()
		}
	}
	if d.Err != nil {
		log.Error("queue entry dropped", errAttr(d.Err))
		ack()
		return
	}
	fence, st, err := s.store.Fence(ctx, d.JobID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.Warn("queued job no longer exists (expired); dropped")
		s.sm.SharedJob("dropped")
		ack()
		return
	case err != nil:
		log.Error("cannot take job: store unavailable; giving it back", errAttr(err))
		giveBack()
		return
	case event.Terminal(st.Status):
		// Cancelled while queued, or ended by a node that died before it
		// acknowledged.
		log.Info("queued job had already ended", slog.String("status", st.Status))
		s.sm.SharedJob("dropped")
		ack()
		return
	}
	if fence > int64(s.cfg.MaxAttempts) {
		endHere(fmt.Sprintf("gave up after %d attempts: each node that took the job stopped before it ended (crashed, stalled past its lease, or shut down)", fence-1))
		return
	}
	j, err := s.bind(ctx, d.Task)
	if err != nil {
		endHere(err.Error())
		return
	}
	j.state, j.delivery = event.StatusRunning, d
	s.mu.Lock()
	s.active[j.id] = j
	s.mu.Unlock()
	s.sm.JobsRunning(1)
	defer func() {
		j.release()
		s.sm.JobsRunning(-1)
		s.forget(j.id)
		s.pub.forgetJob(j.id)
	}()
	lostWatch := make(chan struct{})
	defer close(lostWatch)
	go func() {
		select {
		case <-d.Lost():
			log.Warn("lease lost: another node took the job over; stopping this run")
			j.requestCancel()
		case <-lostWatch:
		}
	}()
	run := pipeline.Job{Fence: fence, StageDone: func(ctx context.Context, c pipeline.Checkpoint) {
		if c.Stages == len(j.stages) {
			return // the result: published with the final event, next (no large write for nothing)
		}
		if err := s.cfg.Queue.SaveCheckpoint(ctx, j.id, c.Stages, c.Output); err != nil {
			log.Warn("checkpoint not saved: a node taking the job over would start it again", errAttr(err))
		}
	}}
	how := "new"
	if fence > 1 {
		how = "taken_over"
		run.Note = fmt.Sprintf("attempt %d, on node %s: the job's previous node stopped (crashed, stalled past its lease, or shut down)", fence, s.cluster.ID())
		if c := s.checkpoint(ctx, j); c != nil {
			run.From = c
			run.Note += fmt.Sprintf("; resuming after its stage %d, whose output was kept", c.Stages-1)
		}
		log.Warn("running a job taken over from another node", slog.Int64("attempt", fence))
	}
	s.sm.SharedJob(how)
	if s.run(j, run) {
		ack()
	}
}

// checkpoint is where an earlier run of j got to (queue.Checkpoint), or nil:
// none, unreadable, or not within j's stages.
func (s *Server) checkpoint(ctx context.Context, j *activeJob) *pipeline.Checkpoint {
	n, out, err := s.cfg.Queue.Checkpoint(ctx, j.id)
	if err != nil {
		s.log.Warn("checkpoint not read: the job starts again from its first stage", slog.String("job", j.id), errAttr(err))
		return nil
	}
	if n <= 0 || n > len(j.stages) {
		return nil
	}
	return &pipeline.Checkpoint{Stages: n, Output: out}
}

// handOver gives a running job back to the shared queue as this node shuts
// down past its grace: its run here publishes nothing more (refused locally,
// as if fenced), its lease is released so another node takes it at once, and
// the guest is stopped. The other node resumes the job after its last
// checkpoint.
func (s *Server) handOver(j *activeJob) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	log := s.log.With(slog.String("job", j.id))
	s.pub.stopJob(j.id) // before the release: no event of this run after it
	if err := j.delivery.Release(ctx); err != nil {
		log.Warn("job handed over; another node takes it after its lease", errAttr(err))
	} else {
		log.Info("job handed over to another node")
	}
	s.sm.SharedJob("handed_over")
	j.requestCancel()
}

// bind acquires the exact modules of t's stages: from this node's registry,
// else (a version removed since the job was accepted, or never loaded here)
// the module the cluster keeps by sha256, loaded for this job alone.
func (s *Server) bind(ctx context.Context, t queue.Task) (*activeJob, error) {
	j := &activeJob{id: t.JobID, input: t.Input, cancel: make(chan struct{}), state: event.StatusQueued}
	for i, st := range t.Stages {
		p, err := s.reg.Acquire(st.Name + "@" + st.Version)
		if err == nil && st.SHA256 != "" && p.SHA256() != st.SHA256 {
			p.Release()
			err = fmt.Errorf("its %s is module sha256 %s, the job was accepted with %s", p.Ref(), p.SHA256(), st.SHA256)
		}
		if err != nil {
			var ferr error
			p, ferr = s.fetchModule(ctx, st)
			if ferr != nil {
				j.release()
				return nil, fmt.Errorf("node %s cannot run stage %d: %w (%w)", s.cluster.ID(), i, err, ferr)
			}
		}
		j.stages = append(j.stages, p)
	}
	return j, nil
}

// fetchModule loads the module of st that the cluster keeps, for one job:
// it is closed when the job releases it.
func (s *Server) fetchModule(ctx context.Context, st queue.Stage) (*plugin.Plugin, error) {
	if !s.cluster.Shared() || st.SHA256 == "" {
		return nil, errors.New("no copy in the cluster")
	}
	p, err := s.cluster.LoadModule(ctx, st.Name, st.Version, st.SHA256)
	if err != nil {
		return nil, err
	}
	if !p.Acquire() {
		_ = p.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("%s closed as it was loaded", p.Ref())
	}
	p.Retire() // closed once the job releases it
	s.log.Info("module loaded from the cluster for one job", slog.String("plugin", p.Ref()), slog.String("sha256", st.SHA256))
	return p, nil
}

// failTaken ends a taken job that cannot run here, as its run would. It
// reports whether the job has ended (here or elsewhere).
func (s *Server) failTaken(ctx context.Context, id string, fence int64, msg string) bool {
	_, err := s.pub.Publish(context.WithoutCancel(ctx), event.Event{JobID: id, Type: event.TypeJob,
		Status: event.StatusFailed, Error: msg, Fence: fence})
	switch {
	case errors.Is(err, store.ErrTerminal):
		return true
	case errors.Is(err, store.ErrFenced):
		return false // another node has it now
	case err != nil:
		s.log.Error("failure of a job that cannot run here not published; giving it back", slog.String("job", id), errAttr(err))
		return false
	}
	s.sm.JobFinished(event.StatusFailed)
	s.log.Warn("job failed before it ran", slog.String("job", id), slog.String("reason", msg))
	return true
}
