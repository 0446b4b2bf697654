// Package metrics defines Phasehost's Prometheus metrics. A *Metrics is made
// once per process (or per test) with New and handed to the parts that count;
// there is no package-level registry. A nil *Metrics counts nothing, so parts
// can be used without one.
//
// All methods are safe for concurrent use.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds every collector.
type Metrics struct {
	refusedPhases  *prometheus.CounterVec
	pluginRuns     *prometheus.CounterVec
	pluginFailures *prometheus.CounterVec
	runSeconds     *prometheus.HistogramVec
	events         *prometheus.CounterVec
	pluginLoads    *prometheus.CounterVec
	idleMemory     prometheus.Gauge
}

// New creates the collectors and registers them with reg (nil: not registered).
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		refusedPhases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phasehost_refused_phase_ids_total",
			Help: "Emits refused because the phase id is not declared in the plugin's manifest.",
		}, []string{"plugin", "version"}),
		pluginRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phasehost_plugin_runs_total",
			Help: "Plugin runs by outcome (succeeded, failed, cancelled).",
		}, []string{"plugin", "version", "outcome"}),
		pluginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phasehost_plugin_failures_total",
			Help: "Failed plugin runs by cause (trap, timeout, memory, out_of_bounds, failed, exit, output).",
		}, []string{"plugin", "version", "cause"}),
		runSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "phasehost_plugin_run_seconds",
			Help:    "Wall time of plugin runs, instantiation included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"plugin", "version"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phasehost_events_published_total",
			Help: "Job events published, by type.",
		}, []string{"type"}),
		pluginLoads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phasehost_plugin_loads_total",
			Help: "Plugin module loads by result (ok, invalid).",
		}, []string{"result"}),
		idleMemory: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phasehost_guest_memory_idle_bytes",
			Help: "Guest memory kept zeroed for the next instances (closed instances' mappings, resident at most this much).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.refusedPhases, m.pluginRuns, m.pluginFailures, m.runSeconds, m.events, m.pluginLoads, m.idleMemory)
	}
	return m
}

// RefusedPhase counts an emit with an undeclared phase id.
func (m *Metrics) RefusedPhase(plugin, version string) {
	if m != nil {
		m.refusedPhases.WithLabelValues(plugin, version).Inc()
	}
}

// RunFinished records a plugin run; cause is empty unless outcome is "failed".
func (m *Metrics) RunFinished(plugin, version, outcome, cause string, d time.Duration) {
	if m == nil {
		return
	}
	m.pluginRuns.WithLabelValues(plugin, version, outcome).Inc()
	if cause != "" {
		m.pluginFailures.WithLabelValues(plugin, version, cause).Inc()
	}
	m.runSeconds.WithLabelValues(plugin, version).Observe(d.Seconds())
}

// EventPublished counts a job event of type typ.
func (m *Metrics) EventPublished(typ string) {
	if m != nil {
		m.events.WithLabelValues(typ).Inc()
	}
}

// PluginLoad counts a module load attempt.
func (m *Metrics) PluginLoad(ok bool) {
	if m == nil {
		return
	}
	r := "ok"
	if !ok {
		r = "invalid"
	}
	m.pluginLoads.WithLabelValues(r).Inc()
}

// GuestMemoryIdle sets the bytes of guest memory kept for reuse.
func (m *Metrics) GuestMemoryIdle(bytes int64) {
	if m != nil {
		m.idleMemory.Set(float64(bytes))
	}
}

// RefusedPhaseCounter exposes the refused-phase counter of one plugin version,
// for tests and diagnostics.
func (m *Metrics) RefusedPhaseCounter(plugin, version string) prometheus.Counter {
	return m.refusedPhases.WithLabelValues(plugin, version)
}

// --- Server metrics (host/server) -------------------------------------------

// Server holds the HTTP server's collectors: jobs, the queue and watchers. Like
// Metrics, a nil *Server counts nothing.
type Server struct {
	jobsSubmitted prometheus.Counter
	jobsRejected  *prometheus.CounterVec
	jobsFinished  *prometheus.CounterVec
	queueDepth    prometheus.Gauge
	jobsRunning   prometheus.Gauge
	sseStreams    prometheus.Gauge
	slowWatchers  prometheus.Counter
	sharedJobs    *prometheus.CounterVec
}

// NewServer creates the server collectors and registers them with reg (nil: not registered).
func NewServer(reg prometheus.Registerer) *Server {
	s := &Server{
		jobsSubmitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phasehost_jobs_submitted_total", Help: "Jobs accepted by POST /v1/jobs.",
		}),
		jobsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phasehost_jobs_rejected_total", Help: "Job submissions refused, by error code.",
		}, []string{"code"}),
		jobsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phasehost_jobs_finished_total", Help: "Jobs that ended, by status.",
		}, []string{"status"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phasehost_job_queue_depth", Help: "Jobs waiting for a worker.",
		}),
		jobsRunning: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phasehost_jobs_running", Help: "Jobs being run by a worker.",
		}),
		sseStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phasehost_sse_streams", Help: "Open SSE event streams.",
		}),
		slowWatchers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phasehost_slow_watchers_total", Help: "Watchers dropped because they could not keep up.",
		}),
		sharedJobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phasehost_shared_queue_jobs_total",
			Help: "Jobs this node's workers took from the shared queue (--redis), by how: new, taken_over (its previous node stopped), handed_over (given back at shutdown), dropped (ended or expired before it ran).",
		}, []string{"how"}),
	}
	if reg != nil {
		reg.MustRegister(s.jobsSubmitted, s.jobsRejected, s.jobsFinished, s.queueDepth, s.jobsRunning, s.sseStreams, s.slowWatchers, s.sharedJobs)
	}
	return s
}

