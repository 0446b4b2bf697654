// Package event defines the job event: every change of a job is one, numbered
// per job by seq from 1, strictly increasing, without gaps. The JSON form is
// schemas/event.schema.json.
package event

import (
	"encoding/json"
	"time"
)

// Types of events.
const (
	TypeJob   = "job"
	TypeStage = "stage"
	TypePhase = "phase"
)

// Statuses of jobs and stages.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Terminal reports whether status is final.
func Terminal(status string) bool {
	return status == StatusSucceeded || status == StatusFailed || status == StatusCancelled
}

// Event is one change of a job. Fields that do not apply to a type are left
// zero (pointers nil) and omitted from JSON.
type Event struct {
	JobID       string          `json:"job_id"`
	Seq         int64           `json:"seq"`
	Time        time.Time       `json:"time"`
	Type        string          `json:"type"`
	Status      string          `json:"status,omitempty"`
	Stage       string          `json:"stage,omitempty"`
	StageIndex  *int            `json:"stage_index,omitempty"`
	Plugin      string          `json:"plugin,omitempty"`
	Version     string          `json:"version,omitempty"`
	SourcePhase string          `json:"source_phase,omitempty"`
	Step        string          `json:"step,omitempty"`
	Phase       string          `json:"phase,omitempty"`
	Done        *int64          `json:"done,omitempty"`
	Total       *int64          `json:"total,omitempty"`
	Percent     *float64        `json:"percent,omitempty"`
	JobPercent  *float64        `json:"job_percent,omitempty"`
	Message     string          `json:"message,omitempty"`
	Error       string          `json:"error,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`

	// Fence is not part of the event: it is the fencing token of the run
	// that publishes it (store.Store.Fence), checked by the store and never
	// stored or sent. 0: not from a worker's run (submission, cancel).
	Fence int64 `json:"-"`
}

// Int returns a pointer to v, for the optional fields.
func Int(v int) *int { return &v }

// Int64 returns a pointer to v.
func Int64(v int64) *int64 { return &v }

// Float returns a pointer to v.
func Float(v float64) *float64 { return &v }
