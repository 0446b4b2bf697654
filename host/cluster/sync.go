package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
)

// state is what a node knows of the cluster's shared state; guarded by
// Cluster.applyMu.
type state struct {
	// floor is the seq of the last resync's snapshot: every announcement up
	// to it is reflected in what the node applied, and is ignored.
	floor int64
	// last is, since that resync, the seq of the last announcement applied
	// per subject: a plugin by "name@version", a pin by "name" (names have
	// no "@"). An older announcement of the same subject is ignored.
	last map[string]int64
	// loaded is name@version -> sha256 of each module this node has from the
	// cluster (loaded from it, or uploaded here and published). Only those
	// are removed by a resync that finds them unpublished.
	loaded map[string]string
	// refused is name@version -> sha256 of a module that could not be loaded
	// for a lasting reason (logged once; not tried again by a resync).
	refused map[string]string
	// pins is the cluster's pins as the node knows them: name -> version.
	pins map[string]string
	// pending is name -> version of the pins whose version is not loaded
	// here (warned once); they are applied when it arrives.
	pending map[string]string
}

func newState() state {
	return state{last: map[string]int64{}, loaded: map[string]string{}, refused: map[string]string{},
		pins: map[string]string{}, pending: map[string]string{}}
}

// newer reports whether seq is newer than what the node applied for subject,
// and if so records it.
func (s *state) newer(subject string, seq int64) bool {
	if seq <= s.floor || seq <= s.last[subject] {
		return false
	}
	s.last[subject] = seq
	return true
}

// fresh is newer for an announcement: an unnumbered one (seq 0: published
// by hand, or by a node of an older version) is always applied.
func (s *state) fresh(subject string, seq int64) bool {
	return seq == 0 || s.newer(subject, seq)
}

// noteHeard raises heard to the seq of an announcement received on the
// control channel. It runs on the connection's reader: quick, no blocking.
func (c *Cluster) noteHeard(payload string) {
	var a struct {
		Seq int64 `json:"seq"`
	}
	if json.Unmarshal([]byte(payload), &a) == nil {
		c.raiseHeard(a.Seq)
	}
}

func (c *Cluster) raiseHeard(seq int64) {
	for {
		h := c.heard.Load()
		if seq <= h || c.heard.CompareAndSwap(h, seq) {
			return
		}
	}
}

// requestResync asks the control loop for a resync soon.
func (c *Cluster) requestResync() {
	select {
	case c.resyncReq <- struct{}{}:
	default: // one is asked for already
	}
}

// checkMissed runs after each heartbeat with the number of the last
// announcement, pub. An announcement published before the previous
// heartbeat and still not heard was lost (announcements arrive within
// milliseconds; a heartbeat interval is much longer): a resync catches up.
// A number lower than one heard means Redis lost its data: a resync sorts
// that out too.
func (c *Cluster) checkMissed(pub int64) {
	prev := c.lastPub
	c.lastPub = pub
	heard := c.heard.Load()
	if (pub >= heard && heard >= prev) || !c.catchingUp.CompareAndSwap(false, true) {
		return // nothing missed, or a resync asked for is still to end
	}
	if pub < heard {
		c.log.Warn("cluster: the announcement counter went back; resyncing",
			slog.Int64("heard", heard), slog.Int64("published", pub), slog.String("key", c.seqKey()))
	} else {
		c.log.Warn("cluster: control announcements missed; resyncing",
			slog.Int64("heard", heard), slog.Int64("published", prev))
	}
	c.requestResync()
}

// runResync is resync from the control loop, logging a failure.
func (c *Cluster) runResync(ctx context.Context) {
	if err := c.resync(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn("cluster: resync failed; trying again later", slog.String("error", err.Error()))
	}
}