// JobSubmitted counts an accepted job.
func (s *Server) JobSubmitted() {
	if s != nil {
		s.jobsSubmitted.Inc()
	}
}

// JobRejected counts a refused submission by its error code.
func (s *Server) JobRejected(code string) {
	if s != nil {
		s.jobsRejected.WithLabelValues(code).Inc()
	}
}

// JobFinished counts a job that ended with status.
func (s *Server) JobFinished(status string) {
	if s != nil {
		s.jobsFinished.WithLabelValues(status).Inc()
	}
}

// QueueDepth adds delta to the queue depth gauge.
func (s *Server) QueueDepth(delta float64) {
	if s != nil {
		s.queueDepth.Add(delta)
	}
}

// JobsRunning adds delta to the running jobs gauge.
func (s *Server) JobsRunning(delta float64) {
	if s != nil {
		s.jobsRunning.Add(delta)
	}
}

// SSEStreams adds delta to the open SSE streams gauge.
func (s *Server) SSEStreams(delta float64) {
	if s != nil {
		s.sseStreams.Add(delta)
	}
}

// SharedJob counts a job of the shared queue by how this node dealt with it:
// "new", "taken_over", "handed_over" or "dropped".
func (s *Server) SharedJob(how string) {
	if s != nil {
		s.sharedJobs.WithLabelValues(how).Inc()
	}
}

// SlowWatcher counts a watcher dropped for being too slow.
func (s *Server) SlowWatcher() {
	if s != nil {
		s.slowWatchers.Inc()
	}
}

// --- Redis store metrics (host/store) ---------------------------------------

// Redis holds the Redis store's collectors: its shared pub/sub connection and
// the catch-up that keeps subscribers gap-free. A nil *Redis counts nothing.
type Redis struct {
	reconnects prometheus.Counter
	catchup    prometheus.Counter
	channels   prometheus.Gauge
}

// NewRedis creates the Redis store collectors and registers them with reg (nil: not registered).
func NewRedis(reg prometheus.Registerer) *Redis {
	r := &Redis{
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phasehost_redis_pubsub_reconnects_total", Help: "Times the shared pub/sub connection failed and was re-established.",
		}),
		catchup: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phasehost_redis_catchup_events_total", Help: "Events delivered to subscribers from the stream rather than live pub/sub.",
		}),
		channels: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phasehost_redis_subscribed_channels", Help: "Job channels this node is subscribed to.",
		}),
	}
	if reg != nil {
		reg.MustRegister(r.reconnects, r.catchup, r.channels)
	}
	return r
}

// Reconnect counts a failure of the shared pub/sub connection.
func (r *Redis) Reconnect() {
	if r != nil {
		r.reconnects.Inc()
	}
}

// CatchupEvents counts n events read back from a stream for subscribers.
func (r *Redis) CatchupEvents(n int) {
	if r != nil {
		r.catchup.Add(float64(n))
	}
}

// SubscribedChannels adds delta to the subscribed channels gauge.
func (r *Redis) SubscribedChannels(delta float64) {
	if r != nil {
		r.channels.Add(delta)
	}
}

// ReconnectCounter exposes the reconnect counter, for tests and diagnostics.
func (r *Redis) ReconnectCounter() prometheus.Counter { return r.reconnects }

// CatchupCounter exposes the catch-up counter, for tests and diagnostics.
func (r *Redis) CatchupCounter() prometheus.Counter { return r.catchup }

// --- WebSocket rooms (host/hub, GET /v1/ws) -----------------------------------

// Hub holds the collectors of WebSocket watchers. Like Metrics, a nil *Hub
// counts nothing.
type Hub struct {
	sessions   prometheus.Gauge
	rooms      prometheus.Gauge
	deliveries prometheus.Counter
	slowCloses prometheus.Counter
}

// NewHub creates the WebSocket collectors and registers them with reg (nil: not registered).
func NewHub(reg prometheus.Registerer) *Hub {
	h := &Hub{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phasehost_ws_sessions", Help: "Open WebSocket sessions.",
		}),
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phasehost_ws_rooms", Help: "Rooms: jobs with at least one WebSocket watcher (one store subscription each).",
		}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phasehost_ws_deliveries_total", Help: "Events queued to WebSocket sessions (history and live).",
		}),
		slowCloses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phasehost_ws_slow_closes_total", Help: "WebSocket sessions closed with 4008 because they could not keep up.",
		}),
	}
	if reg != nil {
		reg.MustRegister(h.sessions, h.rooms, h.deliveries, h.slowCloses)
	}
	return h
}

// Sessions adds delta to the open sessions gauge.
func (h *Hub) Sessions(delta float64) {
	if h != nil {
		h.sessions.Add(delta)
	}
}

// Rooms adds delta to the rooms gauge.
func (h *Hub) Rooms(delta float64) {
	if h != nil {
		h.rooms.Add(delta)
	}
}

// Delivered counts n events queued to sessions.
func (h *Hub) Delivered(n int) {
	if h != nil && n > 0 {
		h.deliveries.Add(float64(n))
	}
}

// SlowClose counts a session closed for being too slow.
func (h *Hub) SlowClose() {
	if h != nil {
		h.slowCloses.Inc()
	}
}
