package store

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/metrics"
)

var _ Store = (*Redis)(nil)

// Key layout of the Redis store. PREFIX is RedisOptions.Prefix ("phasehost").
// The braces around the job ID are a Redis Cluster hash tag: every key of one
// job lives in the same slot, so one Lua script may touch them all.
//
//	PREFIX:job:{ID}      hash: the job state (fields below)
//	PREFIX:events:{ID}   stream: the job's events, entry id "<seq>-0", field "e" = event JSON
//	PREFIX:job:{ID}      pub/sub channel: live event JSON (same name as the hash)
//	PREFIX:jobs          sorted set: job IDs scored by creation time (µs), for List
//	PREFIX:probe:NODE    pub/sub channel: readiness probes of one node (Redis.Ready)
//
// Hash fields: id, status, pipeline (JSON array), nstages, seq, fence (the
// latest run's fencing token, Fence), pubid (publish.lua), job_percent,
// created, updated (RFC 3339), error, result (JSON), and per stage i
// stage:i:stage, stage:i:plugin, stage:i:version, stage:i:status,
// stage:i:percent, stage:i:source_phase, stage:i:step, stage:i:message,
// stage:i:error. Numbers are written by Go (shortest exact form), never
// re-encoded in Lua.
//
// A finished job's hash and stream get Options.TTL; List drops index entries
// whose hash has expired.
const (
	// DefaultRedisPrefix is the key prefix when RedisOptions.Prefix is empty.
	DefaultRedisPrefix = "phasehost"
	// DefaultRedisLinger is how long a job channel stays subscribed after its
	// last subscription closes.
	DefaultRedisLinger = 2 * time.Second
	// DefaultStreamMaxLen is the approximate cap on a job's event stream.
	DefaultStreamMaxLen = 100_000
	// DefaultProbeTimeout bounds Redis.Ready.
	DefaultProbeTimeout = 2 * time.Second
)

var (
	//go:embed publish.lua
	publishLua    string
	publishScript = redis.NewScript(publishLua)
	//go:embed create.lua
	createLua    string
	createScript = redis.NewScript(createLua)
)

// RedisOptions configures a Redis store. The zero value of each field means
// its default.
type RedisOptions struct {
	// Options are the settings every Store shares.
	Options
	// Prefix starts every key and channel name. Empty: DefaultRedisPrefix.
	Prefix string
	// Linger is how long a job's channel stays subscribed after its last
	// subscription closes, so that a quick re-subscribe costs nothing.
	// Zero: DefaultRedisLinger; negative: unsubscribe at once.
	Linger time.Duration
	// StreamMaxLen caps each job's event stream (MAXLEN ~). Zero:
	// DefaultStreamMaxLen; negative: no cap.
	StreamMaxLen int64
	// ProbeTimeout bounds Ready. Zero: DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// Logger receives connection problems. Nil: slog.Default().
	Logger *slog.Logger
	// Metrics counts reconnects and catch-up. Nil: nothing is counted.
	Metrics *metrics.Redis
}

func (o RedisOptions) withDefaults() RedisOptions {
	o.Options = o.Options.WithDefaults()
	if o.Prefix == "" {
		o.Prefix = DefaultRedisPrefix
	}
	if o.Linger == 0 {
		o.Linger = DefaultRedisLinger
	}
	if o.StreamMaxLen == 0 {
		o.StreamMaxLen = DefaultStreamMaxLen
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = DefaultProbeTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Redis is the Store shared by any number of nodes through one Redis.
//
// Every event goes through one Lua script (publish.lua) that assigns the seq,
// updates the hash, appends to the stream and publishes on the channel
// atomically. Each Redis value holds one pub/sub connection, shared by all its
// subscriptions, with one channel subscription per watched job; see
// store_redis_sub.go for how subscribers get every event once and in order
// across reconnects.
//
// All methods are safe for concurrent use.
type Redis struct {
	rdb       redis.UniversalClient
	ownClient bool
	opts      RedisOptions
	node      string
	log       *slog.Logger

	hub *redisHub

	// fixedPubID, set only by tests, replaces the random id of each Publish
	// so a retried call can be simulated.
	fixedPubID string

	closeOnce sync.Once
	closeErr  error
}

// OpenRedis connects to the Redis at url (redis://[user:pass@]host:port/db,
// or rediss://) and returns a store that owns the client: Close closes it.
func OpenRedis(ctx context.Context, url string, opts RedisOptions) (*Redis, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis store: %w", err)
	}
	rdb := redis.NewClient(o)
	r, err := NewRedis(ctx, rdb, opts)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	r.ownClient = true
	return r, nil
}

// NewRedis returns a store on rdb, which it does not close. It checks that
// Redis answers and opens the shared pub/sub connection.
func NewRedis(ctx context.Context, rdb redis.UniversalClient, opts RedisOptions) (*Redis, error) {
	opts = opts.withDefaults()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("redis store: node id: %w", err)
	}
	r := &Redis{rdb: rdb, opts: opts, node: hex.EncodeToString(b[:]), log: opts.Logger}
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis store: %w", err)
	}
	hub, err := newRedisHub(ctx, r)
	if err != nil {
		return nil, err
	}
	r.hub = hub
	return r, nil
}

