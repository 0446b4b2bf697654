package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/store"
	"github.com/phasehost/phasehost/internal/redistest"
)

// prefixes makes every store in a test binary use its own keys.
var prefixes atomic.Int64

// openRedis returns a Redis store on srv with a fresh key prefix; the test
// closes it.
func openRedis(t testing.TB, srv *redistest.Server, opts store.RedisOptions) *store.Redis {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = fmt.Sprintf("test%d", prefixes.Add(1))
	}
	s, err := store.OpenRedis(context.Background(), srv.URL(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestRedis(t *testing.T) {
	srv := redistest.Start(t)
	testStore(t, func(t *testing.T, opts store.Options) store.Store {
		return openRedis(t, srv, store.RedisOptions{Options: opts})
	})
}