// resync brings the node in line with the cluster's state in Redis: it loads
// every published plugin it does not have (or has as another module),
// removes those it had from the cluster that are published no more, and
// applies the pins. It reads three keys in one transaction, so when nothing
// changed it costs one round trip and no load.
func (c *Cluster) resync(ctx context.Context) error {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	defer c.catchingUp.Store(false)
	heard := c.heard.Load() // before the snapshot: the snapshot covers it
	var plugins, pins *redis.MapStringStringCmd
	var seqCmd *redis.StringCmd
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		plugins = p.HGetAll(ctx, c.pluginsKey())
		pins = p.HGetAll(ctx, c.pinsKey())
		seqCmd = p.Get(ctx, c.seqKey())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	if err := errors.Join(plugins.Err(), pins.Err()); err != nil {
		return err
	}
	seq, err := seqOf(seqCmd)
	if err != nil {
		return err
	}
	if seq < heard {
		// The counter went back: Redis lost the cluster's state. What this
		// node had from it stays, as its own: removing every uploaded plugin
		// from every node because Redis restarted empty would be worse.
		c.log.Warn("cluster: the cluster's state in Redis is older than what this node heard (Redis restarted without its data?): "+
			"the plugins and pins this node had from the cluster stay on it, unshared; upload and pin them again to share them",
			slog.Int64("heard", heard), slog.Int64("published", seq),
			slog.Int("plugins", len(c.st.loaded)), slog.Int("pins", len(c.st.pins)))
		c.st = newState()
		c.heard.Store(seq)
	}

	published := plugins.Val()
	refs := make([]string, 0, len(published))
	for ref := range published {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		name, version, ok := strings.Cut(ref, "@")
		if !ok {
			c.log.Error("cluster: bad published plugin", slog.String("field", ref))
			continue
		}
		c.addLocked(ctx, name, version, published[ref], true)
	}
	for ref, sha := range c.st.loaded {
		if _, ok := published[ref]; ok {
			continue
		}
		name, version, _ := strings.Cut(ref, "@")
		c.log.Info("cluster: plugin unpublished while this node was not listening", slog.String("plugin", ref))
		c.removeLocked(name, version, sha) // deletes c.st.loaded[ref]
	}

	stored := pins.Val()
	for name, version := range stored {
		c.pinLocked(name, version)
	}
	for name := range c.st.pins {
		if _, ok := stored[name]; !ok {
			c.unpinLocked(name)
		}
	}

	c.st.floor = seq
	clear(c.st.last) // every seq applied is at most seq
	c.raiseHeard(seq)
	return nil
}

// pinLocked makes name@version the cluster's pin of name and applies it.
// applyMu is held.
func (c *Cluster) pinLocked(name, version string) {
	c.st.pins[name] = version
	c.applyPinLocked(name)
}

// applyPinLocked pins name to the cluster's version. When that version is
// not loaded here, the node logs it once and resolves the bare name as if
// unpinned (its highest version) until the version arrives
// (pinArrivedLocked). applyMu is held.
func (c *Cluster) applyPinLocked(name string) {
	version, ok := c.st.pins[name]
	if !ok {
		return
	}
	if v, pinned := c.o.Registry.Active(name); pinned && v == version {
		delete(c.st.pending, name)
		return
	}
	if err := c.o.Registry.Pin(name, version); err != nil {
		c.o.Registry.Unpin(name) // an older pin is not the cluster's either
		if c.st.pending[name] != version {
			active, _ := c.o.Registry.Active(name)
			c.log.Warn("cluster: pinned version not loaded on this node: the bare name resolves to its highest version here until that version arrives",
				slog.String("plugin", name), slog.String("pinned", version), slog.String("active", active),
				slog.String("error", err.Error()))
		}
		c.st.pending[name] = version
		return
	}
	was := c.st.pending[name] == version
	delete(c.st.pending, name)
	attrs := []any{slog.String("plugin", name+"@"+version)}
	if was {
		c.log.Info("cluster: pinned version arrived; plugin version pinned", attrs...)
		return
	}
	c.log.Info("cluster: plugin version pinned", attrs...)
}

// pinArrivedLocked applies the cluster's pin of name once name@version is
// loaded, if that is the pinned version. applyMu is held.
func (c *Cluster) pinArrivedLocked(name, version string) {
	if c.st.pins[name] == version {
		c.applyPinLocked(name)
	}
}

// unpinLocked removes the cluster's pin of name and unpins it here. applyMu
// is held.
func (c *Cluster) unpinLocked(name string) {
	delete(c.st.pins, name)
	delete(c.st.pending, name)
	if c.o.Registry.Unpin(name) {
		active, _ := c.o.Registry.Active(name)
		c.log.Info("cluster: plugin version unpinned", slog.String("plugin", name), slog.String("active", active))
	}
}
