// Package server is Phasehost's HTTP API (/v1, see DESIGN.md §HTTP API): job
// submission, state, cancellation, SSE event streams, plugin listing, health
// and metrics, with a pool of workers running jobs through pipeline.Runner
// into a store.Store.
//
// # Concurrency contract
//
//   - Handlers run on net/http's goroutines and share only the Server, whose
//     mutable state is the table of active jobs (guarded by one mutex, held
//     only for map operations) and atomic flags.
//   - A job is run by exactly one worker goroutine. The number of workers is
//     fixed (Config.Workers); waiting jobs sit in a bounded queue
//     (Config.QueueSize) and a submission that finds it full is refused with
//     503 before anything is stored.
//   - Every event goes through the Store, which assigns seq atomically; the
//     server never numbers events itself. Cancelling a queued job publishes its
//     cancelled event directly; cancelling a running job closes its Cancel
//     channel, and the runner publishes the outcome. The store's terminal guard
//     makes the race between the two harmless.
//   - An SSE stream subscribes before reading history and skips live events
//     it has already sent, so it has neither gap nor duplicate; it never
//     blocks a publisher (the store drops a subscriber that falls behind, and
//     the stream then ends so the client resumes with Last-Event-ID).
//   - Shutdown stops accepting jobs, cancels queued ones, ends SSE streams,
//     lets running jobs finish until its context is done and then cancels them.
package server