func (r *Redis) jobKey(id string) string    { return r.opts.Prefix + ":job:{" + id + "}" }
func (r *Redis) eventsKey(id string) string { return r.opts.Prefix + ":events:{" + id + "}" }
func (r *Redis) indexKey() string           { return r.opts.Prefix + ":jobs" }
func (r *Redis) probeChannel() string       { return r.opts.Prefix + ":probe:" + r.node }

func (r *Redis) closed() bool { return r.hub.isClosed() }

// Create implements Store.
func (r *Redis) Create(ctx context.Context, nj NewJob) (Job, error) {
	if nj.ID == "" {
		return Job{}, fmt.Errorf("%w: empty job id", ErrInvalidEvent)
	}
	if r.closed() {
		return Job{}, ErrClosed
	}
	now := r.opts.Clock().UTC()
	j := Job{
		ID: nj.ID, Status: event.StatusQueued,
		Pipeline: append([]string(nil), nj.Pipeline...),
		Stages:   make([]StageState, len(nj.Stages)),
		Created:  now, Updated: now,
	}
	for i, s := range nj.Stages {
		j.Stages[i] = StageState{Stage: s.Stage, Plugin: s.Plugin, Version: s.Version, Status: event.StatusQueued}
	}
	pipeline, err := json.Marshal(j.Pipeline)
	if err != nil {
		return Job{}, fmt.Errorf("redis store: create %s: %w", nj.ID, err)
	}
	args := []any{
		"id", j.ID, "status", j.Status, "pipeline", string(pipeline), "nstages", len(j.Stages),
		"seq", 0, "job_percent", "0", "created", fmtTime(now), "updated", fmtTime(now),
	}
	for i, s := range j.Stages {
		args = append(args, stageField(i, "stage"), s.Stage, stageField(i, "plugin"), s.Plugin,
			stageField(i, "version"), s.Version, stageField(i, "status"), s.Status, stageField(i, "percent"), "0")
	}
	ok, err := createScript.Run(ctx, r.rdb, []string{r.jobKey(j.ID)}, args...).Int()
	if err != nil {
		return Job{}, fmt.Errorf("redis store: create %s: %w", nj.ID, err)
	}
	if ok == 0 {
		return Job{}, fmt.Errorf("%w: %s", ErrExists, nj.ID)
	}
	score := float64(now.UnixMicro())
	if err := r.rdb.ZAdd(ctx, r.indexKey(), redis.Z{Score: score, Member: j.ID}).Err(); err != nil {
		return Job{}, fmt.Errorf("redis store: index %s: %w", nj.ID, err)
	}
	return j, nil
}

// Publish implements Store: one EVALSHA of publish.lua.
func (r *Redis) Publish(ctx context.Context, ev event.Event) (event.Event, error) {
	if err := check(ev, r.opts.MaxResultBytes); err != nil {
		return event.Event{}, err
	}
	if r.closed() {
		return event.Event{}, ErrClosed
	}
	if ev.Time.IsZero() {
		ev.Time = r.opts.Clock().UTC()
	}
	stage := -1
	switch ev.Type {
	case event.TypeJob:
	case event.TypeStage, event.TypePhase:
		if ev.StageIndex == nil || *ev.StageIndex < 0 {
			return event.Event{}, fmt.Errorf("%w: %s event of job %s: stage_index out of range", ErrInvalidEvent, ev.Type, ev.JobID)
		}
		stage = *ev.StageIndex
	default:
		return event.Event{}, fmt.Errorf("%w: unknown type %q", ErrInvalidEvent, ev.Type)
	}
	ev.Seq = 0
	head, tail, err := splitSeq(ev)
	if err != nil {
		return event.Event{}, err
	}
	final := "0"
	if IsFinal(ev) {
		final = "1"
	}
	ttl := int64(0)
	if r.opts.TTL > 0 {
		ttl = max(r.opts.TTL.Milliseconds(), 1)
	}
	maxLen := max(r.opts.StreamMaxLen, 0)
	// pubid makes the script idempotent against go-redis retrying a call
	// whose reply was lost: the repeat returns the first call's seq.
	pubid := r.pubID()
	args := append([]any{head, tail, stage, final, ttl, maxLen, pubid, max(ev.Fence, 0)}, stateFields(ev)...)
	keys := []string{r.jobKey(ev.JobID), r.eventsKey(ev.JobID)}
	seq, err := publishScript.Run(ctx, r.rdb, keys, args...).Int64()
	if err != nil {
		return event.Event{}, fmt.Errorf("redis store: publish to %s: %w", ev.JobID, err)
	}
	switch seq {
	case -1:
		return event.Event{}, fmt.Errorf("%w: %s", ErrNotFound, ev.JobID)
	case -2:
		return event.Event{}, fmt.Errorf("%w: %s", ErrTerminal, ev.JobID)
	case -3:
		return event.Event{}, fmt.Errorf("%w: %s event of job %s: stage_index out of range", ErrInvalidEvent, ev.Type, ev.JobID)
	case -4:
		return event.Event{}, fmt.Errorf("%w: %s: run %d", ErrFenced, ev.JobID, ev.Fence)
	}
	if seq <= 0 {
		return event.Event{}, fmt.Errorf("redis store: publish to %s: script returned %d", ev.JobID, seq)
	}
	ev.Seq, ev.Fence = seq, 0
	if ev.Result != nil {
		ev.Result = append(json.RawMessage(nil), ev.Result...)
	}
	return ev, nil
}

