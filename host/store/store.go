package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/phasehost/phasehost/host/event"
)

// Store keeps job state and events. See the package documentation for the
// contract every implementation honours; conformance_test.go checks it.
type Store interface {
	// Create records a new job with status queued and seq 0. The id must be
	// unused (ErrExists).
	Create(ctx context.Context, job NewJob) (Job, error)
	// Publish assigns ev the job's next seq, appends it to the history,
	// applies it to the state and delivers it to subscribers, atomically. It
	// returns the event as stored (with Seq set). ev.JobID names the job
	// (ErrNotFound); a finished job refuses with ErrTerminal; a result over
	// the cap with ErrResultTooLarge.
	Publish(ctx context.Context, ev event.Event) (event.Event, error)
	// Get returns the state of a job.
	Get(ctx context.Context, id string) (Job, error)
	// List returns up to limit jobs, newest first (limit <= 0: all).
	List(ctx context.Context, limit int) ([]Job, error)
	// History returns the job's events with seq > sinceSeq, in order.
	History(ctx context.Context, id string, sinceSeq int64) ([]event.Event, error)
	// Fence takes job id for a new run by a worker and returns the run's
	// fencing token with the job's state. Tokens grow by one with each call,
	// from 1. From then on an event whose Fence is positive and lower than the
	// job's latest token is refused with ErrFenced: a worker that lost the job
	// to another (its node stalled past its lease) can change nothing more.
	// Events with Fence 0 (submission, cancel requests) are not checked.
	// A job that has finished still answers, with its final state.
	Fence(ctx context.Context, id string) (int64, Job, error)
	// Subscribe returns a subscription to the job's live events from now on.
	// For a finished job the subscription is already closed (Err nil).
	Subscribe(ctx context.Context, id string) (Subscription, error)
	// Close releases the store; subscriptions are closed.
	Close() error
}

// Subscription delivers a job's live events in seq order.
type Subscription interface {
	// C delivers the events. It is closed after the job's terminal event, when
	// the subscriber was too slow, when the job expired or the store closed,
	// or after Close.
	C() <-chan event.Event
	// Err tells why C was closed: nil after the terminal event or Close,
	// ErrSlowSubscriber, ErrNotFound (expired) or ErrClosed.
	Err() error
	// Close ends the subscription. It is idempotent.
	Close()
}

// Options configures a Store. The zero value of each field means its default.
type Options struct {
	// TTL is how long a finished job is kept. Zero: DefaultTTL; negative: forever.
	TTL time.Duration
	// MaxResultBytes caps a job's result. Zero: DefaultMaxResultBytes.
	MaxResultBytes int
	// SubscriberBuffer is how many events a subscriber may lag behind before
	// it is dropped. Zero: DefaultSubscriberBuffer.
	SubscriberBuffer int
	// Clock returns the current time (expiry, created/updated). Nil: time.Now.
	Clock func() time.Time
}

// Defaults for Options.
const (
	DefaultTTL              = 24 * time.Hour
	DefaultMaxResultBytes   = 16 << 20
	DefaultSubscriberBuffer = 256
)

// WithDefaults returns o with zero fields set to their defaults.
func (o Options) WithDefaults() Options {
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxResultBytes <= 0 {
		o.MaxResultBytes = DefaultMaxResultBytes
	}
	if o.SubscriberBuffer <= 0 {
		o.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// NewJob is what Create needs.
type NewJob struct {
	ID string
	// Pipeline is the entries as submitted ("material@^1").
	Pipeline []string
	// Stages are the resolved stages, one per entry: Stage, Plugin, Version.
	Stages []StageState
}

// Job is the state of a job (schemas/job.schema.json).
type Job struct {
	ID         string          `json:"id"`
	Status     string          `json:"status"`
	Pipeline   []string        `json:"pipeline"`
	Stages     []StageState    `json:"stages"`
	Seq        int64           `json:"seq"`
	JobPercent float64         `json:"job_percent"`
	Created    time.Time       `json:"created"`
	Updated    time.Time       `json:"updated"`
	Error      string          `json:"error,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
}

// StageState is the state of one stage of a job.
type StageState struct {
	Stage       string  `json:"stage"`
	Plugin      string  `json:"plugin,omitempty"`
	Version     string  `json:"version,omitempty"`
	Status      string  `json:"status"`
	Percent     float64 `json:"percent"`
	SourcePhase string  `json:"source_phase,omitempty"`
	Step        string  `json:"step,omitempty"`
	Message     string  `json:"message,omitempty"`
	Error       string  `json:"error,omitempty"`
}

// Clone returns a deep copy of j.
func (j Job) Clone() Job {
	j.Pipeline = append([]string(nil), j.Pipeline...)
	j.Stages = append([]StageState(nil), j.Stages...)
	if j.Result != nil {
		j.Result = append(json.RawMessage(nil), j.Result...)
	}
	return j
}

// Apply folds ev (already numbered) into j. Implementations call it under the
// job's lock (or its Lua equivalent); it checks nothing about seq.
func (j *Job) Apply(ev event.Event) error {
	j.Seq = ev.Seq
	j.Updated = ev.Time
	if ev.JobPercent != nil {
		j.JobPercent = *ev.JobPercent
	}
	switch ev.Type {
	case event.TypeJob:
		if ev.Status != "" {
			j.Status = ev.Status
		}
		if ev.Error != "" {
			j.Error = ev.Error
		}
		if ev.Result != nil {
			j.Result = append(json.RawMessage(nil), ev.Result...)
		}
	case event.TypeStage, event.TypePhase:
		if ev.StageIndex == nil || *ev.StageIndex < 0 || *ev.StageIndex >= len(j.Stages) {
			return fmt.Errorf("%w: %s event of job %s: stage_index out of range", ErrInvalidEvent, ev.Type, j.ID)
		}
		st := &j.Stages[*ev.StageIndex]
		if ev.Stage != "" {
			st.Stage = ev.Stage
		}
		if ev.Plugin != "" {
			st.Plugin, st.Version = ev.Plugin, ev.Version
		}
		if ev.Percent != nil {
			st.Percent = *ev.Percent
		}
		if ev.Type == event.TypeStage {
			st.Status = ev.Status
			st.Error = ev.Error
		} else {
			st.SourcePhase, st.Step, st.Message = ev.SourcePhase, ev.Step, ev.Message
		}
	default:
		return fmt.Errorf("%w: unknown type %q", ErrInvalidEvent, ev.Type)
	}
	return nil
}

// check validates an event before it is numbered; shared by implementations.
func check(ev event.Event, maxResult int) error {
	if ev.JobID == "" {
		return fmt.Errorf("%w: no job_id", ErrInvalidEvent)
	}
	if len(ev.Result) > maxResult {
		return fmt.Errorf("%w: %d bytes, the cap is %d", ErrResultTooLarge, len(ev.Result), maxResult)
	}
	return nil
}

// IsFinal reports whether ev ends its job.
func IsFinal(ev event.Event) bool {
	return ev.Type == event.TypeJob && event.Terminal(ev.Status)
}

// Catchup subscribes to job id and then reads its history after sinceSeq, so
// that history followed by the live events whose seq is greater than the last
// one in history has neither gap nor duplicate. The caller must Close the
// subscription.
func Catchup(ctx context.Context, s Store, id string, sinceSeq int64) (Subscription, []event.Event, error) {
	sub, err := s.Subscribe(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	hist, err := s.History(ctx, id, sinceSeq)
	if err != nil {
		sub.Close()
		return nil, nil, err
	}
	return sub, hist, nil
}
