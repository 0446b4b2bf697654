package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/host/queue"
	"github.com/phasehost/phasehost/host/store"
)

// activeJob is a job between submission and the end of its run.
type activeJob struct {
	id     string
	stages []*plugin.Plugin
	input  json.RawMessage
	cancel chan struct{}
	// delivery is the job's hold on the shared queue (shared.go); nil when
	// the job runs where it was accepted.
	delivery *queue.Delivery

	mu      sync.Mutex
	state   string // queued, running, cancelled (before it ran)
	stopped bool   // cancel closed
}

func (j *activeJob) requestCancel() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.stopped {
		j.stopped = true
		close(j.cancel)
	}
}

// submitRequest is the body of POST /v1/jobs.
type submitRequest struct {
	Pipeline []string        `json:"pipeline"`
	Input    json.RawMessage `json:"input"`
}

// submitResponse is the answer of POST /v1/jobs.
type submitResponse struct {
	ID     string `json:"id"`
	Token  string `json:"token"`
	Status string `json:"status"`
}

func (s *Server) submit(c *gin.Context) {
	j, err := s.accept(c)
	if err != nil {
		_, code := classify(err)
		s.sm.JobRejected(code)
		s.writeError(c, err)
		return
	}
	s.sm.JobSubmitted()
	c.JSON(http.StatusAccepted, submitResponse{ID: j.id, Token: s.token(j.id), Status: event.StatusQueued})
}

// accept decodes, resolves, stores and queues a job. The job holds its
// plugins (registry.Acquire) until it ends: see activeJob.release.
func (s *Server) accept(c *gin.Context) (_ *activeJob, err error) {
	if s.stopping.Load() {
		return nil, ErrShuttingDown
	}
	req, err := s.decodeSubmit(c)
	if err != nil {
		return nil, err
	}
	j := &activeJob{id: newID(), input: req.Input, cancel: make(chan struct{}), state: event.StatusQueued}
	defer func() {
		if err != nil {
			j.release()
		}
	}()
	nj := store.NewJob{ID: j.id, Pipeline: req.Pipeline}
	for i, spec := range req.Pipeline {
		p, err := s.reg.Acquire(spec)
		if err != nil {
			return nil, fmt.Errorf("%w: pipeline[%d] %q: %w", ErrUnknownPlugin, i, spec, err)
		}
		j.stages = append(j.stages, p)
		nj.Stages = append(nj.Stages, store.StageState{Stage: p.Manifest().Stage, Plugin: p.Name(), Version: p.Version()})
	}
	if s.cfg.Queue != nil { // shared.go
		if err := s.enqueue(c.Request.Context(), j, nj); err != nil {
			return nil, err
		}
		return j, nil
	}
	select { // reserve a place in the queue before storing anything
	case s.slots <- struct{}{}:
	default:
		return nil, fmt.Errorf("%w: %d jobs waiting", ErrQueueFull, s.cfg.QueueSize)
	}
	ctx := c.Request.Context()
	if _, err := s.store.Create(ctx, nj); err != nil {
		<-s.slots
		return nil, fmt.Errorf("creating job: %w", err)
	}
	if err := s.runner.Queued(ctx, j.id); err != nil {
		<-s.slots
		return nil, fmt.Errorf("publishing queued event: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping.Load() {
		<-s.slots
		go s.cancelQueued(j, "server shutting down")
		return nil, ErrShuttingDown
	}
	s.active[j.id] = j
	s.queue <- j // never blocks: a slot is reserved
	s.sm.QueueDepth(1)
	return j, nil
}

func (s *Server) decodeSubmit(c *gin.Context) (submitRequest, error) {
	var req submitRequest
	body := http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, fmt.Errorf("%w: the limit is %d bytes", ErrBodyTooLarge, mbe.Limit)
		}
		return req, fmt.Errorf("%w: body is not a valid job: %w", ErrBadRequest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, fmt.Errorf("%w: unexpected data after the JSON body", ErrBadRequest)
	}
	if len(req.Pipeline) == 0 {
		return req, fmt.Errorf("%w: pipeline: name at least one plugin", ErrBadRequest)
	}
	if len(req.Pipeline) > s.cfg.MaxPipeline {
		return req, fmt.Errorf("%w: pipeline: %d stages, at most %d", ErrBadRequest, len(req.Pipeline), s.cfg.MaxPipeline)
	}
	for i, e := range req.Pipeline {
		if strings.TrimSpace(e) == "" {
			return req, fmt.Errorf("%w: pipeline[%d]: empty entry", ErrBadRequest, i)
		}
	}
	if len(req.Input) == 0 || string(req.Input) == "null" {
		req.Input = json.RawMessage(`{}`)
	}
	return req, nil
}

func (s *Server) getJob(c *gin.Context) {
	id := c.Param("id")
	if err := s.authorize(c, id); err != nil {
		s.writeError(c, err)
		return
	}
	j, err := s.store.Get(c.Request.Context(), id)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, j)
}

