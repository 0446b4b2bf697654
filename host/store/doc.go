// Package store keeps job state and job events: the one place where an event
// gets its seq.
//
// # Contract
//
// A Store holds, per job, a state (Job) and the ordered history of its events.
// Publish is the only writer after Create: in one atomic step it assigns the
// next seq (per job, from 1, no gaps), appends the event to the history, folds
// it into the state and hands it to the job's live subscribers. Once a job's
// status is terminal (succeeded, failed, cancelled) Publish refuses with
// ErrTerminal, so a late or stale update can never overwrite a final state.
//
// # Concurrency
//
// Every method is safe for concurrent use. Publishes to one job are
// serialised; publishes to different jobs do not wait for each other (the
// memory implementation locks per job, the Redis one will run one Lua script
// per event). Publish never blocks on a subscriber: each subscription has a
// bounded buffer, and a subscriber whose buffer is full is dropped — its
// channel is closed and Err reports ErrSlowSubscriber. It resumes from the
// last seq it saw with History, losing nothing.
//
// Live events and history meet without gap or duplicate when the consumer
// subscribes first and reads history second, skipping live events whose seq
// it has already seen; Catchup does exactly that.
//
// Finished jobs (and their history) are removed after Options.TTL.
package store
