package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phasehost/phasehost/host/cluster"
	"github.com/phasehost/phasehost/host/metrics"
	"github.com/phasehost/phasehost/host/pipeline"
	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/host/queue"
	"github.com/phasehost/phasehost/host/registry"
	"github.com/phasehost/phasehost/host/store"
)

// Config configures a Server. Store and Registry are required; every other
// zero field means its default.
type Config struct {
	Store    store.Store
	Registry *registry.Registry
	// Engine, when set, gives the policy used to report plugins' effective limits.
	Engine *plugin.Engine
	Logger *slog.Logger // nil: slog.Default()
	// Metrics counts events; ServerMetrics counts jobs and streams. Nil: not counted.
	Metrics       *metrics.Metrics
	ServerMetrics *metrics.Server
	// Gatherer is served on /metrics. Nil: /metrics answers 404.
	Gatherer prometheus.Gatherer
	// Secret keys the job tokens (HMAC-SHA256). Empty: 32 random bytes, so
	// tokens do not survive a restart.
	Secret []byte
	// OperatorToken grants access to every job and to GET /v1/jobs. Empty:
	// no operator access (GET /v1/jobs is forbidden).
	OperatorToken string
	Workers       int           // 0: 4
	QueueSize     int           // 0: 64
	MaxBodyBytes  int64         // 0: 8 MiB
	MaxPipeline   int           // 0: 32 stages
	Heartbeat     time.Duration // SSE comment interval; 0: 15s
	// ShutdownGrace is how long Run's shutdown lets running jobs finish. 0: 30s.
	ShutdownGrace time.Duration
	// PublishRetry is how long a job's worker keeps retrying an event the
	// store could not publish for a transient reason (Redis unreachable)
	// before it fails the job. 0: 30s; negative: no retry.
	PublishRetry time.Duration
	// ReadyCache is how long /readyz reuses the store's readiness probe
	// (Store implementing Ready(ctx) error, e.g. the Redis store). 0: 1s.
	ReadyCache time.Duration
	// WebSocket configures GET /v1/ws (ws.go).
	WebSocket WSConfig
	// Cluster shares uploaded plugins with the nodes of one Redis and lists
	// them (GET /v1/nodes; nodes.go). Nil: this node alone.
	Cluster *cluster.Cluster
	// Queue, when set, carries jobs between the nodes of one Redis
	// (shared.go): accepted jobs are pushed on it and the workers take
	// jobs from it; QueueSize then caps the jobs waiting in the whole
	// cluster. Nil: jobs run on the node that accepted them.
	Queue *queue.Queue
	// MaxAttempts is how many nodes may take a job from Queue before it is
	// failed (each one having died or stalled with it). 0: DefaultMaxAttempts.
	MaxAttempts int
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 64
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 8 << 20
	}
	if c.MaxPipeline <= 0 {
		c.MaxPipeline = 32
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	if c.PublishRetry == 0 {
		c.PublishRetry = 30 * time.Second
	}
	if c.ReadyCache <= 0 {
		c.ReadyCache = time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	return c
}

// Server is the HTTP API and its job workers. Make it with New, serve
// Handler (or call Run), and Shutdown when done.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   store.Store
	reg     *registry.Registry
	runner  *pipeline.Runner
	pub     *countingPublisher
	sm      *metrics.Server
	handler http.Handler
	ws      *wsServer
	cluster *cluster.Cluster // nodes.go

	queue    chan *activeJob
	slots    chan struct{} // one per queued job: a reservation in queue
	mu       sync.Mutex
	active   map[string]*activeJob
	closing  chan struct{} // closed when shutdown begins: SSE streams end
	stopping atomic.Bool
	workers  sync.WaitGroup
	runCtx   context.Context // jobs run under it; cancelled as a last resort
	stopRuns context.CancelFunc
	// takeCtx ends when shutdown begins: the workers take no more jobs from
	// the shared queue.
	takeCtx    context.Context
	stopTaking context.CancelFunc
	once       sync.Once

	readyMu  sync.Mutex // held across a probe: concurrent /readyz wait for it
	readyAt  time.Time  // when readyErr was probed
	readyErr error
}

