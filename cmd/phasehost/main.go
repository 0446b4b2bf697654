// Command phasehost is the Phasehost server: the HTTP API, SSE event streams
// and the job workers running WebAssembly stage plugins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/phasehost/phasehost/host/cluster"
	"github.com/phasehost/phasehost/host/metrics"
	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/host/queue"
	"github.com/phasehost/phasehost/host/registry"
	"github.com/phasehost/phasehost/host/server"
	"github.com/phasehost/phasehost/host/store"
)

type config struct {
	addr, plugins, secret, operatorToken, cacheDir, logLevel string
	redisURL, redisPrefix                                    string
	wsOrigins                                                listFlag
	workers, queue                                           int
	jobTTL, shutdownTimeout, publishRetry, jobLease          time.Duration
	clusterResync                                            time.Duration
	maxAttempts                                              int
	maxBody                                                  int64
	// policy caps what plugins may ask for (zero: plugin.DefaultPolicy).
	policy         plugin.Policy
	maxResultBytes int
	// watch: keep the registry in step with --plugins (a directory).
	watch bool
	// warm is how many pre-warmed instances each active plugin version keeps.
	warm int
	// nodeID names this node in GET /v1/nodes and in cluster announcements.
	nodeID string
}

// listFlag is a flag that may be repeated, each value a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*l = append(*l, x)
		}
	}
	return nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "phasehost:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		slog.Error("phasehost stopped", server.ErrorAttr(err))
		os.Exit(1)
	}
}

