// Package cluster shares uploaded plugins and pins between the nodes of one
// Redis and keeps a list of the live nodes (DESIGN.md §Engines: "redis: any
// number of nodes share jobs, events and plugins").
//
// Key layout (PREFIX is Options.Prefix, "phasehost" by default; the braces
// are Redis Cluster hash tags, as in the store's job keys):
//
//	PREFIX:module:{SHA256}  string: a module's bytes, by the hex sha256 of those bytes (SET NX, never rewritten)
//	PREFIX:plugins          hash: name@version -> hex sha256 of the published module
//	PREFIX:pins             hash: name -> the version a bare name resolves to on every node (PUT /v1/plugins/:name/active)
//	PREFIX:control          pub/sub channel: announcements {"op","name","version","sha256","node","seq"}, op "add"|"remove"|"pin"|"unpin"
//	PREFIX:control:seq      string: the number of the last announcement (INCR); each announcement carries its own as "seq"
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
// applied one at a time, in the order Redis delivered them; the node that
// published one has applied it already and ignores it. Each change of the
// shared state (the hashes) and its announcement are one Lua script, so
// announcements are numbered (seq) in the order of the changes.
//
// Pins. A pin or unpin that succeeds on a node (registry.Pin, Unpin) is
// stored in PREFIX:pins and announced (PublishPin, PublishUnpin); every node
// applies it. A node that has not loaded the pinned version logs a warning,
// resolves the bare name as if unpinned meanwhile, and pins it as soon as
// that version arrives. Removing the published version that is pinned
// (Unpublish) unpins it everywhere, as registry.Remove does on one node.
// Concurrent pins of one name on two nodes end, on every node, with the one
// Redis ordered last: a node applies an announcement only if it is newer
// (seq) than what it applied for that plugin or pin.
//
// Recovery. Pub/sub is fire-and-forget: a node whose connection dropped
// misses what was announced meanwhile. Each node therefore resyncs: it reads
// PREFIX:plugins, PREFIX:pins and PREFIX:control:seq in one transaction,
// loads what is missing, removes the plugins it had from the cluster (by
// sha256: never those of its --plugins directory) that are no longer
// published, and applies the pins. It does so when it starts (after it has
// subscribed, so no announcement falls between the two), every
// Options.ResyncInterval, and as soon as it notices that it missed an
// announcement: each heartbeat also reads PREFIX:control:seq, and a number
// read at one heartbeat but not heard by the next means announcements were
// lost (a dropped connection, a full queue). A counter gone backwards means
// Redis lost its data (restarted without persistence): the node then keeps
// what it had from the cluster, as its own, rather than remove everything.
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
	DefaultResyncInterval    = 30 * time.Second
)

