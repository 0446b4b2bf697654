// Package queue carries jobs from the node that accepted them to a worker on
// any node sharing one Redis: a Redis Stream read through a consumer group.
//
// Key layout (PREFIX is Options.Prefix, "phasehost" by default):
//
//	PREFIX:queue               stream: one entry per queued job, field "task" = Task as JSON;
//	                           consumer group Options.Group ("workers"), each node reading as
//	                           the consumer named by its node id
//	PREFIX:checkpoint:{JOBID}  hash: a running job's progress (checkpoint.go)
//
// A node takes a job only when one of its workers is free (Take, COUNT 1), so
// jobs wait in Redis, where any node can take them, rather than in a node's
// memory. A taken job is held under a lease: the entry stays in the group's
// pending list, and the node renews it (XCLAIM to itself, resetting its idle
// time) every Options.Lease/3 while the job runs. A node that dies stops
// renewing; once an entry has been idle for Options.Lease, another node's Take
// claims it (XAUTOCLAIM) and runs the job again. When the job has ended the
// entry is acknowledged and deleted (Ack).
//
// The queue delivers at least once; making the job end exactly once is the
// store's part: the new worker fences the job (store.Store.Fence) so that the
// old one, should it come back, can publish nothing more, and a job that has
// ended refuses every further event.
package queue

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of Options.
const (
	DefaultPrefix = "phasehost"
	DefaultGroup  = "workers"
	DefaultLease  = 30 * time.Second
	DefaultBlock  = 2 * time.Second
)

// Task is one job as the accepting node resolved it: the exact module of
// each stage, so that every node runs the same code.
type Task struct {
	JobID  string          `json:"job"`
	Stages []Stage         `json:"stages"`
	Input  json.RawMessage `json:"input"`
}

// Stage names the module of one stage.
type Stage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

// Options configures a Queue.
type Options struct {
	Prefix   string // "": DefaultPrefix (the store's --redis-prefix)
	Group    string // "": DefaultGroup
	Consumer string // this node's id; required
	// Lease is how long a taken job stays with its node without a renewal;
	// a job whose node stopped renewing for this long is taken by another.
	// It is renewed every Lease/3. Zero: DefaultLease.
	Lease time.Duration
	// Block is how long one read waits for a job before Take looks for
	// expired leases again. Zero: DefaultBlock.
	Block  time.Duration
	Logger *slog.Logger // nil: slog.Default()
}

func (o Options) withDefaults() (Options, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	if o.Consumer == "" {
		return o, errors.New("queue: Consumer (the node id) is required")
	}
	if o.Lease == 0 {
		o.Lease = DefaultLease
	}
	if o.Lease < 30*time.Millisecond {
		return o, fmt.Errorf("queue: lease %s is too short", o.Lease)
	}
	if o.Block <= 0 {
		o.Block = DefaultBlock
	}
	o.Block = min(o.Block, o.Lease/2)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// ErrClosed is returned by Take once the queue is closed.
var ErrClosed = errors.New("queue: closed")

var (
	//go:embed renew.lua
	renewLua    string
	renewScript = redis.NewScript(renewLua)
	//go:embed requeue.lua
	requeueLua    string
	requeueScript = redis.NewScript(requeueLua)
	//go:embed waiting.lua
	waitingLua    string
	waitingScript = redis.NewScript(waitingLua)
)

// Queue is one node's view of the shared job queue. Its methods are safe for
// concurrent use.
type Queue struct {
	rdb    redis.UniversalClient
	ownRDB bool
	o      Options
	log    *slog.Logger

	mu      sync.Mutex
	held    map[string]*Delivery // by entry id: leases this node renews
	cursor  string               // XAUTOCLAIM's next start
	claimAt time.Time            // when Take looks for expired leases next
	closed  bool

	stop  context.CancelFunc
	loops sync.WaitGroup
}

// Open connects to the Redis at url and returns the queue on a client of its
// own (Close closes it): its blocking reads then never hold up the store's
// connections.
func Open(ctx context.Context, url string, opts Options) (*Queue, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	rdb := redis.NewClient(ro)
	q, err := New(ctx, rdb, opts)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	q.ownRDB = true
	return q, nil
}

// New returns the queue on rdb (which it does not close): it creates the
// stream and its consumer group if they do not exist, and starts renewing
// the leases of the jobs this node takes.
func New(ctx context.Context, rdb redis.UniversalClient, opts Options) (*Queue, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	q := &Queue{rdb: rdb, o: o, log: o.Logger.With(slog.String("node", o.Consumer)), held: map[string]*Delivery{}, cursor: "0-0"}
	// From "0": a group created after jobs were queued still delivers them.
	err = rdb.XGroupCreateMkStream(ctx, q.Key(), o.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return nil, fmt.Errorf("queue: creating group %s on %s: %w", o.Group, q.Key(), err)
	}
	lctx, stop := context.WithCancel(context.Background())
	q.stop = stop
	q.loops.Add(1)
	go q.renewLoop(lctx)
	return q, nil
}

// Key is the stream's key.
func (q *Queue) Key() string { return q.o.Prefix + ":queue" }

// Lease is the lease of a taken job.
func (q *Queue) Lease() time.Duration { return q.o.Lease }

// Push queues t and returns its entry id.
func (q *Queue) Push(ctx context.Context, t Task) (string, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("queue: job %s: %w", t.JobID, err)
	}
	id, err := q.rdb.XAdd(ctx, &redis.XAddArgs{Stream: q.Key(), Values: []string{"task", string(b)}}).Result()
	if err != nil {
		return "", fmt.Errorf("queue: queueing job %s: %w", t.JobID, err)
	}
	return id, nil
}

