package queue

import "context"

// StopRenewing stops the lease renewals, as a node that stalls (or whose
// process is frozen) would.
func (q *Queue) StopRenewing() {
	q.stop()
	q.loops.Wait()
}

// RenewNow renews the held leases once, as the renewal loop does.
func (q *Queue) RenewNow(ctx context.Context) { q.renew(ctx) }