// Announcement ops on the control channel.
const (
	OpAdd    = "add"
	OpRemove = "remove"
	OpPin    = "pin"   // name, version
	OpUnpin  = "unpin" // name
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
	// ResyncInterval is how often the node compares what it loaded from the
	// cluster with what Redis holds (see the package doc). Zero:
	// DefaultResyncInterval; negative: only when it starts and when it
	// notices a missed announcement.
	ResyncInterval time.Duration
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
	if o.ResyncInterval == 0 {
		o.ResyncInterval = DefaultResyncInterval
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
	Node    string `json:"node"`          // the node that published it
	Seq     int64  `json:"seq,omitempty"` // its number (PREFIX:control:seq); 0: unnumbered, always applied
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

	// applyMu makes announcements, resyncs and the bookkeeping after this
	// node's own publications one at a time; it guards st.
	applyMu sync.Mutex
	st      state
	// heard is the highest seq heard on the control channel or covered by a
	// resync; lastPub the PREFIX:control:seq read at the previous heartbeat
	// (the heartbeat loop's own).
	heard     atomic.Int64
	lastPub   int64
	resyncReq chan struct{}
	// catchingUp is set when a heartbeat asks for a resync and cleared when
	// a resync ends, so that a gap is reported once.
	catchingUp atomic.Bool

	// prep holds the modules compiled ahead of their "add" (prepare.go).
	prepMu     sync.Mutex
	prep       map[string]*prepared
	prepClosed bool

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
	return &Cluster{o: o, log: o.Logger, started: time.Now(), st: newState(), resyncReq: make(chan struct{}, 1)}
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
	return &Cluster{rdb: rdb, o: o, log: o.Logger.With(slog.String("node", o.NodeID)), started: time.Now(),
		st: newState(), resyncReq: make(chan struct{}, 1), prep: map[string]*prepared{}}, nil
}

// ID is this node's id.
func (c *Cluster) ID() string { return c.o.NodeID }

// Shared reports whether the node shares plugins through Redis.
func (c *Cluster) Shared() bool { return c.rdb != nil }

// SetRunning sets how the heartbeat counts the node's running jobs.
func (c *Cluster) SetRunning(f func() int) { c.running.Store(&f) }

func (c *Cluster) moduleKey(sha string) string { return c.o.Prefix + ":module:{" + sha + "}" }
func (c *Cluster) pluginsKey() string          { return c.o.Prefix + ":plugins" }
func (c *Cluster) pinsKey() string             { return c.o.Prefix + ":pins" }
func (c *Cluster) controlChannel() string      { return c.o.Prefix + ":control" }
func (c *Cluster) seqKey() string              { return c.o.Prefix + ":control:seq" }
func (c *Cluster) nodeKey(id string) string    { return c.o.Prefix + ":node:{" + id + "}" }
func (c *Cluster) nodesKey() string            { return c.o.Prefix + ":nodes" }

// Start subscribes to the control channel, loads every published plugin and
// applies the pins (a resync), writes the first heartbeat and keeps all of
// them going until ctx is done or Close.
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
			c.noteHeard(payload)
			select { // never block the shared connection's reader
			case msgs <- payload:
			default:
				c.log.Error("cluster: announcement dropped: too many waiting; resyncing", slog.Int("waiting", controlBuffer))
				c.requestResync()
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
				c.noteHeard(m.Payload)
				select {
				case msgs <- m.Payload:
				case <-lctx.Done():
					return
				}
			}
		}()
	}
	if err := c.resync(ctx); err != nil {
		c.log.Error("cluster: published plugins not read", slog.String("error", err.Error()))
	}
	if pub, err := c.beat(ctx); err != nil {
		c.log.Warn("cluster: heartbeat not written", slog.String("error", err.Error()))
	} else {
		c.lastPub = pub
	}
	c.loops.Add(2)
	go func() {
		defer c.loops.Done()
		var tick <-chan time.Time
		if c.o.ResyncInterval > 0 {
			t := time.NewTicker(c.o.ResyncInterval)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-lctx.Done():
				return
			case payload := <-msgs:
				c.handle(lctx, payload)
			case <-c.resyncReq:
				c.runResync(lctx)
			case <-tick:
				c.runResync(lctx)
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
				pub, err := c.beat(lctx)
				if err != nil {
					if lctx.Err() == nil {
						c.log.Warn("cluster: heartbeat not written", slog.String("error", err.Error()))
					}
					continue
				}
				c.checkMissed(pub)
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
	c.closePrepared()
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

// publishScript publishes a stored module as name@version and announces it,
// at once: KEYS plugins hash, seq counter; ARGV field, name, version, sha256,
// node, control channel. It returns the announcement's seq.
var publishScript = redis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
local seq = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[6], cjson.encode({op='add', name=ARGV[2], version=ARGV[3], sha256=ARGV[4], node=ARGV[5], seq=seq}))
return seq
`)

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
	// The bytes first (a plain SET, not through the script: they may be
	// large), kept for good (Prepare stored them with a TTL), then the hash
	// and the announcement.
	_, err := c.rdb.TxPipelined(ctx, func(pl redis.Pipeliner) error {
		pl.SetNX(ctx, c.moduleKey(sha), wasm, 0)
		pl.Persist(ctx, c.moduleKey(sha))
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster: publish %s: %w", p.Ref(), err)
	}
	seq, err := publishScript.Run(ctx, c.rdb, []string{c.pluginsKey(), c.seqKey()},
		p.Ref(), p.Name(), p.Version(), sha, c.o.NodeID, c.controlChannel()).Int64()
	if err != nil {
		return fmt.Errorf("cluster: publish %s: %w", p.Ref(), err)
	}
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	c.st.newer(p.Ref(), seq) // an older announcement of name@version is ignored from now on
	// Unless another module replaced it meanwhile, this node has it from
	// the cluster now: an unpublish on another node removes it here too.
	if q := c.find(p.Name(), p.Version()); q != nil && q.SHA256() == sha {
		c.st.loaded[p.Ref()] = sha
		delete(c.st.refused, p.Ref())
		c.pinArrivedLocked(p.Name(), p.Version())
	}
	return nil
}

// unpublishScript removes a published name@version and announces it, at
// once; when it is the pinned version, it unpins it too (and announces that):
// KEYS plugins hash, pins hash, seq counter; ARGV field, name, version, node,
// control channel. It returns {sha256 removed, its seq, the unpin's seq or
// 0}, or false when name@version was not published.
var unpublishScript = redis.NewScript(`
local sha = redis.call('HGET', KEYS[1], ARGV[1])
if not sha then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
local seq = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[5], cjson.encode({op='remove', name=ARGV[2], version=ARGV[3], sha256=sha, node=ARGV[4], seq=seq}))
local unpin = 0
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[3] then
  redis.call('HDEL', KEYS[2], ARGV[2])
  unpin = redis.call('INCR', KEYS[3])
  redis.call('PUBLISH', ARGV[5], cjson.encode({op='unpin', name=ARGV[2], node=ARGV[4], seq=unpin}))
