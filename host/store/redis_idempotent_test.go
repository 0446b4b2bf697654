package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/store"
	"github.com/phasehost/phasehost/internal/redistest"
)

// A Publish call that reaches Redis twice (go-redis retrying after a lost
// reply) is numbered and stored once.
func TestRedisPublishIsIdempotent(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv, store.RedisOptions{})
	ctx := context.Background()
	newJob(t, s, "j")

	s.FixPubID("call-1")
	first, err := s.Publish(ctx, phaseEv("j", "once"))
	require.NoError(t, err)
	again, err := s.Publish(ctx, phaseEv("j", "once"))
	require.NoError(t, err)
	assert.Equal(t, first.Seq, again.Seq, "the repeat gets the first call's seq")

	s.FixPubID("call-2")
	next, err := s.Publish(ctx, phaseEv("j", "next"))
	require.NoError(t, err)
	assert.Equal(t, first.Seq+1, next.Seq)

	hist, err := s.History(ctx, "j", 0)
	require.NoError(t, err)
	var msgs []string
	for _, ev := range hist {
		msgs = append(msgs, ev.Message)
	}
	assert.Equal(t, []string{"once", "next"}, msgs[len(msgs)-2:])
	assert.Len(t, hist, int(next.Seq))
	j, err := s.Get(ctx, "j")
	require.NoError(t, err)
	assert.Equal(t, next.Seq, j.Seq)
}
