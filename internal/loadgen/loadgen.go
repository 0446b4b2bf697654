// Package loadgen drives WebSocket watchers of Phasehost jobs against a
// running node on Redis, publishes job events at a set rate straight into the
// Redis store, and reports what the watchers saw: deliveries, latency,
// slow-consumer closes, Redis connections and memory per idle connection.
//
// In baseline mode it plays the seed system instead: one Redis pub/sub
// connection per watcher, subscribed to its job's channel, without a node.
package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/store"
)

// Mode is how watchers receive events.
type Mode string

// Modes.
const (
	// ModeNode: WebSocket clients of the node (GET /v1/ws).
	ModeNode Mode = "node"
	// ModeBaseline: the seed's design, one Redis pub/sub connection per client.
	ModeBaseline Mode = "baseline"
)

// Config is one run. ServerURL and Token are needed in node mode only.
type Config struct {
	Mode Mode
	// ServerURL is the node, http://host:port.
	ServerURL string
	// RedisURL is the Redis the node uses.
	RedisURL string
	// Prefix is the store's key prefix. Empty: store.DefaultRedisPrefix.
	Prefix string
	// Token returns the watch token of a job (the node's, for its --secret).
	Token func(id string) string
	// Clients watchers spread evenly over Jobs jobs.
	Clients, Jobs int
	// Rate is the total events per second, over all jobs.
	Rate float64
	// Duration is how long events are published and measured; Warmup is
	// published before, at the same rate, and not measured.
	Duration, Warmup time.Duration
	// Publishers is how many goroutines publish. Zero: 32.
	Publishers int
	// Drain bounds the wait for deliveries after the terminal events. Zero:
	// max(10s, Duration).
	Drain time.Duration
	// JoinTimeout bounds the opening of all clients. Zero: 60s.
	JoinTimeout time.Duration
	// Settle is the pause between the last join and the idle measurements.
	// Zero: 500ms.
	Settle time.Duration
	// NoReconnect: a client closed with 4008 stays closed instead of
	// reconnecting with since (what a frontend does).
	NoReconnect bool
	// DialConcurrency bounds concurrent connection attempts. Zero: 64.
	DialConcurrency int
	// JobTTL is how long the bench's finished jobs stay in Redis. Zero: 10m.
	JobTTL time.Duration
	Logger *slog.Logger // nil: discard
	// HTTPClient reads /metrics. Nil: a client with a 5s timeout.
	HTTPClient *http.Client
}