// parseFlags reads flags; a flag not on the command line is read from
// PHASEHOST_<FLAG> when that is set, and a bad value is an error either way.
func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("phasehost", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: phasehost [flags]

phasehost serves the Phasehost HTTP API (/v1): it runs pipelines of
WebAssembly stage plugins loaded from --plugins and streams job events over
SSE and WebSocket. Jobs live in memory (one node) unless --redis names a
Redis shared by any number of nodes; nodes sharing --secret accept each
other's job tokens. Every flag can also be set with an environment variable, PHASEHOST_ and
the flag name in upper case with - as _ (e.g. PHASEHOST_OPERATOR_TOKEN);
a flag on the command line wins.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&c.plugins, "plugins", "bin/plugins", "directory of plugin modules (.wasm); the server refuses to start if none loads")
	fs.BoolVar(&c.watch, "watch", true, "when --plugins is a directory, watch it: a new or changed .wasm is loaded, a removed one unloaded (its running and queued jobs finish first)")
	fs.IntVar(&c.warm, "warm", 2, "pre-warmed instances (instantiated, _initialize run) kept per active plugin version, so a stage starts at its run entry; 0 disables")
	fs.StringVar(&c.secret, "secret", "", "secret keying job tokens (HMAC-SHA256); empty: random per process")
	fs.StringVar(&c.operatorToken, "operator-token", "", "token granting access to every job and to GET /v1/jobs; empty: none")
	fs.IntVar(&c.workers, "workers", 4, "jobs run at once")
	fs.IntVar(&c.queue, "queue", 64, "jobs that may wait for a worker; more are refused with 503")
	fs.DurationVar(&c.jobTTL, "job-ttl", 24*time.Hour, "how long a finished job and its events are kept")
	fs.Int64Var(&c.maxBody, "max-body", 8<<20, "largest accepted request body, bytes")
	fs.StringVar(&c.cacheDir, "cache-dir", "", "compilation cache directory; empty: in memory")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.redisURL, "redis", "", "Redis URL (redis://[user:pass@]host:port/db or rediss://) of the store shared by several nodes; empty: the embedded memory engine")
	fs.StringVar(&c.redisPrefix, "redis-prefix", store.DefaultRedisPrefix, "prefix of every Redis key and channel")
	fs.StringVar(&c.nodeID, "node-id", "", "this node's id in GET /v1/nodes and the cluster; empty: random per process")
	fs.DurationVar(&c.clusterResync, "cluster-resync", cluster.DefaultResyncInterval, "with --redis: how often the node checks its plugins and pins against Redis, catching up on announcements it missed; negative: only at start and when a missed one is noticed")
	fs.DurationVar(&c.jobLease, "job-lease", queue.DefaultLease, "with --redis: how long a node may go without renewing its hold on a running job before another node takes the job over and runs it again (the lease is renewed every third of this)")
	fs.IntVar(&c.maxAttempts, "max-attempts", server.DefaultMaxAttempts, "with --redis: how many times a job may be started, its first run included, before it is failed (each take-over after a node died, stalled or shut down is one more)")
	fs.Var(&c.wsOrigins, "ws-origin", "browser origin (https://app.example.com) allowed to open WebSockets besides the server's own host; repeat or separate with commas; * allows any")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long running jobs may finish before they are cancelled")
	fs.DurationVar(&c.publishRetry, "publish-retry", 30*time.Second, "how long a job keeps retrying an event the store cannot take (Redis down) before it fails; 0: no retry")
	d := plugin.DefaultPolicy()
	fs.Int64Var(&c.policy.MaxMemoryMB, "max-memory-mb", d.MaxMemoryMB, "cap on a plugin's limits.memory_mb")
	fs.DurationVar(&c.policy.MaxTimeout, "max-timeout", d.MaxTimeout, "cap on a plugin's limits.timeout_ms")
	fs.Int64Var(&c.policy.MaxEvents, "max-events", d.MaxEvents, "cap on a plugin's limits.max_events")
	fs.Int64Var(&c.policy.MaxOutputBytes, "max-output-bytes", d.MaxOutputBytes, "cap on a plugin's limits.max_output_bytes")
	fs.DurationVar(&c.policy.CancelGrace, "cancel-grace", d.CancelGrace, "how long a cancelled stage may take to return before it is stopped")
	fs.Int64Var(&c.policy.MaxModuleBytes, "max-module-bytes", d.MaxModuleBytes, "largest plugin module accepted")
	fs.IntVar(&c.maxResultBytes, "max-result-bytes", store.DefaultMaxResultBytes, "largest job result kept; a larger one fails the job")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	// The environment fills what the command line left out. Secrets are
	// read here too, so --help never prints them.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "PHASEHOST_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok || isSet(fs, f.Name) || envErr != nil {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			envErr = fmt.Errorf("%s=%q: %w", name, v, err)
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if c.shutdownTimeout <= 0 {
		return c, errors.New("--shutdown-timeout: must be positive")
	}
	if c.publishRetry < 0 {
		return c, errors.New("--publish-retry: must not be negative")
	}
	if c.warm < 0 {
		return c, errors.New("--warm: must not be negative")
	}
	if c.jobLease < time.Second {
		return c, errors.New("--job-lease: must be at least 1s")
	}
	if c.maxAttempts < 1 {
		return c, errors.New("--max-attempts: must be at least 1")
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return c, nil
}

func run(ctx context.Context, c config) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	redis.SetLogger(redisLogger{log}) // go-redis's own lines, as JSON records too

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	engine, err := plugin.NewEngine(plugin.Options{Policy: c.policy, CacheDir: c.cacheDir, Logger: log, Metrics: m})
	if err != nil {
		return err
	}
	defer engine.Close(context.WithoutCancel(ctx))

	plugins := registry.New()
	plugins.SetWarm(c.warm)
	watcher := registry.NewWatcher(plugins, engine, c.plugins, registry.WatchOptions{Logger: log})
	loaded, failed, err := watcher.Scan(ctx)
	if err != nil {
		return fmt.Errorf("--plugins: %w", err)
	}
	for _, f := range failed {
		log.Error("plugin not loaded", slog.String("file", f.Path), server.ErrorAttr(f.Err))
	}
	if len(loaded) == 0 {
		return fmt.Errorf("--plugins %s: no plugin loaded", c.plugins)
	}
	if st, err := os.Stat(c.plugins); err == nil && st.IsDir() && c.watch {
		go func() {
			if err := watcher.Run(ctx); err != nil {
				log.Error("not watching the plugins directory", slog.String("dir", c.plugins), server.ErrorAttr(err))
			}
		}()
	}

	st, err := openStore(ctx, c, log, metrics.NewRedis(reg))
	if err != nil {
		return err
	}
	defer st.Close()
	cl, err := openCluster(ctx, c, log, engine, plugins, st)
	if err != nil {
		return err
	}
	defer cl.Close()
	q, err := openQueue(ctx, c, log, cl.ID())
	if err != nil {
		return err
	}
	if q != nil {
		defer q.Close() // after the server's shutdown: its workers have returned
	}
	publishRetry := c.publishRetry
	if publishRetry == 0 {
		publishRetry = -1 // server.Config: negative is no retry
	}
	srv, err := server.New(server.Config{
		Store: st, Registry: plugins, Engine: engine, Logger: log,
		Metrics: m, ServerMetrics: metrics.NewServer(reg), Gatherer: reg,
		Secret: []byte(c.secret), OperatorToken: c.operatorToken,
		Workers: c.workers, QueueSize: c.queue, MaxBodyBytes: c.maxBody,
		ShutdownGrace: c.shutdownTimeout, PublishRetry: publishRetry,
		WebSocket: server.WSConfig{AllowedOrigins: c.wsOrigins, Metrics: metrics.NewHub(reg)},
		Cluster:   cl,
		Queue:     q, MaxAttempts: c.maxAttempts,
	})
	if err != nil {
		return err
	}
	// Joins after server.New, which tells the heartbeat how to count jobs.
	if err := cl.Start(ctx); err != nil {
		return fmt.Errorf("--redis: %w", err)
	}
	return srv.Run(ctx, c.addr)
}