end
return {sha, seq, unpin}
`)

// Unpublish removes name@version from the published plugins and announces
// it: the other nodes that loaded that module remove and retire it. ok is
// false when it was not published. The module's bytes are kept (another
// name@version may share them). When name@version is the pinned version,
// the pin goes too, on every node.
func (c *Cluster) Unpublish(ctx context.Context, name, version string) (ok bool, err error) {
	if c.rdb == nil {
		return false, nil
	}
	ref := name + "@" + version
	res, err := unpublishScript.Run(ctx, c.rdb, []string{c.pluginsKey(), c.pinsKey(), c.seqKey()},
		ref, name, version, c.o.NodeID, c.controlChannel()).Slice()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err == nil && len(res) != 3 {
		err = fmt.Errorf("unexpected answer %v", res)
	}
	if err != nil {
		return false, fmt.Errorf("cluster: unpublish %s: %w", ref, err)
	}
	seq, _ := res[1].(int64)
	unpin, _ := res[2].(int64)
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	if c.st.newer(ref, seq) {
		delete(c.st.loaded, ref)
	}
	if unpin > 0 && c.st.newer(name, unpin) {
		c.unpinLocked(name)
	}
	return true, nil
}

// pinScript sets or clears (version "") a pin and announces it, at once:
// KEYS pins hash, seq counter; ARGV name, version, node, control channel. It
// returns the announcement's seq.
var pinScript = redis.NewScript(`
local a
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  a = {op='unpin', name=ARGV[1], node=ARGV[3]}
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  a = {op='pin', name=ARGV[1], version=ARGV[2], node=ARGV[3]}
end
a.seq = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[4], cjson.encode(a))
return a.seq
`)

// PublishPin stores a pin made on this node (registry.Pin succeeded) and
// announces it: every node pins name to version. A lone node publishes
// nothing. When another node's pin of name was stored after this one, this
// node ends with that one, as every other node does.
func (c *Cluster) PublishPin(ctx context.Context, name, version string) error {
	if version == "" {
		return fmt.Errorf("cluster: publish pin of %s: no version", name)
	}
	return c.publishPin(ctx, name, version)
}

// PublishUnpin removes the pin of name and announces it: every node resolves
// the bare name to its highest version again. A lone node publishes nothing.
func (c *Cluster) PublishUnpin(ctx context.Context, name string) error {
	return c.publishPin(ctx, name, "")
}

func (c *Cluster) publishPin(ctx context.Context, name, version string) error {
	if c.rdb == nil {
		return nil
	}
	seq, err := pinScript.Run(ctx, c.rdb, []string{c.pinsKey(), c.seqKey()}, name, version, c.o.NodeID, c.controlChannel()).Int64()
	if err != nil {
		what := "unpin of " + name
		if version != "" {
			what = "pin of " + name + "@" + version
		}
		return fmt.Errorf("cluster: publish %s: %w", what, err)
	}
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	if !c.st.newer(name, seq) { // a later pin of name is applied already
		return nil
	}
	// Applied here again: a resync or an older announcement may have come
	// between the caller's change of the registry and this.
	if version == "" {
		c.unpinLocked(name)
	} else {
		c.pinLocked(name, version)
	}
	return nil
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
	if a.Op == OpPrepare {
		c.startPrepare(a.SHA256)
		return
	}
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	switch a.Op {
	case OpAdd, OpRemove:
		if !c.st.fresh(a.Name+"@"+a.Version, a.Seq) {
			return
		}
		if a.Op == OpAdd {
			c.addLocked(ctx, a.Name, a.Version, a.SHA256, false)
		} else {
			c.removeLocked(a.Name, a.Version, a.SHA256)
		}
	case OpPin, OpUnpin:
		if !c.st.fresh(a.Name, a.Seq) {
			return
		}
		if a.Op == OpPin {
			c.pinLocked(a.Name, a.Version)
		} else {
			c.unpinLocked(a.Name)
		}
	default:
		c.log.Error("cluster: unknown announcement", slog.String("op", a.Op))
	}
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

// Errors of Module and LoadModule.
var (
	ErrModuleNotFound   = errors.New("no published module with that sha256")
	ErrModuleCorrupt    = errors.New("published module corrupt")
	ErrModuleUnreadable = errors.New("published module unreadable") // Redis did not answer: may pass
	ErrModuleMismatch   = errors.New("published module is another plugin")
)

// Module returns the bytes of the module published with sha256 sha, checked
// against it. Modules are kept after their name@version is removed, so a job
// accepted with a module can run on it later on any node.
func (c *Cluster) Module(ctx context.Context, sha string) ([]byte, error) {
	if c.rdb == nil {
		return nil, fmt.Errorf("%w: %s (this node is alone)", ErrModuleNotFound, sha)
	}
	wasm, err := c.rdb.Get(ctx, c.moduleKey(sha)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%w: %s", ErrModuleNotFound, sha)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrModuleUnreadable, c.moduleKey(sha), err)
	}
	sum := sha256.Sum256(wasm)
	if got := hex.EncodeToString(sum[:]); got != sha {
		return nil, fmt.Errorf("%w: the module stored at %s hashes to %s: tampered or corrupt, refused", ErrModuleCorrupt, c.moduleKey(sha), got)
	}
	return wasm, nil
}

// LoadModule loads the module published with sha256 sha, which must be
// name@version (ErrModuleMismatch): the compile this node made ahead of its
// announcement (prepare.go) when there is one. The caller owns the plugin.
func (c *Cluster) LoadModule(ctx context.Context, name, version, sha string) (*plugin.Plugin, error) {
	p := c.takePrepared(ctx, sha)
	if p == nil {
		wasm, err := c.Module(ctx, sha)
		if err != nil {
			return nil, err
		}
		if p, err = c.o.Engine.Load(ctx, wasm); err != nil {
			return nil, err
		}
	}
	if p.Name() != name || p.Version() != version {
		_ = p.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("%w: the module is %s, published as %s@%s", ErrModuleMismatch, p.Ref(), name, version)
	}
	return p, nil
}

// addLocked loads the module sha and registers it, unless the registry has
// that very module as name@version already. A module whose bytes do not hash
// to sha, or whose manifest is not name@version, is refused; a resync does
// not try a refused module again (an announcement does). applyMu is held.
func (c *Cluster) addLocked(ctx context.Context, name, version, sha string, resync bool) {
	ref := name + "@" + version
	attrs := []any{slog.String("plugin", ref), slog.String("sha256", sha)}
	if p := c.find(name, version); p != nil && p.SHA256() == sha {
		return // from the cluster already, or the same module of the node's own
	}
	if resync && c.st.refused[ref] == sha {
		return
	}
	refuse := func(err error, lasting bool) {
		c.log.Error("cluster: plugin not loaded", append(attrs, slog.String("error", err.Error()))...)
		if lasting {
			c.st.refused[ref] = sha
		}
	}
	p, err := c.LoadModule(ctx, name, version, sha)
	if err != nil {
		// A missing module stays missing (it is written before it is
		// published and never deleted), a corrupt or refused one too; one
		// Redis did not hand over, or a load cut short, may pass.
		refuse(err, !errors.Is(err, ErrModuleUnreadable) && ctx.Err() == nil)
		return
	}
	replaced, err := c.o.Registry.Add(p)
	if err != nil {
		_ = p.Close(context.WithoutCancel(ctx))
		refuse(err, true)
		return
	}
	c.st.loaded[ref] = sha
	delete(c.st.refused, ref)
	if replaced != nil {
		replaced.Retire()
		attrs = append(attrs, slog.String("replaced_sha256", replaced.SHA256()))
	}
	c.log.Info("cluster: plugin loaded", attrs...)
	c.pinArrivedLocked(name, version)
}

// removeLocked removes and retires name@version when it is the module sha
// and the node has it from the cluster (never a module from the node's own
// --plugins directory, even the same bytes). applyMu is held.
func (c *Cluster) removeLocked(name, version, sha string) {
	ref := name + "@" + version
	if c.st.refused[ref] == sha {
		delete(c.st.refused, ref)
	}
	if c.st.loaded[ref] != sha {
		return
	}
	delete(c.st.loaded, ref)
	p := c.find(name, version)
	if p == nil || p.SHA256() != sha {
		return
	}
	if c.o.Registry.RemovePlugin(p) {
		p.Retire()
		c.log.Info("cluster: plugin removed", slog.String("plugin", p.Ref()), slog.String("sha256", sha))
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

// beat writes the heartbeat and returns the number of the last announcement
// (PREFIX:control:seq; 0 when there is none).
func (c *Cluster) beat(ctx context.Context) (published int64, err error) {
	b, err := json.Marshal(c.self())
	if err != nil {
		return 0, err
	}
	expires := time.Now().Add(c.o.HeartbeatTTL).UnixMilli()
	var set *redis.StatusCmd
	var zadd *redis.IntCmd
	var seq *redis.StringCmd
	_, err = c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		set = p.Set(ctx, c.nodeKey(c.o.NodeID), b, c.o.HeartbeatTTL)
		zadd = p.ZAdd(ctx, c.nodesKey(), redis.Z{Score: float64(expires), Member: c.o.NodeID})
		seq = p.Get(ctx, c.seqKey())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	if err := errors.Join(set.Err(), zadd.Err()); err != nil {
		return 0, err
	}
	return seqOf(seq)
}

// seqOf is the value of a GET of PREFIX:control:seq: 0 when missing.
func seqOf(cmd *redis.StringCmd) (int64, error) {
	n, err := cmd.Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
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