func (c Config) withDefaults() (Config, error) {
	if c.Mode == "" {
		c.Mode = ModeNode
	}
	if c.Prefix == "" {
		c.Prefix = store.DefaultRedisPrefix
	}
	if c.Publishers <= 0 {
		c.Publishers = 32
	}
	if c.Drain <= 0 {
		c.Drain = max(10*time.Second, c.Duration)
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = 60 * time.Second
	}
	if c.Settle <= 0 {
		c.Settle = 500 * time.Millisecond
	}
	if c.DialConcurrency <= 0 {
		c.DialConcurrency = 64
	}
	if c.JobTTL <= 0 {
		c.JobTTL = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	switch {
	case c.Mode != ModeNode && c.Mode != ModeBaseline:
		return c, fmt.Errorf("mode %q is not node or baseline", c.Mode)
	case c.RedisURL == "":
		return c, errors.New("the Redis URL is required")
	case c.Mode == ModeNode && c.ServerURL == "":
		return c, errors.New("the server URL is required")
	case c.Mode == ModeNode && c.Token == nil:
		return c, errors.New("a token function is required")
	case c.Clients < 1 || c.Jobs < 1:
		return c, errors.New("clients and jobs must be at least 1")
	case c.Jobs > c.Clients:
		return c, fmt.Errorf("%d jobs for %d clients: every job needs a watcher", c.Jobs, c.Clients)
	case c.Rate <= 0 || math.IsInf(c.Rate, 0) || math.IsNaN(c.Rate):
		return c, errors.New("the rate must be positive")
	case c.Duration <= 0 || c.Warmup < 0:
		return c, errors.New("the duration must be positive and the warmup not negative")
	}
	return c, nil
}

// Latency summarises the latencies of the measured deliveries, in
// milliseconds.
type Latency struct {
	Samples uint64  `json:"samples"`
	Mean    float64 `json:"mean_ms"`
	P50     float64 `json:"p50_ms"`
	P90     float64 `json:"p90_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
}

// PerConn is the growth of a measure between before the clients connected
// and when they were all connected and idle, divided by the clients.
type PerConn struct {
	RSS        float64 `json:"rss_bytes"`
	HeapInuse  float64 `json:"heap_inuse_bytes"`
	StackInuse float64 `json:"stack_inuse_bytes"`
	Goroutines float64 `json:"goroutines"`
}

// Report is the outcome of one run.
type Report struct {
	Mode       Mode    `json:"mode"`
	Clients    int     `json:"clients"`
	Jobs       int     `json:"jobs"`
	TargetRate float64 `json:"target_rate"`
	Duration   float64 `json:"duration_s"`
	Warmup     float64 `json:"warmup_s"`
	// ConnectSeconds is how long opening and joining every client took.
	ConnectSeconds float64 `json:"connect_s"`

	// Published counts the measured phase events published (warmup and
	// terminal events aside); PublishRate is Published over the measured
	// publishing time.
	Published     int64   `json:"events_published"`
	PublishRate   float64 `json:"publish_rate"`
	WarmupEvents  int64   `json:"warmup_events"`
	PublishErrors int64   `json:"publish_errors"`
	// Skipped counts events the schedule wanted that the publishers could
	// not take (their backlog was full): the rate was not reached.
	Skipped int64 `json:"skipped"`

	// Expected is the sum over jobs of watchers × measured events; Received
	// the measured events clients received (each counted once).
	Expected   int64 `json:"deliveries_expected"`
	Received   int64 `json:"deliveries_received"`
	Duplicates int64 `json:"duplicates"`
	// Gaps counts deliveries whose seq was not the previous one + 1.
	Gaps int64 `json:"gaps"`
	// DeliveredRate is Received over the time from the first measured
	// publish to the last measured delivery.
	DeliveredRate float64 `json:"delivered_per_s"`
	Latency       Latency `json:"latency"`
	// FinalSeen is how many clients received their job's terminal event.
	FinalSeen int `json:"final_seen"`

	// Closed4008 counts closes for slowness; Reconnects the reconnections
	// that followed. ClientErrors counts other connection failures.
	Closed4008   int64    `json:"closed_4008"`
	Reconnects   int64    `json:"reconnects"`
	ClientErrors int64    `json:"client_errors"`
	Errors       []string `json:"errors,omitempty"`

	// Redis is CLIENT LIST with every client connected and idle.
	Redis RedisConns `json:"redis_conns"`
	// NumSub is PUBSUB NUMSUB of each job channel at the same time.
	NumSub []int64 `json:"numsub"`
	// RedisMemPerConn is the growth of Redis's used_memory per client.
	RedisMemPerConn float64 `json:"redis_mem_per_conn_bytes"`
	// NodeBefore and NodeIdle are the node's /metrics memory before the
	// clients and with all of them idle (node mode); NodePerConn their
	// difference per client.
	NodeBefore  *NodeMemory `json:"node_before,omitempty"`
	NodeIdle    *NodeMemory `json:"node_idle,omitempty"`
	NodePerConn *PerConn    `json:"node_per_conn,omitempty"`
	// SubscriberPerConn is, in baseline mode, the heap growth of this process
	// per pub/sub connection (the seed node's side of them).
	SubscriberPerConn *PerConn `json:"subscriber_per_conn,omitempty"`
}

// benchJob is one job of the run.
type benchJob struct {
	id, channel, token string
	total              int64        // events planned, for percent
	n                  atomic.Int64 // phase events handed out (the done counter)
	measured           atomic.Int64 // measured events published
	warm               atomic.Int64
	watchers           int
}

// run is the shared state of one run.
type run struct {
	cfg          Config
	jobs         []*benchJob
	measureStart atomic.Int64 // unix ns; 0 until known
	stopping     atomic.Bool

	errMu  sync.Mutex
	errs   []string
	nerrs  int
	firstP atomic.Int64 // unix ns of the first measured publish
	lastP  atomic.Int64
}

func (r *run) noteErr(format string, args ...any) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	r.nerrs++
	if len(r.errs) < 10 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
}

// Run runs one benchmark. The error is for a run that could not be made
// (Redis unreachable, clients that could not join); problems during the run
// are in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("--redis: %w", err)
	}
	ropts.ClientName = ToolClientName
	ropts.PoolSize = cfg.Publishers + 4
	ctl := redis.NewClient(ropts)
	defer ctl.Close()
	st, err := store.NewRedis(ctx, ctl, store.RedisOptions{
		Options: store.Options{TTL: cfg.JobTTL}, Prefix: cfg.Prefix, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	defer st.Close()

	r := &run{cfg: cfg}
	if err := r.createJobs(ctx, st); err != nil {
		return nil, err
	}
	rep := &Report{
		Mode: cfg.Mode, Clients: cfg.Clients, Jobs: cfg.Jobs, TargetRate: cfg.Rate,
		Duration: cfg.Duration.Seconds(), Warmup: cfg.Warmup.Seconds(),
	}

	// Before the clients.
	var before NodeMemory
	haveBefore := false
	if cfg.Mode == ModeNode {
		if before, err = scrapeMemory(ctx, cfg.HTTPClient, cfg.ServerURL); err != nil {
			r.noteErr("memory before: %v", err)
		} else {
			haveBefore = true
		}
	}
	redisBefore, redisMemErr := redisUsedMemory(ctx, ctl)
	heapBefore := selfMemory()

	// Open and join the clients.
	cs, closeClients, err := r.openClients(ctx)
	if err != nil {
		return nil, err
	}
	defer closeClients()
	start := time.Now()
	if err := r.awaitJoins(ctx, cs); err != nil {
		return nil, err
	}
	rep.ConnectSeconds = time.Since(start).Seconds()
	cfg.Logger.Info("clients joined", slog.Int("clients", len(cs)), slog.Duration("took", time.Since(start)))

	// Idle: memory, connections, subscriptions.
	time.Sleep(cfg.Settle)
	if cfg.Mode == ModeNode {
		idle, err := scrapeMemory(ctx, cfg.HTTPClient, cfg.ServerURL)
		if err != nil {
			r.noteErr("memory idle: %v", err)
		} else {
			rep.NodeIdle = &idle
			if haveBefore {
				rep.NodeBefore = &before
				rep.NodePerConn = &PerConn{
					RSS:        (idle.RSS - before.RSS) / float64(cfg.Clients),
					HeapInuse:  (idle.HeapInuse - before.HeapInuse) / float64(cfg.Clients),
					StackInuse: (idle.StackInuse - before.StackInuse) / float64(cfg.Clients),
					Goroutines: (idle.Goroutines - before.Goroutines) / float64(cfg.Clients),
				}
			}
		}
	} else {
		heapIdle := selfMemory()
		rep.SubscriberPerConn = &PerConn{
			RSS:       (heapIdle.RSS - heapBefore.RSS) / float64(cfg.Clients),
			HeapInuse: (heapIdle.HeapInuse - heapBefore.HeapInuse) / float64(cfg.Clients),
		}
	}
	if redisMemErr == nil {
		if after, err := redisUsedMemory(ctx, ctl); err == nil {
			rep.RedisMemPerConn = float64(after-redisBefore) / float64(cfg.Clients)
		}
	}
	if rep.Redis, err = clientList(ctx, ctl); err != nil {
		r.noteErr("%v", err)
	}
	channels := make([]string, len(r.jobs))
	for i, j := range r.jobs {
		channels[i] = j.channel
	}
	if rep.NumSub, err = numSub(ctx, ctl, channels); err != nil {
		r.noteErr("%v", err)
	}

	// Publish, then end every job.
	r.publish(ctx, st, rep)
	for _, j := range r.jobs {
		ev := event.Event{JobID: j.id, Time: time.Now(), Type: event.TypeJob, Status: event.StatusSucceeded, JobPercent: event.Float(100)}
		if _, err := st.Publish(ctx, ev); err != nil {
			r.noteErr("terminal event of %s: %v", j.id, err)
		}
	}

	// Wait for the deliveries.
	drain := time.NewTimer(cfg.Drain)
	defer drain.Stop()
wait:
	for _, c := range cs {
		select {
		case <-c.done:
		case <-drain.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	r.stopping.Store(true)
	closeClients()
	r.collect(cs, rep)
	return rep, nil
}

// createJobs creates the jobs in Redis through the store and publishes their
// first event (running), which each joining client then receives as history:
// that is its join acknowledgement. Jobs created in the store, not submitted
// to the node, are in no node's queue: no worker runs them.
func (r *run) createJobs(ctx context.Context, st *store.Redis) error {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	runID := hex.EncodeToString(b[:])
	total := int64(math.Ceil(r.cfg.Rate*(r.cfg.Duration+r.cfg.Warmup).Seconds()/float64(r.cfg.Jobs))) + 1
	for i := range r.cfg.Jobs {
		id := "bench-" + runID + "-" + strconv.Itoa(i)
		j := &benchJob{id: id, channel: r.cfg.Prefix + ":job:{" + id + "}", total: total}
		if r.cfg.Token != nil {
			j.token = r.cfg.Token(id)
		}
		_, err := st.Create(ctx, store.NewJob{
			ID: id, Pipeline: []string{benchStage},
			Stages: []store.StageState{{Stage: benchStage, Plugin: benchStage, Version: benchVersion}},
		})
		if err != nil {
			return fmt.Errorf("create job: %w", err)
		}
		if _, err := st.Publish(ctx, event.Event{JobID: id, Time: time.Now(), Type: event.TypeJob, Status: event.StatusRunning, JobPercent: event.Float(0)}); err != nil {
			return fmt.Errorf("start job: %w", err)
		}
		r.jobs = append(r.jobs, j)
	}
	return nil
}

// The stage the bench's events claim: the reference assembly4 plugin.
const (
	benchStage   = "assembly4"
	benchVersion = "1.0.0"
)

func (r *run) phaseEvent(j *benchJob, n int64, t time.Time) event.Event {
	pct := min(100, 100*float64(n)/float64(j.total))
	return event.Event{
		JobID: j.id, Time: t, Type: event.TypePhase,
		Stage: benchStage, StageIndex: event.Int(0), Plugin: benchStage, Version: benchVersion,
		SourcePhase: "SOLVER_PROGRESS", Step: "solver", Phase: "PROGRESS",
		Done: event.Int64(n), Total: event.Int64(j.total), Percent: event.Float(pct), JobPercent: event.Float(pct),
	}
}

// publish publishes phase events at cfg.Rate for Warmup+Duration: a ticker
// hands out, every millisecond, the events due by then, round-robin over the
// jobs, to Publishers goroutines.
func (r *run) publish(ctx context.Context, st *store.Redis, rep *Report) {
	cfg := r.cfg
	queue := make(chan int, max(int(cfg.Rate/20), 64)) // at most 50ms of backlog
	var wg sync.WaitGroup
	var pubErrs atomic.Int64
	for range cfg.Publishers {
		wg.Go(func() {
			for ji := range queue {
				j := r.jobs[ji]
				n := j.n.Add(1)
				t := time.Now()
				if _, err := st.Publish(ctx, r.phaseEvent(j, n, t)); err != nil {
					if pubErrs.Add(1) <= 3 {
						r.noteErr("publish: %v", err)
					}
					continue
				}
				if t.UnixNano() < r.measureStart.Load() {
					j.warm.Add(1)
					continue
				}
				j.measured.Add(1)
				r.firstP.CompareAndSwap(0, t.UnixNano())
				done := time.Now().UnixNano()
				for {
					old := r.lastP.Load()
					if done <= old || r.lastP.CompareAndSwap(old, done) {
						break
					}
				}
			}
		})
	}
	start := time.Now()
	r.measureStart.Store(start.Add(cfg.Warmup).UnixNano())
	end := start.Add(cfg.Warmup + cfg.Duration)
	tick := time.NewTicker(time.Millisecond)
	var dispatched, skipped int64
	next := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-tick.C:
			if now.After(end) {
				now = end
			}
			due := int64(cfg.Rate*now.Sub(start).Seconds()) - dispatched
			for due > 0 {
				select {
				case queue <- next:
					next = (next + 1) % len(r.jobs)
					dispatched++
					due--
				default: // the publishers are behind: drop the rest of this batch
					skipped += due
					dispatched += due
					due = 0
				}
			}
			if !now.Before(end) {
				break loop
			}
		}
	}
	tick.Stop()
	close(queue)
	wg.Wait()
	rep.Skipped = skipped
	rep.PublishErrors = pubErrs.Load()
	for _, j := range r.jobs {
		rep.Published += j.measured.Load()
		rep.WarmupEvents += j.warm.Load()
		rep.Expected += j.measured.Load() * int64(j.watchers)
	}
	if f, l := r.firstP.Load(), r.lastP.Load(); f > 0 && l > f {
		rep.PublishRate = float64(rep.Published) / time.Duration(l-f).Seconds()
	}
}

// collect merges the clients' counts into rep.
func (r *run) collect(cs []*client, rep *Report) {
	var h Histogram
	var lastRecv int64
	for _, c := range cs {
		h.Merge(&c.hist)
		rep.Received += c.received
		rep.Duplicates += c.dups
		rep.Gaps += c.gaps
		rep.Closed4008 += c.closed4008
		rep.Reconnects += c.reconnects
		rep.ClientErrors += c.errors
		if c.final {
			rep.FinalSeen++
		}
		lastRecv = max(lastRecv, c.lastRecv)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	rep.Latency = Latency{
		Samples: h.Count(), Mean: ms(h.Mean()),
		P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)), P99: ms(h.Quantile(0.99)), Max: ms(h.Max()),
	}
	if f := r.firstP.Load(); f > 0 && lastRecv > f {
		rep.DeliveredRate = float64(rep.Received) / time.Duration(lastRecv-f).Seconds()
	}
	r.errMu.Lock()
	rep.Errors = append(rep.Errors, r.errs...)
	if r.nerrs > len(r.errs) {
		rep.Errors = append(rep.Errors, fmt.Sprintf("... and %d more", r.nerrs-len(r.errs)))
	}
	r.errMu.Unlock()
}
