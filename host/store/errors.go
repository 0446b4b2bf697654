package store

import "errors"

var (
	// ErrNotFound: no job with that id (never created, or expired).
	ErrNotFound = errors.New("job not found")
	// ErrExists: Create was given an id already in use.
	ErrExists = errors.New("job already exists")
	// ErrTerminal: the job has finished; its state and history are final.
	ErrTerminal = errors.New("job already finished")
	// ErrResultTooLarge: a final event's result is larger than Options.MaxResultBytes.
	ErrResultTooLarge = errors.New("job result too large")
	// ErrSlowSubscriber: the subscription was dropped because its buffer was full.
	ErrSlowSubscriber = errors.New("subscriber too slow: buffer full, dropped")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store closed")
	// ErrFenced: the event comes from a run of the job that another worker
	// has taken over (Store.Fence); the run that published it must stop.
	ErrFenced = errors.New("job taken over by another run")
	// ErrInvalidEvent: the event cannot be applied (no job id, unknown type, bad stage index).
	ErrInvalidEvent = errors.New("invalid event")
)
