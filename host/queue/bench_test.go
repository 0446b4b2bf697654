package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/internal/redistest"
)

// BenchmarkHandOff measures what the shared queue adds to a job's start: one
// Push by the accepting node, then Take and Ack by a node whose worker waits
// for it (on a local redis-server). One op is one job through the queue.
func BenchmarkHandOff(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	a := open(b, srv, "a", 30*time.Second)
	w := open(b, srv, "w", 30*time.Second)
	for b.Loop() {
		_, err := a.Push(ctx, task("j"))
		require.NoError(b, err)
		d, err := w.Take(ctx)
		require.NoError(b, err)
		require.NoError(b, d.Ack(ctx))
	}
}
