// Package cluster shares uploaded plugins between the nodes of one Redis and
// keeps a list of the live nodes (DESIGN.md §Engines: "redis: any number of
// nodes share jobs, events and plugins").
//
// Key layout (PREFIX is Options.Prefix, "phasehost" by default; the braces
// are Redis Cluster hash tags, as in the store's job keys):
//
//	PREFIX:module:{SHA256}  string: a module's bytes, by the hex sha256 of those bytes (SET NX, never rewritten)
//	PREFIX:plugins          hash: name@version -> hex sha256 of the published module
//	PREFIX:control          pub/sub channel: announcements {"op":"add"|"remove","name","version","sha256","node"}
//	PREFIX:node:{ID}        string: a node's heartbeat (Node as JSON), expiring after Options.HeartbeatTTL
//	PREFIX:nodes            sorted set: node IDs scored by when their heartbeat expires (ms), for listing
//
// Only plugins uploaded through the API are published. Plugins a node loads
// from its own --plugins directory stay local to it: each node's directory is
// its own operator's business, and two nodes' directories may disagree.
//
// Each node subscribes to the control channel on the store's shared pub/sub
// connection (Options.Listener; store.Redis provides it), so a node holds one
// Redis pub/sub connection for job channels and control alike; without a
// Listener the cluster opens a connection of its own. Announcements are
// applied one at a time, in the order Redis delivered them.
// A node loads everything in PREFIX:plugins when it starts (after it has
// subscribed, so no announcement falls between the two).
package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/host/registry"
)

// Defaults of Options.
const (
	DefaultPrefix            = "phasehost"
	DefaultHeartbeatInterval = time.Second
	DefaultHeartbeatTTL      = 5 * time.Second
)

// Announcement ops on the control channel.
const (
	OpAdd    = "add"
	OpRemove = "remove"
)

// Options configures a Cluster. Registry and Engine are required for a shared
// cluster (they load what other nodes publish).
type Options struct {
	Prefix   string // "": DefaultPrefix; the store's --redis-prefix
	NodeID   string // "": 16 random hex digits
	Addr     string // the node's listen address, as shown by GET /v1/nodes
	Version  string // the node's build version
	Engine   *plugin.Engine
	Registry *registry.Registry
	Logger   *slog.Logger // nil: slog.Default()
	// Listener, when set, carries the control channel on the store's shared
	// pub/sub connection (store.Redis implements it), so a node holds one
	// Redis pub/sub connection in all; nil: the cluster opens its own.
	Listener Listener
	// HeartbeatInterval is how often the node's heartbeat is refreshed;
	// HeartbeatTTL how long it lives unrefreshed. Zero: the defaults.
	HeartbeatInterval time.Duration
	HeartbeatTTL      time.Duration
}

// Listener subscribes a channel on an existing pub/sub connection and calls
// fn with each payload; fn must not block.
type Listener interface {
	Listen(ctx context.Context, channel string, fn func(payload string)) (stop func(), err error)
}

// controlBuffer is how many announcements may wait while one is applied.
const controlBuffer = 1024

func (o Options) withDefaults() (Options, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.NodeID == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return o, fmt.Errorf("cluster: node id: %w", err)
		}
		o.NodeID = hex.EncodeToString(b[:])
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.HeartbeatTTL <= 0 {
		o.HeartbeatTTL = DefaultHeartbeatTTL
	}
	if o.HeartbeatTTL < o.HeartbeatInterval {
		return o, fmt.Errorf("cluster: heartbeat TTL %s is shorter than its interval %s", o.HeartbeatTTL, o.HeartbeatInterval)
	}
	return o, nil
}

// Node is one node's heartbeat, an entry of GET /v1/nodes.
type Node struct {
	ID          string    `json:"id"`
	Addr        string    `json:"addr"`
	Started     time.Time `json:"started"`
	Updated     time.Time `json:"updated"` // the heartbeat's time
	Version     string    `json:"version"`
	Plugins     int       `json:"plugins"`      // plugin versions loaded
	RunningJobs int       `json:"running_jobs"` // jobs a worker of this node runs
	Self        bool      `json:"self"`         // the node answering
}

