package store

import "context"

// Test-only views of the Redis key layout.

// JobKey is the job's hash key, also its channel name.
func (r *Redis) JobKey(id string) string { return r.jobKey(id) }

// EventsKey is the job's stream key.
func (r *Redis) EventsKey(id string) string { return r.eventsKey(id) }

// Deafen drops the shared subscription's probe channel, as a subscription
// that silently went deaf would.
func (r *Redis) Deafen(ctx context.Context) error { return r.hub.ps.Unsubscribe(ctx, r.probeChannel()) }

// FixPubID makes every Publish carry id, as go-redis resending one call would.
func (r *Redis) FixPubID(id string) { r.fixedPubID = id }

// ProbeChannel is the node's readiness probe channel.
func (r *Redis) ProbeChannel() string { return r.probeChannel() }