// Waiting returns how many jobs are queued and not taken by any node.
func (q *Queue) Waiting(ctx context.Context) (int64, error) {
	n, err := waitingScript.Run(ctx, q.rdb, []string{q.Key()}, q.o.Group).Int64()
	if err != nil {
		return 0, fmt.Errorf("queue: counting waiting jobs: %w", err)
	}
	return n, nil
}

// Take waits for a job and takes it under this node's lease: first a job
// whose lease expired (its node died or stalled), else a new one. It returns
// when it has one, or with ctx's error, or ErrClosed. Redis errors are logged
// and retried.
func (q *Queue) Take(ctx context.Context) (*Delivery, error) {
	backoff := 100 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if q.isClosed() {
			return nil, ErrClosed
		}
		d, err := q.takeOnce(ctx)
		if d != nil {
			return d, nil
		}
		if err == nil {
			backoff = 100 * time.Millisecond
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		q.log.Warn("queue: cannot take jobs; retrying", slog.String("error", err.Error()), slog.Duration("in", backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// takeOnce looks for an expired lease when it is time to, then reads a new
// entry for up to Options.Block. (nil, nil): nothing yet.
func (q *Queue) takeOnce(ctx context.Context) (d *Delivery, err error) {
	defer func() {
		if err != nil && isNoGroup(err) { // the stream was deleted (FLUSHDB): make it again
			err = errors.Join(err, q.rdb.XGroupCreateMkStream(ctx, q.Key(), q.o.Group, "0").Err())
		}
	}()
	if d, err := q.reclaim(ctx); d != nil || err != nil {
		return d, err
	}
	res, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: q.o.Group, Consumer: q.o.Consumer, Streams: []string{q.Key(), ">"},
		Count: 1, Block: q.o.Block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, s := range res {
		for _, m := range s.Messages {
			return q.deliver(ctx, m, false), nil
		}
	}
	return nil, nil
}

func isNoGroup(err error) bool { return strings.Contains(err.Error(), "NOGROUP") }

// reclaim claims one entry whose lease expired, scanning the pending list a
// little at a time (every Lease/4 at most): a dead node's jobs are taken
// within about Lease + Lease/4 of its last renewal.
func (q *Queue) reclaim(ctx context.Context) (*Delivery, error) {
	q.mu.Lock()
	if time.Now().Before(q.claimAt) {
		q.mu.Unlock()
		return nil, nil
	}
	start := q.cursor
	q.mu.Unlock()
	msgs, next, err := q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: q.Key(), Group: q.o.Group, Consumer: q.o.Consumer,
		MinIdle: q.o.Lease, Start: start, Count: 1,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("queue: reclaiming expired leases: %w", err)
	}
	q.mu.Lock()
	q.cursor = next
	if next == "0-0" || next == "" { // a full pass: rest a while
		q.cursor = "0-0"
		q.claimAt = time.Now().Add(q.o.Lease / 4)
	}
	q.mu.Unlock()
	for _, m := range msgs {
		q.log.Warn("queue: took over a job whose lease expired", slog.String("entry", m.ID))
		return q.deliver(ctx, m, true), nil
	}
	return nil, nil
}

// deliver makes a Delivery of entry m, now held by this node. An entry that
// is not a task is acknowledged and dropped (logged): it could never run.
func (q *Queue) deliver(ctx context.Context, m redis.XMessage, reclaimed bool) *Delivery {
	raw, _ := m.Values["task"].(string)
	d := &Delivery{ID: m.ID, Reclaimed: reclaimed, q: q, lost: make(chan struct{}), raw: raw}
	if err := json.Unmarshal([]byte(raw), &d.Task); err != nil || d.JobID == "" {
		if err == nil {
			err = errors.New("no job id")
		}
		d.Err = fmt.Errorf("queue: entry %s is not a task: %w", m.ID, err)
	}
	q.mu.Lock()
	q.held[d.ID] = d
	q.mu.Unlock()
	return d
}

func (q *Queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// Held returns how many taken jobs this node holds.
func (q *Queue) Held() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.held)
}

// renewLoop renews the leases of the held jobs every Lease/3.
func (q *Queue) renewLoop(ctx context.Context) {
	defer q.loops.Done()
	t := time.NewTicker(q.o.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		q.renew(ctx)
	}
}

// renew resets the idle time of every held entry this node still owns, in
// one script call; an entry another node has claimed meanwhile is lost: its
// Delivery's Lost channel closes.
func (q *Queue) renew(ctx context.Context) {
	q.mu.Lock()
	ids := make([]any, 0, len(q.held)+2)
	ids = append(ids, q.o.Group, q.o.Consumer)
	for id := range q.held {
		ids = append(ids, id)
	}
	q.mu.Unlock()
	if len(ids) == 2 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, q.o.Lease/3)
	defer cancel()
	lost, err := renewScript.Run(rctx, q.rdb, []string{q.Key()}, ids...).StringSlice()
	if err != nil {
		if ctx.Err() == nil {
			q.log.Warn("queue: leases not renewed", slog.Int("jobs", len(ids)-2), slog.String("error", err.Error()))
		}
		return
	}
	for _, id := range lost {
		q.mu.Lock()
		d := q.held[id]
		delete(q.held, id)
		q.mu.Unlock()
		if d != nil {
			q.log.Warn("queue: lease lost: another node took the job", slog.String("job", d.JobID), slog.String("entry", id))
			d.loseOnce.Do(func() { close(d.lost) })
		}
	}
}

// Close stops renewing leases (the jobs still held are taken by other nodes
// once their leases expire) and makes Take return ErrClosed. It removes this
// node's consumer from the group when it holds nothing. Idempotent.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	held := len(q.held)
	q.mu.Unlock()
	q.stop()
	q.loops.Wait()
	if held == 0 {
		q.forgetConsumer()
	}
	if q.ownRDB {
		return q.rdb.Close()
	}
	return nil
}