func (s *Server) listJobs(c *gin.Context) {
	if err := s.authorizeOperator(c); err != nil {
		s.writeError(c, err)
		return
	}
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			s.writeError(c, fmt.Errorf("%w: limit: %q is not a positive integer", ErrBadRequest, v))
			return
		}
		limit = min(n, 1000)
	}
	jobs, err := s.store.List(c.Request.Context(), limit)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"jobs": jobs})
}

// cancelJob cancels a job: a queued one directly, a running one through its
// Cancel channel (the runner then publishes the outcome). 202 with the
// status at the time of the request; 409 when the job has already finished.
func (s *Server) cancelJob(c *gin.Context) {
	id := c.Param("id")
	if err := s.authorize(c, id); err != nil {
		s.writeError(c, err)
		return
	}
	s.mu.Lock()
	j := s.active[id]
	s.mu.Unlock()
	if j == nil {
		s.cancelElsewhere(c, id)
		return
	}
	status := event.StatusRunning
	if s.cancelQueued(j, "cancelled before it started") {
		status = event.StatusCancelled
	} else {
		j.requestCancel()
	}
	c.JSON(http.StatusAccepted, gin.H{"id": id, "status": status, "cancel_requested": true})
}

// cancelElsewhere cancels job id that this node does not run: with a shared
// store it may be queued or running on another node. The cancelled events
// are published here (the running stage's, then the job's); the node running
// the job finds its next event refused (store.ErrTerminal) and stops the
// guest. 409 when the job has finished.
func (s *Server) cancelElsewhere(c *gin.Context, id string) {
	ctx := c.Request.Context()
	const why = "cancelled: cancel requested on another node than the one running the job"
	st, err := s.store.Get(ctx, id)
	if err == nil && event.Terminal(st.Status) {
		err = fmt.Errorf("%w: %s is %s", store.ErrTerminal, id, st.Status)
	}
	for i, stage := range st.Stages {
		if err != nil {
			break
		}
		if stage.Status == event.StatusRunning { // its run will not say so any more
			_, err = s.pub.Publish(ctx, event.Event{JobID: id, Type: event.TypeStage, Status: event.StatusCancelled,
				Stage: stage.Stage, StageIndex: event.Int(i), Plugin: stage.Plugin, Version: stage.Version,
				Percent: event.Float(stage.Percent), Error: why})
		}
	}
	if err == nil {
		_, err = s.pub.Publish(ctx, event.Event{JobID: id, Type: event.TypeJob, Status: event.StatusCancelled,
			JobPercent: event.Float(st.JobPercent), Error: why})
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.sm.JobFinished(event.StatusCancelled)
	c.JSON(http.StatusAccepted, gin.H{"id": id, "status": event.StatusCancelled, "cancel_requested": true})
}

// cancelQueued cancels j if no worker has started it, publishing its final
// event, and reports whether it did.
func (s *Server) cancelQueued(j *activeJob, why string) bool {
	j.mu.Lock()
	if j.state != event.StatusQueued {
		j.mu.Unlock()
		return false
	}
	j.state = event.StatusCancelled
	j.mu.Unlock()
	// Not the request's context: the job is cancelled here whatever the
	// client does, and its final event must be published (the publisher's
	// retry bounds the wait when the store is unreachable).
	_, err := s.pub.Publish(context.Background(), event.Event{JobID: j.id, Type: event.TypeJob,
		Status: event.StatusCancelled, JobPercent: event.Float(0), Error: why})
	if err != nil && !errors.Is(err, store.ErrTerminal) {
		s.log.Error("publishing cancellation", "job", j.id, errAttr(err))
	}
	s.sm.JobFinished(event.StatusCancelled)
	s.forget(j.id)
	j.release()
	return true
}

func (s *Server) forget(id string) {
	s.mu.Lock()
	delete(s.active, id)
	s.mu.Unlock()
}

// Token returns the bearer token of job id: HMAC-SHA256 of the id under the
// server secret, base64url.
func (s *Server) Token(id string) string { return s.token(id) }

func (s *Server) token(id string) string {
	mac := hmac.New(sha256.New, s.cfg.Secret)
	mac.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// presented returns the token of the request: Authorization: Bearer, else ?token=.
func presented(c *gin.Context) string {
	if h := c.GetHeader("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return ""
	}
	return c.Query("token")
}

// authorize checks the request's token against job id's (or the operator's).
func (s *Server) authorize(c *gin.Context, id string) error {
	t := presented(c)
	if t == "" {
		return fmt.Errorf("%w: send the job's token as Authorization: Bearer or ?token=", ErrUnauthorized)
	}
	if hmac.Equal([]byte(t), []byte(s.token(id))) || s.isOperator(t) {
		return nil
	}
	return fmt.Errorf("%w: job %s", ErrForbidden, id)
}

func (s *Server) authorizeOperator(c *gin.Context) error {
	t := presented(c)
	if t == "" {
		return fmt.Errorf("%w: listing jobs needs the operator token", ErrUnauthorized)
	}
	if !s.isOperator(t) {
		return fmt.Errorf("%w: listing jobs needs the operator token", ErrForbidden)
	}
	return nil
}

func (s *Server) isOperator(t string) bool {
	return s.cfg.OperatorToken != "" && hmac.Equal([]byte(t), []byte(s.cfg.OperatorToken))
}

// newID returns a random job id (128 bits, hex).
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