// splitSeq marshals ev (Seq 0) and splits the JSON around the seq number, so
// the script can splice in the seq it assigns.
func splitSeq(ev event.Event) (head, tail string, err error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	// job_id comes first and is a JSON string, in which a quote is escaped,
	// so the first `,"seq":0` is the field itself.
	const mark = `,"seq":`
	i := bytes.Index(b, []byte(mark+"0"))
	if i < 0 {
		return "", "", fmt.Errorf("redis store: no seq in event JSON")
	}
	return string(b[:i+len(mark)]), string(b[i+len(mark)+1:]), nil
}

// stateFields returns the hash fields ev sets, as Job.Apply would set them.
func stateFields(ev event.Event) []any {
	f := []any{"updated", fmtTime(ev.Time)}
	if ev.JobPercent != nil {
		f = append(f, "job_percent", fmtFloat(*ev.JobPercent))
	}
	switch ev.Type {
	case event.TypeJob:
		if ev.Status != "" {
			f = append(f, "status", ev.Status)
		}
		if ev.Error != "" {
			f = append(f, "error", ev.Error)
		}
		if ev.Result != nil {
			f = append(f, "result", string(ev.Result))
		}
	case event.TypeStage, event.TypePhase:
		i := *ev.StageIndex
		if ev.Stage != "" {
			f = append(f, stageField(i, "stage"), ev.Stage)
		}
		if ev.Plugin != "" {
			f = append(f, stageField(i, "plugin"), ev.Plugin, stageField(i, "version"), ev.Version)
		}
		if ev.Percent != nil {
			f = append(f, stageField(i, "percent"), fmtFloat(*ev.Percent))
		}
		if ev.Type == event.TypeStage {
			f = append(f, stageField(i, "status"), ev.Status, stageField(i, "error"), ev.Error)
		} else {
			f = append(f, stageField(i, "source_phase"), ev.SourcePhase, stageField(i, "step"), ev.Step,
				stageField(i, "message"), ev.Message)
		}
	}
	return f
}

