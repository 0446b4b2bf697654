package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/phasehost/phasehost/host/event"
)

var _ Store = (*Memory)(nil)

// Memory is the in-process Store: one node, nothing to install.
//
// Locking: mu guards the map of jobs only; each job has its own mutex, which
// Publish, History, Subscribe and Get take, so jobs never wait for each other
// beyond a map lookup. The lock order is Memory.mu before memJob.mu.
type Memory struct {
	opts Options

	mu     sync.RWMutex
	jobs   map[string]*memJob
	closed bool

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

type memJob struct {
	mu       sync.Mutex
	state    Job
	history  []event.Event // history[i].Seq == i+1
	subs     map[*memSub]struct{}
	finished time.Time // zero while running
	fence    int64     // the latest run's fencing token (Fence)
	gone     bool      // expired or store closed
}

// NewMemory returns a memory Store and starts its expiry sweeper; Close stops it.
func NewMemory(opts Options) *Memory {
	m := &Memory{
		opts: opts.WithDefaults(),
		jobs: map[string]*memJob{},
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go m.sweeper()
	return m
}

// Create implements Store.
func (m *Memory) Create(_ context.Context, nj NewJob) (Job, error) {
	if nj.ID == "" {
		return Job{}, fmt.Errorf("%w: empty job id", ErrInvalidEvent)
	}
	now := m.opts.Clock().UTC()
	j := &memJob{
		state: Job{
			ID: nj.ID, Status: event.StatusQueued,
			Pipeline: append([]string(nil), nj.Pipeline...),
			Stages:   make([]StageState, len(nj.Stages)),
			Created:  now, Updated: now,
		},
		subs: map[*memSub]struct{}{},
	}
	for i, s := range nj.Stages {
		j.state.Stages[i] = StageState{Stage: s.Stage, Plugin: s.Plugin, Version: s.Version, Status: event.StatusQueued}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Job{}, ErrClosed
	}
	if _, ok := m.jobs[nj.ID]; ok {
		return Job{}, fmt.Errorf("%w: %s", ErrExists, nj.ID)
	}
	m.jobs[nj.ID] = j
	return j.state.Clone(), nil
}

// job returns the job with its lock held, or ErrNotFound / ErrClosed.
func (m *Memory) job(id string) (*memJob, error) {
	m.mu.RLock()
	j, ok := m.jobs[id]
	closed := m.closed
	m.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	j.mu.Lock()
	if j.gone || m.expired(j, m.opts.Clock()) {
		j.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return j, nil
}

func (m *Memory) expired(j *memJob, now time.Time) bool {
	return m.opts.TTL > 0 && !j.finished.IsZero() && now.Sub(j.finished) >= m.opts.TTL
}

// Publish implements Store.
func (m *Memory) Publish(_ context.Context, ev event.Event) (event.Event, error) {
	if err := check(ev, m.opts.MaxResultBytes); err != nil {
		return event.Event{}, err
	}
	j, err := m.job(ev.JobID)
	if err != nil {
		return event.Event{}, err
	}
	defer j.mu.Unlock()
	if event.Terminal(j.state.Status) {
		return event.Event{}, fmt.Errorf("%w: %s is %s", ErrTerminal, ev.JobID, j.state.Status)
	}
	if ev.Fence > 0 && ev.Fence < j.fence {
		return event.Event{}, fmt.Errorf("%w: %s: run %d, the job's latest is %d", ErrFenced, ev.JobID, ev.Fence, j.fence)
	}
	ev.Fence = 0
	ev.Seq = j.state.Seq + 1
	if ev.Time.IsZero() {
		ev.Time = m.opts.Clock().UTC()
	}
	if ev.Result != nil {
		ev.Result = append(json.RawMessage(nil), ev.Result...)
	}
	next := j.state.Clone()
	if err := next.Apply(ev); err != nil {
		return event.Event{}, err
	}
	j.state = next
	j.history = append(j.history, ev)
	final := IsFinal(ev)
	for s := range j.subs {
		select {
		case s.ch <- ev:
			if final {
				s.closeLocked(nil)
			}
		default:
			s.closeLocked(ErrSlowSubscriber)
		}
	}
	if final {
		j.finished = m.opts.Clock()
	}
	return ev, nil
}

// Fence implements Store.
func (m *Memory) Fence(_ context.Context, id string) (int64, Job, error) {
	j, err := m.job(id)
	if err != nil {
		return 0, Job{}, err
	}
	defer j.mu.Unlock()
	j.fence++
	return j.fence, j.state.Clone(), nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, id string) (Job, error) {
	j, err := m.job(id)
	if err != nil {
		return Job{}, err
	}
	defer j.mu.Unlock()
	return j.state.Clone(), nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, limit int) ([]Job, error) {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return nil, ErrClosed
	}
	all := make([]*memJob, 0, len(m.jobs))
	for _, j := range m.jobs {
		all = append(all, j)
	}
	m.mu.RUnlock()
	now := m.opts.Clock()
	out := make([]Job, 0, len(all))
	for _, j := range all {
		j.mu.Lock()
		if !j.gone && !m.expired(j, now) {
			out = append(out, j.state.Clone())
		}
		j.mu.Unlock()
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Created.Equal(out[b].Created) {
			return out[a].Created.After(out[b].Created)
		}
		return out[a].ID > out[b].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// History implements Store.
func (m *Memory) History(_ context.Context, id string, sinceSeq int64) ([]event.Event, error) {
	j, err := m.job(id)
	if err != nil {
		return nil, err
	}
	defer j.mu.Unlock()
	if sinceSeq < 0 {
		sinceSeq = 0
	}
	if sinceSeq >= int64(len(j.history)) {
		return []event.Event{}, nil
	}
	return append([]event.Event(nil), j.history[sinceSeq:]...), nil
}

// Subscribe implements Store.
func (m *Memory) Subscribe(_ context.Context, id string) (Subscription, error) {
	j, err := m.job(id)
	if err != nil {
		return nil, err
	}
	defer j.mu.Unlock()
	s := &memSub{job: j, ch: make(chan event.Event, m.opts.SubscriberBuffer)}
	if event.Terminal(j.state.Status) {
		s.closed = true
		close(s.ch)
		return s, nil
	}
	j.subs[s] = struct{}{}
	return s, nil
}

// Close implements Store: the sweeper stops and every subscription is closed
// with ErrClosed.
func (m *Memory) Close() error {
	m.stopOnce.Do(func() { close(m.stop) })
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for id, j := range m.jobs {
		j.mu.Lock()
		j.gone = true
		for s := range j.subs {
			s.closeLocked(ErrClosed)
		}
		j.mu.Unlock()
		delete(m.jobs, id)
	}
	return nil
}

func (m *Memory) sweeper() {
	defer close(m.done)
	if m.opts.TTL < 0 {
		<-m.stop
		return
	}
	every := min(max(m.opts.TTL/4, 10*time.Millisecond), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

// sweep removes the jobs whose TTL has passed.
func (m *Memory) sweep() {
	now := m.opts.Clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, j := range m.jobs {
		j.mu.Lock()
		if m.expired(j, now) {
			j.gone = true
			for s := range j.subs {
				s.closeLocked(ErrNotFound)
			}
			delete(m.jobs, id)
		}
		j.mu.Unlock()
	}
}

// memSub is a subscription; its fields are guarded by job.mu.
type memSub struct {
	job    *memJob
	ch     chan event.Event
	closed bool
	err    error
}

func (s *memSub) C() <-chan event.Event { return s.ch }

func (s *memSub) Err() error {
	s.job.mu.Lock()
	defer s.job.mu.Unlock()
	return s.err
}

func (s *memSub) Close() {
	s.job.mu.Lock()
	defer s.job.mu.Unlock()
	s.closeLocked(nil)
}

// closeLocked closes the subscription; job.mu must be held.
func (s *memSub) closeLocked(err error) {
	if s.closed {
		return
	}
	s.closed = true
	s.err = err
	delete(s.job.subs, s)
	close(s.ch)
}