// forgetConsumer removes this node's consumer from the group if it has no
// pending entry (best effort: a consumer left behind costs nothing).
func (q *Queue) forgetConsumer() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pending, err := q.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: q.Key(), Group: q.o.Group,
		Start: "-", End: "+", Count: 1, Consumer: q.o.Consumer}).Result()
	if err == nil && len(pending) == 0 {
		_ = q.rdb.XGroupDelConsumer(ctx, q.Key(), q.o.Group, q.o.Consumer).Err()
	}
}

// Delivery is a job taken by this node. Exactly one of Ack or Release ends it.
type Delivery struct {
	Task
	ID string // the stream entry id
	// Reclaimed is true when the job was taken over from a node whose lease
	// expired.
	Reclaimed bool
	// Err is set when the entry is not a task; Ack drops it.
	Err error

	q        *Queue
	raw      string // the task as queued
	lost     chan struct{}
	loseOnce sync.Once
	endOnce  sync.Once
}

// Lost is closed when another node took the job over (this node's lease had
// expired: it stalled longer than the lease). The job's run here should stop;
// the store refuses its events anyway (fencing).
func (d *Delivery) Lost() <-chan struct{} { return d.lost }

// Ack ends the delivery of a job that has ended: its entry is acknowledged
// and deleted, with its checkpoint. A job whose lease was lost is not
// acknowledged here: the node that took it over does.
func (d *Delivery) Ack(ctx context.Context) error {
	return d.end("acknowledging", func() error {
		// Not a transaction: the checkpoint's key is in another Cluster slot.
		_, err := d.q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.XAck(ctx, d.q.Key(), d.q.o.Group, d.ID)
			p.XDel(ctx, d.q.Key(), d.ID)
			d.q.dropCheckpoint(ctx, p, d.JobID)
			return nil
		})
		return err
	})
}

// Release gives the job back without running it to its end: it is queued
// again as a new entry, which any node's waiting Take gets at once, and this
// delivery's entry is acknowledged (requeue.lua). Nothing changes when
// another node has taken the job over meanwhile. If Redis cannot be reached,
// the job comes back after its lease, as when a node dies.
func (d *Delivery) Release(ctx context.Context) error {
	return d.end("releasing", func() error {
		err := requeueScript.Run(ctx, d.q.rdb, []string{d.q.Key()}, d.q.o.Group, d.q.o.Consumer, d.ID, d.raw).Err()
		if errors.Is(err, redis.Nil) {
			return nil // taken over meanwhile
		}
		return err
	})
}

// end ends the delivery once: it stops renewing its lease and, when the
// lease was still held here, runs f.
func (d *Delivery) end(what string, f func() error) error {
	var err error
	d.endOnce.Do(func() {
		d.q.mu.Lock()
		_, mine := d.q.held[d.ID]
		delete(d.q.held, d.ID)
		d.q.mu.Unlock()
		if !mine {
			return
		}
		if err = f(); err != nil {
			err = fmt.Errorf("queue: %s job %s: %w", what, d.JobID, err)
		}
	})
	return err
}