// fenceScript raises a job's fencing token: KEYS[1] the job hash. It returns
// the new token, or -1 when there is no such job.
var fenceScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('HINCRBY', KEYS[1], 'fence', 1)
`)

// Fence implements Store.
func (r *Redis) Fence(ctx context.Context, id string) (int64, Job, error) {
	if r.closed() {
		return 0, Job{}, ErrClosed
	}
	fence, err := fenceScript.Run(ctx, r.rdb, []string{r.jobKey(id)}).Int64()
	if err != nil {
		return 0, Job{}, fmt.Errorf("redis store: fence %s: %w", id, err)
	}
	if fence < 0 {
		return 0, Job{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	j, err := r.Get(ctx, id)
	return fence, j, err
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, id string) (Job, error) {
	if r.closed() {
		return Job{}, ErrClosed
	}
	h, err := r.rdb.HGetAll(ctx, r.jobKey(id)).Result()
	if err != nil {
		return Job{}, fmt.Errorf("redis store: get %s: %w", id, err)
	}
	return decodeJob(id, h)
}

// List implements Store. Index entries of expired jobs are removed on the way.
func (r *Redis) List(ctx context.Context, limit int) ([]Job, error) {
	if r.closed() {
		return nil, ErrClosed
	}
	const page = 256
	out := []Job{}
	for start := int64(0); ; start += page {
		ids, err := r.rdb.ZRevRange(ctx, r.indexKey(), start, start+page-1).Result()
		if err != nil {
			return nil, fmt.Errorf("redis store: list: %w", err)
		}
		if len(ids) == 0 {
			return out, nil
		}
		cmds := make([]*redis.MapStringStringCmd, len(ids))
		_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				cmds[i] = p.HGetAll(ctx, r.jobKey(id))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("redis store: list: %w", err)
		}
		var gone []any
		for i, c := range cmds {
			j, err := decodeJob(ids[i], c.Val())
			if errors.Is(err, ErrNotFound) {
				gone = append(gone, ids[i])
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, j)
			if limit > 0 && len(out) == limit {
				return out, nil
			}
		}
		if len(gone) > 0 {
			if err := r.rdb.ZRem(ctx, r.indexKey(), gone...).Err(); err != nil {
				return nil, fmt.Errorf("redis store: list: prune: %w", err)
			}
			start -= int64(len(gone)) // the removed entries shifted the rest up
		}
	}
}

// History implements Store: XRANGE from sinceSeq+1.
func (r *Redis) History(ctx context.Context, id string, sinceSeq int64) ([]event.Event, error) {
	if r.closed() {
		return nil, ErrClosed
	}
	var exists *redis.IntCmd
	var rng *redis.XMessageSliceCmd
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, r.jobKey(id))
		rng = p.XRange(ctx, r.eventsKey(id), streamStart(sinceSeq), "+")
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis store: history of %s: %w", id, err)
	}
	if exists.Val() == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return decodeStream(id, rng.Val())
}

// streamStart is the XRANGE start for events after sinceSeq.
func streamStart(sinceSeq int64) string {
	if sinceSeq < 0 {
		sinceSeq = 0
	}
	return strconv.FormatInt(sinceSeq+1, 10) + "-0"
}

func decodeStream(id string, msgs []redis.XMessage) ([]event.Event, error) {
	out := make([]event.Event, 0, len(msgs))
	for _, m := range msgs {
		s, _ := m.Values["e"].(string)
		var ev event.Event
		if err := json.Unmarshal([]byte(s), &ev); err != nil {
			return nil, fmt.Errorf("redis store: history of %s: entry %s: %w", id, m.ID, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// Close implements Store: every subscription is closed with ErrClosed, the
// pub/sub connection is closed, and so is the client if OpenRedis made it.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		r.closeErr = r.hub.close()
		if r.ownClient {
			r.closeErr = errors.Join(r.closeErr, r.rdb.Close())
		}
	})
	return r.closeErr
}

func stageField(i int, name string) string { return "stage:" + strconv.Itoa(i) + ":" + name }

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// decodeJob turns a job hash into a Job; an empty hash is ErrNotFound.
func decodeJob(id string, h map[string]string) (Job, error) {
	if len(h) == 0 {
		return Job{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	bad := func(field string, err error) (Job, error) {
		return Job{}, fmt.Errorf("redis store: job %s: field %s: %w", id, field, err)
	}
	j := Job{ID: h["id"], Status: h["status"], Error: h["error"]}
	if j.ID == "" {
		j.ID = id
	}
	if err := json.Unmarshal([]byte(h["pipeline"]), &j.Pipeline); err != nil {
		return bad("pipeline", err)
	}
	var err error
	if j.Seq, err = strconv.ParseInt(h["seq"], 10, 64); err != nil {
		return bad("seq", err)
	}
	if j.JobPercent, err = parseFloat(h["job_percent"]); err != nil {
		return bad("job_percent", err)
	}
	if j.Created, err = time.Parse(time.RFC3339Nano, h["created"]); err != nil {
		return bad("created", err)
	}
	if j.Updated, err = time.Parse(time.RFC3339Nano, h["updated"]); err != nil {
		return bad("updated", err)
	}
	if res, ok := h["result"]; ok {
		j.Result = json.RawMessage(res)
	}
	n, err := strconv.Atoi(h["nstages"])
	if err != nil || n < 0 {
		return bad("nstages", errors.Join(err, errors.New("not a count")))
	}
	j.Stages = make([]StageState, n)
	for i := range j.Stages {
		f := func(name string) string { return h[stageField(i, name)] }
		st := StageState{
			Stage: f("stage"), Plugin: f("plugin"), Version: f("version"), Status: f("status"),
			SourcePhase: f("source_phase"), Step: f("step"), Message: f("message"), Error: f("error"),
		}
		if st.Percent, err = parseFloat(f("percent")); err != nil {
			return bad(stageField(i, "percent"), err)
		}
		j.Stages[i] = st
	}
	return j, nil
}

func parseFloat(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseFloat(s, 64)
}

// pubID returns a random id for one Publish call (see publish.lua).
func (r *Redis) pubID() string {
	if r.fixedPubID != "" {
		return r.fixedPubID
	}
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	return hex.EncodeToString(nonce[:])
}
