package server

import (
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/registry"
	"github.com/phasehost/phasehost/host/store"
)

// Errors of the API. Handlers wrap them with %w and detail; writeError maps
// them to a status and code in one place.
var (
	ErrBadRequest    = errors.New("bad request")
	ErrBodyTooLarge  = errors.New("request body too large")
	ErrUnauthorized  = errors.New("missing token")
	ErrForbidden     = errors.New("token not valid for this resource")
	ErrQueueFull     = errors.New("job queue full")
	ErrShuttingDown  = errors.New("server shutting down")
	ErrUnknownPlugin = errors.New("unknown plugin")
	ErrRouteNotFound = errors.New("no such route")
	ErrNotReady      = errors.New("not ready")
	// ErrUnavailable: a shared part (the Redis of the job queue) cannot be
	// reached; the request may succeed later.
	ErrUnavailable = errors.New("unavailable")
	// ErrPluginAdminDisabled: plugin upload and removal need an operator
	// token, and the server has none.
	ErrPluginAdminDisabled = errors.New("plugin admin disabled")
	// ErrInvalidPlugin: an uploaded module was refused; the error also wraps
	// the *manifest.InvalidError whose problems the answer lists.
	ErrInvalidPlugin    = errors.New("invalid plugin")
	ErrPluginNotFound   = errors.New("plugin not found")
	ErrUnsupportedMedia = errors.New("unsupported media type")
)

// errorMap lists, in order of precedence, each sentinel with its HTTP status
// and JSON code.
var errorMap = []struct {
	err    error
	status int
	code   string
}{
	{ErrBodyTooLarge, http.StatusRequestEntityTooLarge, "body_too_large"},
	{ErrPluginAdminDisabled, http.StatusForbidden, "plugin_admin_disabled"},
	{ErrInvalidPlugin, http.StatusUnprocessableEntity, "invalid_plugin"},
	{ErrPluginNotFound, http.StatusNotFound, "plugin_not_found"},
	{ErrUnsupportedMedia, http.StatusUnsupportedMediaType, "unsupported_media_type"},
	{ErrBadRequest, http.StatusBadRequest, "bad_request"},
	{ErrUnauthorized, http.StatusUnauthorized, "unauthorized"},
	{ErrForbidden, http.StatusForbidden, "forbidden"},
	{ErrQueueFull, http.StatusServiceUnavailable, "queue_full"},
	{ErrShuttingDown, http.StatusServiceUnavailable, "shutting_down"},
	{ErrNotReady, http.StatusServiceUnavailable, "not_ready"},
	{ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{ErrUnknownPlugin, http.StatusUnprocessableEntity, "unknown_plugin"},
	{registry.ErrNotFound, http.StatusUnprocessableEntity, "unknown_plugin"},
	{ErrRouteNotFound, http.StatusNotFound, "not_found"},
	{store.ErrNotFound, http.StatusNotFound, "job_not_found"},
	{store.ErrTerminal, http.StatusConflict, "job_finished"},
	{store.ErrClosed, http.StatusServiceUnavailable, "shutting_down"},
}

// errorBody is the JSON form of every error: {"error": {"code", "message"}},
// plus "problems" when a module was refused.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Problems lists every problem of a refused module (invalid_plugin), each
	// {"path", "message"}.
	Problems []manifest.Problem `json:"problems,omitempty"`
}

// classify returns the status and code of err.
func classify(err error) (int, string) {
	for _, e := range errorMap {
		if errors.Is(err, e.err) {
			return e.status, e.code
		}
	}
	if unreachable(err) {
		return http.StatusServiceUnavailable, "unavailable"
	}
	return http.StatusInternalServerError, "internal"
}

// unreachable reports whether err is a network error, such as the store's
// Redis refusing connections while it restarts: the request may succeed
// later, so it is answered 503, not 500.
func unreachable(err error) bool {
	_, ok := errors.AsType[net.Error](err)
	return ok
}

// writeError answers with err as JSON. Internal errors are logged with their
// chain and answered without detail.
func (s *Server) writeError(c *gin.Context, err error) {
	status, code := classify(err)
	msg := err.Error()
	switch {
	case status == http.StatusInternalServerError:
		s.log.Error("request failed", slog.String("method", c.Request.Method), slog.String("path", c.FullPath()), errAttr(err))
		msg = "internal error"
	case code == "unavailable" && !errors.Is(err, ErrUnavailable):
		// A bare network error (classify): its detail, addresses included,
		// is for the log, not the client.
		s.log.Warn("request failed: a backend cannot be reached", slog.String("method", c.Request.Method), slog.String("path", c.FullPath()), errAttr(err))
		msg = "a shared service cannot be reached for now; try again later"
		c.Header("Retry-After", "1")
	}
	detail := errorDetail{Code: code, Message: msg}
	if inv, ok := errors.AsType[*manifest.InvalidError](err); ok && status != http.StatusInternalServerError {
		detail.Problems = inv.Problems
	}
	c.AbortWithStatusJSON(status, errorBody{Error: detail})
}

// ErrorAttr is the slog attribute "error" of err: its message and the chain
// of wrapped errors (causes), for JSON logs that show why, not only what.
func ErrorAttr(err error) slog.Attr { return errAttr(err) }

// errAttr logs err with its message and the chain of wrapped errors.
func errAttr(err error) slog.Attr {
	if err == nil {
		return slog.String("error", "")
	}
	var chain []string
	for e := err; e != nil; {
		chain = append(chain, e.Error())
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			e = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				chain = append(chain, x.Error())
			}
			e = nil
		default:
			e = nil
		}
	}
	return slog.Group("error", slog.String("message", err.Error()), slog.Any("chain", chain))
}