// openStore opens the Redis store when --redis is set, else the memory one.
func openStore(ctx context.Context, c config, log *slog.Logger, rm *metrics.Redis) (store.Store, error) {
	opts := store.Options{TTL: c.jobTTL, MaxResultBytes: c.maxResultBytes}
	if c.redisURL == "" {
		log.Info("store: embedded memory engine (one node)")
		return store.NewMemory(opts), nil
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := store.OpenRedis(octx, c.redisURL, store.RedisOptions{Options: opts, Prefix: c.redisPrefix, Logger: log, Metrics: rm})
	if err != nil {
		return nil, fmt.Errorf("--redis: %w", err)
	}
	log.Info("store: redis", slog.String("redis", redactURL(c.redisURL)), slog.String("prefix", c.redisPrefix))
	return st, nil
}

// openCluster is the node's cluster membership: on the Redis of --redis it
// shares uploaded plugins (not those of --plugins) and lists the live nodes;
// without --redis the node is alone.
func openCluster(ctx context.Context, c config, log *slog.Logger, engine *plugin.Engine, reg *registry.Registry, st store.Store) (*cluster.Cluster, error) {
	opts := cluster.Options{Prefix: c.redisPrefix, NodeID: c.nodeID, Addr: c.addr, Version: buildVersion(),
		Engine: engine, Registry: reg, Logger: log, ResyncInterval: c.clusterResync}
	// The control channel rides on the store's pub/sub connection: one per node.
	if l, ok := st.(cluster.Listener); ok {
		opts.Listener = l
	}
	if c.redisURL == "" {
		return cluster.Local(opts), nil
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cl, err := cluster.Open(octx, c.redisURL, opts)
	if err != nil {
		return nil, fmt.Errorf("--redis: %w", err)
	}
	return cl, nil
}

// openQueue is the job queue shared by the nodes of --redis (nil without):
// this node's workers take jobs from it as consumer nodeID.
func openQueue(ctx context.Context, c config, log *slog.Logger, nodeID string) (*queue.Queue, error) {
	if c.redisURL == "" {
		return nil, nil
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	q, err := queue.Open(octx, c.redisURL, queue.Options{Prefix: c.redisPrefix, Consumer: nodeID, Lease: c.jobLease, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--redis: %w", err)
	}
	log.Info("jobs: shared queue", slog.String("stream", q.Key()), slog.Duration("lease", c.jobLease))
	return q, nil
}

// buildVersion is the module version the binary was built from, or "devel".
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// redisLogger routes go-redis's internal log lines (dial failures while
// Redis is down) into the JSON log.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", slog.String("detail", fmt.Sprintf(format, v...)))
}

// redactURL hides the password of a Redis URL, for logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// isSet reports whether flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
