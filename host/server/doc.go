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
//   - With a shared store (Redis), any node serves any job: tokens are HMACs
//     of the shared secret; a DELETE on a node that does not run the job
//     publishes its cancelled event there, and the running node, which reads
//     its job's state back every second, stops the guest.
//   - An event the store cannot take for a transient reason (Redis down) is
//     retried with backoff for Config.PublishRetry before the job fails;
//     before each retry the job's last events are searched for it, so an
//     attempt that landed with its reply lost is not published twice.
//   - /readyz asks a store implementing Ready(ctx) error (the Redis store:
//     Redis reachable and its shared subscription not deaf), at most once per
//     Config.ReadyCache, and answers 503 not_ready when it fails.
//   - Shutdown stops accepting jobs, cancels queued ones, ends SSE streams,
//     lets running jobs finish until its context is done and then cancels them.
package server