// readiness is what a store may implement to tell /readyz whether it can
// serve: the Redis store checks that Redis answers and that its shared
// subscription still hears.
type readiness interface {
	Ready(ctx context.Context) error
}

// New builds a Server and starts its workers.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if cfg.Store == nil || cfg.Registry == nil {
		return nil, errors.New("server: Store and Registry are required")
	}
	if len(cfg.Secret) == 0 {
		cfg.Secret = make([]byte, 32)
		if _, err := rand.Read(cfg.Secret); err != nil {
			return nil, fmt.Errorf("server: random secret: %w", err)
		}
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		store:   cfg.Store,
		reg:     cfg.Registry,
		sm:      cfg.ServerMetrics,
		queue:   make(chan *activeJob, cfg.QueueSize),
		slots:   make(chan struct{}, cfg.QueueSize),
		active:  map[string]*activeJob{},
		closing: make(chan struct{}),
	}
	s.cluster = clusterOf(cfg) // nodes.go
	s.cluster.SetRunning(s.runningJobs)
	s.pub = &countingPublisher{s: cfg.Store, m: cfg.Metrics, retry: cfg.PublishRetry, log: cfg.Logger}
	s.runner = pipeline.NewRunner(s.pub, nil)
	ws, err := newWS(s)
	if err != nil {
		return nil, err
	}
	s.ws = ws
	s.runCtx, s.stopRuns = context.WithCancel(context.Background())
	s.takeCtx, s.stopTaking = context.WithCancel(context.Background())
	s.handler = s.routes()
	for range cfg.Workers {
		s.workers.Add(1)
		if cfg.Queue != nil {
			go s.sharedWorker()
		} else {
			go s.worker()
		}
	}
	return s, nil
}

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	r.NoRoute(func(c *gin.Context) {
		s.writeError(c, fmt.Errorf("%w: %s %s", ErrRouteNotFound, c.Request.Method, c.Request.URL.Path))
	})
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.ready)
	if s.cfg.Gatherer != nil {
		h := promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{})
		r.GET("/metrics", gin.WrapH(h))
	}
	v1 := r.Group("/v1")
	v1.POST("/jobs", s.submit)
	v1.GET("/jobs", s.listJobs)
	v1.GET("/jobs/:id", s.getJob)
	v1.DELETE("/jobs/:id", s.cancelJob)
	v1.GET("/jobs/:id/events", s.events)
	v1.GET("/ws", s.ws.handle)
	v1.GET("/plugins", s.listPlugins)
	// nodes.go: an upload or removal that succeeds is published to the cluster.
	v1.POST("/plugins", s.publishing(s.uploadPlugin))
	v1.DELETE("/plugins/:name/:version", s.unpublishing(s.removePlugin))
	v1.GET("/nodes", s.listNodes)
	v1.PUT("/plugins/:name/active", s.putActive)       // plugins_pin.go
	v1.DELETE("/plugins/:name/active", s.deleteActive) // plugins_pin.go
	s.mountWeb(r)                                      // web.go: dashboard, /v1/client.js, /v1/example, /v1/openapi.json
	return r
}

func (s *Server) ready(c *gin.Context) {
	switch {
	case s.stopping.Load():
		s.writeError(c, ErrShuttingDown)
	case len(s.reg.List()) == 0:
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, errorBody{Error: errorDetail{Code: "no_plugins", Message: "no plugin loaded"}})
	default:
		if err := s.storeReady(c.Request.Context()); err != nil {
			s.writeError(c, fmt.Errorf("%w: %w", ErrNotReady, err))
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	}
}

// storeReady probes the store's readiness when it can tell, at most once per
// Config.ReadyCache: probes from load balancers do not flood Redis.
func (s *Server) storeReady(ctx context.Context) error {
	r, ok := s.store.(readiness)
	if !ok {
		return nil
	}
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if !s.readyAt.IsZero() && time.Since(s.readyAt) < s.cfg.ReadyCache {
		return s.readyErr
	}
	// The probe is not cut short by one impatient client: its answer serves
	// every probe of the next ReadyCache.
	err := r.Ready(context.WithoutCancel(ctx))
	s.readyAt, s.readyErr = time.Now(), err
	if err != nil {
		s.log.Warn("store not ready", errAttr(err))
	}
	return err
}