// Announcement is a message on the control channel.
type Announcement struct {
	Op      string `json:"op"`
	Name    string `json:"name"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	Node    string `json:"node"` // the node that published it
}

// Cluster is one node's membership: shared (on a Redis) or alone.
// Its methods are safe for concurrent use.
type Cluster struct {
	rdb     redis.UniversalClient // nil: this node alone
	ownRDB  bool
	o       Options
	log     *slog.Logger
	started time.Time
	running atomic.Pointer[func() int]

	applyMu sync.Mutex // announcements (and the initial load) one at a time

	mu       sync.Mutex
	stop     context.CancelFunc
	loops    sync.WaitGroup
	pubsub   *redis.PubSub // own control connection, when no Listener
	unlisten func()        // the Listener's stop
	closed   bool
	startErr error
}

// Local is the Cluster of a node alone (the memory engine): Nodes lists it,
// and nothing is published.
func Local(opts Options) *Cluster {
	o, err := opts.withDefaults()
	if err != nil { // only a bad heartbeat, which a lone node does not use
		o.HeartbeatTTL = o.HeartbeatInterval
	}
	return &Cluster{o: o, log: o.Logger, started: time.Now()}
}

// Open connects to the Redis at url and returns a Cluster that owns the
// client (Close closes it).
func Open(ctx context.Context, url string, opts Options) (*Cluster, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	rdb := redis.NewClient(ro)
	c, err := New(ctx, rdb, opts)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	c.ownRDB = true
	return c, nil
}

// New returns a Cluster on rdb, which it does not close.
func New(ctx context.Context, rdb redis.UniversalClient, opts Options) (*Cluster, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.Engine == nil || o.Registry == nil {
		return nil, errors.New("cluster: Engine and Registry are required")
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return &Cluster{rdb: rdb, o: o, log: o.Logger.With(slog.String("node", o.NodeID)), started: time.Now()}, nil
}

// ID is this node's id.
func (c *Cluster) ID() string { return c.o.NodeID }

// Shared reports whether the node shares plugins through Redis.
func (c *Cluster) Shared() bool { return c.rdb != nil }

// SetRunning sets how the heartbeat counts the node's running jobs.
func (c *Cluster) SetRunning(f func() int) { c.running.Store(&f) }

func (c *Cluster) moduleKey(sha string) string { return c.o.Prefix + ":module:{" + sha + "}" }
func (c *Cluster) pluginsKey() string          { return c.o.Prefix + ":plugins" }
func (c *Cluster) controlChannel() string      { return c.o.Prefix + ":control" }
func (c *Cluster) nodeKey(id string) string    { return c.o.Prefix + ":node:{" + id + "}" }
func (c *Cluster) nodesKey() string            { return c.o.Prefix + ":nodes" }

// Start subscribes to the control channel, loads every published plugin,
// writes the first heartbeat and keeps both going until ctx is done or Close.
// Ending ctx stops the node's heartbeat without removing it (as a crash
// would: it disappears from the list after its TTL); Close removes it. A lone
// node's Start does nothing.
func (c *Cluster) Start(ctx context.Context) error {
	if c.rdb == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.stop != nil {
		return errors.New("cluster: already started or closed")
	}
	lctx, stop := context.WithCancel(ctx)
	// Announcements wait in msgs while the initial load runs.
	msgs := make(chan string, controlBuffer)
	if c.o.Listener != nil {
		unlisten, err := c.o.Listener.Listen(ctx, c.controlChannel(), func(payload string) {
			select { // never block the shared connection's reader
			case msgs <- payload:
			default:
				c.log.Error("cluster: announcement dropped: too many waiting", slog.Int("waiting", controlBuffer))
			}
		})
		if err != nil {
			stop()
			return fmt.Errorf("cluster: subscribe %s: %w", c.controlChannel(), err)
		}
		c.stop, c.unlisten = stop, unlisten
	} else {
		ps := c.rdb.Subscribe(lctx, c.controlChannel())
		if _, err := ps.Receive(ctx); err != nil { // the subscription's confirmation
			stop()
			_ = ps.Close()
			return fmt.Errorf("cluster: subscribe %s: %w", c.controlChannel(), err)
		}
		c.stop, c.pubsub = stop, ps
		c.loops.Add(1)
		go func() {
			defer c.loops.Done()
			for m := range ps.Channel() {
				select {
				case msgs <- m.Payload:
				case <-lctx.Done():
					return
				}
			}
		}()
	}
	if err := c.loadAll(ctx); err != nil {
		c.log.Error("cluster: published plugins not read", slog.String("error", err.Error()))
	}
	if err := c.beat(ctx); err != nil {
		c.log.Warn("cluster: heartbeat not written", slog.String("error", err.Error()))
	}
	c.loops.Add(2)
	go func() {
		defer c.loops.Done()
		for {
			select {
			case <-lctx.Done():
				return
			case payload := <-msgs:
				c.handle(lctx, payload)
			}
		}
	}()
	go func() {
		defer c.loops.Done()
		t := time.NewTicker(c.o.HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				if err := c.beat(lctx); err != nil && lctx.Err() == nil {
					c.log.Warn("cluster: heartbeat not written", slog.String("error", err.Error()))
				}
			}
		}
	}()
	c.log.Info("cluster: joined", slog.String("prefix", c.o.Prefix), slog.Int("plugins", len(c.o.Registry.List())))
	return nil
}

// Close stops the loops, removes the node's heartbeat and closes the client
// when Open made it. Idempotent.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	stop, ps, unlisten := c.stop, c.pubsub, c.unlisten
	c.mu.Unlock()
	if c.rdb == nil {
		return nil
	}
	if stop != nil {
		stop()
	}
	var errs []error
	if ps != nil {
		errs = append(errs, ps.Close())
	}
	if unlisten != nil {
		unlisten()
	}
	c.loops.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if stop != nil {
		_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, c.nodeKey(c.o.NodeID))
			p.ZRem(ctx, c.nodesKey(), c.o.NodeID)
			return nil
		})
		errs = append(errs, err)
	}
	if c.ownRDB {
		errs = append(errs, c.rdb.Close())
	}
	return errors.Join(errs...)
}

// Publish stores the module p was loaded from (wasm) and announces it: the
// other nodes load it. A lone node publishes nothing.
func (c *Cluster) Publish(ctx context.Context, p *plugin.Plugin, wasm []byte) error {
	if c.rdb == nil {
		return nil
	}
	sum := sha256.Sum256(wasm)
	sha := hex.EncodeToString(sum[:])
	if sha != p.SHA256() {
		return fmt.Errorf("cluster: publish %s: the bytes are not the plugin's module (sha256 %s, plugin %s)", p.Ref(), sha, p.SHA256())
	}
	msg, err := json.Marshal(Announcement{Op: OpAdd, Name: p.Name(), Version: p.Version(), SHA256: sha, Node: c.o.NodeID})
	if err != nil {
		return err
	}
	_, err = c.rdb.TxPipelined(ctx, func(pl redis.Pipeliner) error {
		pl.SetNX(ctx, c.moduleKey(sha), wasm, 0)
		pl.HSet(ctx, c.pluginsKey(), p.Ref(), sha)
		pl.Publish(ctx, c.controlChannel(), msg)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster: publish %s: %w", p.Ref(), err)
	}
	return nil
}

// unpublishScript removes a published name@version and announces it, at
// once: KEYS plugins hash, control channel; ARGV field, name, version, node.
// It returns the sha256 removed, or false when none was published.
var unpublishScript = redis.NewScript(`
local sha = redis.call('HGET', KEYS[1], ARGV[1])
if not sha then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', KEYS[2], cjson.encode({op='remove', name=ARGV[2], version=ARGV[3], sha256=sha, node=ARGV[4]}))
return sha
`)

// Unpublish removes name@version from the published plugins and announces
// it: the other nodes that loaded that module remove and retire it. ok is
// false when it was not published. The module's bytes are kept (another
// name@version may share them).
func (c *Cluster) Unpublish(ctx context.Context, name, version string) (ok bool, err error) {
	if c.rdb == nil {
		return false, nil
	}
	err = unpublishScript.Run(ctx, c.rdb, []string{c.pluginsKey(), c.controlChannel()},
		name+"@"+version, name, version, c.o.NodeID).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cluster: unpublish %s@%s: %w", name, version, err)
	}
	return true, nil
}

// handle applies one announcement from the control channel.
func (c *Cluster) handle(ctx context.Context, payload string) {
	var a Announcement
	if err := json.Unmarshal([]byte(payload), &a); err != nil {
		c.log.Error("cluster: bad announcement", slog.String("payload", payload), slog.String("error", err.Error()))
		return
	}
	if a.Node == c.o.NodeID { // applied here already, by the API call that published it
		return
	}
	switch a.Op {
	case OpAdd:
		c.add(ctx, a.Name, a.Version, a.SHA256)
	case OpRemove:
		c.remove(a)
	default:
		c.log.Error("cluster: unknown announcement", slog.String("op", a.Op))
	}
}

// loadAll loads every published plugin, by name@version.
func (c *Cluster) loadAll(ctx context.Context) error {
	all, err := c.rdb.HGetAll(ctx, c.pluginsKey()).Result()
	if err != nil {
		return err
	}
	refs := make([]string, 0, len(all))
	for ref := range all {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		name, version, ok := strings.Cut(ref, "@")
		if !ok {
			c.log.Error("cluster: bad published plugin", slog.String("field", ref))
			continue
		}
		c.add(ctx, name, version, all[ref])
	}
	return nil
}

// find is the registry's name@version, or nil.
func (c *Cluster) find(name, version string) *plugin.Plugin {
	for _, e := range c.o.Registry.Entries() {
		if e.Plugin.Name() == name && e.Plugin.Version() == version {
			return e.Plugin
		}
	}
	return nil
}

// add loads the module sha and registers it, unless the registry has that
// very module as name@version already. A module whose bytes do not hash to
// sha, or whose manifest is not name@version, is refused.
func (c *Cluster) add(ctx context.Context, name, version, sha string) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	ref := name + "@" + version
	attrs := []any{slog.String("plugin", ref), slog.String("sha256", sha)}
	if p := c.find(name, version); p != nil && p.SHA256() == sha {
		return
	}
	refuse := func(err error) {
		c.log.Error("cluster: plugin not loaded", append(attrs, slog.String("error", err.Error()))...)
	}
	wasm, err := c.rdb.Get(ctx, c.moduleKey(sha)).Bytes()
	if err != nil {
		refuse(fmt.Errorf("reading %s: %w", c.moduleKey(sha), err))
		return
	}
	sum := sha256.Sum256(wasm)
	if got := hex.EncodeToString(sum[:]); got != sha {
		refuse(fmt.Errorf("the module stored at %s hashes to %s: tampered or corrupt, refused", c.moduleKey(sha), got))
		return
	}
	p, err := c.o.Engine.Load(ctx, wasm)
	if err != nil {
		refuse(err)
		return
	}
	if p.Name() != name || p.Version() != version {
		_ = p.Close(context.WithoutCancel(ctx))
		refuse(fmt.Errorf("the module is %s, published as %s", p.Ref(), ref))
		return
	}
	replaced, err := c.o.Registry.Add(p)
	if err != nil {
		_ = p.Close(context.WithoutCancel(ctx))
		refuse(err)
		return
	}
	if replaced != nil {
		replaced.Retire()
		attrs = append(attrs, slog.String("replaced_sha256", replaced.SHA256()))
	}
	c.log.Info("cluster: plugin loaded", attrs...)
}

// remove removes and retires name@version when it is the module announced
// (not a different module of the same name and version, e.g. one from this
// node's own --plugins directory).
func (c *Cluster) remove(a Announcement) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	p := c.find(a.Name, a.Version)
	if p == nil || p.SHA256() != a.SHA256 {
		return
	}
	if c.o.Registry.RemovePlugin(p) {
		p.Retire()
		c.log.Info("cluster: plugin removed", slog.String("plugin", p.Ref()), slog.String("sha256", a.SHA256))
	}
}

// self is this node's heartbeat now.
func (c *Cluster) self() Node {
	n := Node{ID: c.o.NodeID, Addr: c.o.Addr, Started: c.started.UTC(), Updated: time.Now().UTC(), Version: c.o.Version}
	if c.o.Registry != nil {
		n.Plugins = len(c.o.Registry.List())
	}
	if f := c.running.Load(); f != nil {
		n.RunningJobs = (*f)()
	}
	return n
}

// beat writes the heartbeat.
func (c *Cluster) beat(ctx context.Context) error {
	b, err := json.Marshal(c.self())
	if err != nil {
		return err
	}
	expires := time.Now().Add(c.o.HeartbeatTTL).UnixMilli()
	_, err = c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, c.nodeKey(c.o.NodeID), b, c.o.HeartbeatTTL)
		p.ZAdd(ctx, c.nodesKey(), redis.Z{Score: float64(expires), Member: c.o.NodeID})
		return nil
	})
	return err
}

// Nodes lists the live nodes by id: those whose heartbeat has not expired.
// Expired entries are dropped from PREFIX:nodes on the way.
func (c *Cluster) Nodes(ctx context.Context) ([]Node, error) {
	if c.rdb == nil {
		n := c.self()
		n.Self = true
		return []Node{n}, nil
	}
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	if err := c.rdb.ZRemRangeByScore(ctx, c.nodesKey(), "-inf", "("+now).Err(); err != nil {
		return nil, fmt.Errorf("cluster: nodes: %w", err)
	}
	ids, err := c.rdb.ZRange(ctx, c.nodesKey(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster: nodes: %w", err)
	}
	out := []Node{}
	if len(ids) == 0 {
		return out, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = c.nodeKey(id)
	}
	// One GET per key, pipelined: the keys' hash tags put them in different
	// slots, where MGET would be refused by Redis Cluster.
	cmds, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("cluster: nodes: %w", err)
	}
	for i, cmd := range cmds {
		b, err := cmd.(*redis.StringCmd).Bytes()
		if err != nil { // expired between ZRANGE and GET
			continue
		}
		var n Node
		if err := json.Unmarshal(b, &n); err != nil {
			c.log.Warn("cluster: bad heartbeat", slog.String("key", keys[i]), slog.String("error", err.Error()))
			continue
		}
		n.Self = n.ID == c.o.NodeID
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
