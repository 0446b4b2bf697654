package loadgen

import (
	"context"
	"log/slog"
	"time"

	"github.com/phasehost/phasehost/host/registry"
	"github.com/phasehost/phasehost/host/server"
	"github.com/phasehost/phasehost/host/store"
)

// ServerTokens returns the job-token function of a node started with
// --secret secret: server.(*Server).Token itself, on an idle server value
// keyed with secret (no listener, no jobs), so the tool never re-derives
// the token scheme.
func ServerTokens(secret []byte) (func(id string) string, error) {
	st := store.NewMemory(store.Options{})
	srv, err := server.New(server.Config{
		Store: st, Registry: registry.New(), Secret: secret, Workers: 1, QueueSize: 1,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	// Token only reads the secret: the workers can stop now.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	_ = st.Close()
	return srv.Token, nil
}