// pluginInfo is one entry of GET /v1/plugins.
type pluginInfo struct {
	Name        string     `json:"name"`
	Version     string     `json:"version"`
	Stage       string     `json:"stage"`
	Description string     `json:"description"`
	Phases      any        `json:"phases"`
	Limits      limitsInfo `json:"limits"`
	Weight      float64    `json:"weight"`
	SHA256      string     `json:"sha256"`
	Size        int        `json:"size"`
	Active      bool       `json:"active"`           // a bare name resolves to this version
	Pinned      bool       `json:"pinned,omitempty"` // active because an operator pinned it
}

// limitsInfo is a plugin's effective limits (its manifest's, capped by policy).
type limitsInfo struct {
	MemoryMB       int64 `json:"memory_mb"`
	TimeoutMS      int64 `json:"timeout_ms"`
	MaxEvents      int64 `json:"max_events"`
	MaxOutputBytes int64 `json:"max_output_bytes"`
}

func (s *Server) listPlugins(c *gin.Context) {
	out := []pluginInfo{}
	for _, e := range s.reg.Entries() {
		info := infoOf(e.Plugin) // plugins.go
		info.Active, info.Pinned = e.Active, e.Pinned
		out = append(out, info)
	}
	c.JSON(http.StatusOK, gin.H{"plugins": out})
}

// Run serves on addr until ctx is done, then shuts down within
// Config.ShutdownGrace.
func (s *Server) Run(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("listening", slog.String("addr", ln.Addr().String()))
	select {
	case err := <-errc:
		_ = s.Shutdown(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", slog.Duration("grace", s.cfg.ShutdownGrace))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownGrace)
	defer cancel()
	s.beginShutdown()
	herr := hs.Shutdown(sctx)
	serr := s.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		herr = errors.Join(herr, err)
	}
	return errors.Join(herr, serr)
}

// beginShutdown refuses new jobs, cancels queued ones and ends SSE streams.
func (s *Server) beginShutdown() {
	s.once.Do(func() {
		s.mu.Lock()
		s.stopping.Store(true)
		s.stopTaking()
		close(s.queue) // submit sends under s.mu after checking stopping: no send follows
		jobs := make([]*activeJob, 0, len(s.active))
		for _, j := range s.active {
			jobs = append(jobs, j)
		}
		s.mu.Unlock()
		close(s.closing)
		s.ws.shutdown() // sessions close with 1001
		// Concurrently: with the store unreachable each one may wait for
		// the publisher's retry.
		var wg sync.WaitGroup
		for _, j := range jobs {
			wg.Go(func() { s.cancelQueued(j, "server shutting down") })
		}
		wg.Wait()
	})
}

// Shutdown stops accepting jobs, ends SSE streams, cancels queued jobs and
// waits for running ones until ctx is done; then it cancels them (or, taken
// from the shared queue, hands them over to another node) and waits for the
// workers to return. It does not close the Store.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginShutdown()
	done := make(chan struct{})
	go func() { s.workers.Wait(); close(done) }()
	select {
	case <-done:
		s.stopRuns()
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for _, j := range s.active {
		if j.delivery != nil {
			go s.handOver(j)
		} else {
			j.requestCancel()
		}
	}
	s.mu.Unlock()
	grace := 5 * time.Second
	if s.cfg.Engine != nil {
		grace = s.cfg.Engine.Policy().CancelGrace + time.Second
	}
	select {
	case <-done:
	case <-time.After(grace):
		s.stopRuns()
		<-done
	}
	s.stopRuns()
	if s.cfg.Queue != nil {
		return fmt.Errorf("shutdown: running jobs handed over to other nodes: %w", ctx.Err())
	}
	return fmt.Errorf("shutdown: running jobs cancelled: %w", ctx.Err())
}
