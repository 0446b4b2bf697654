package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/phasehost/phasehost/host/registry"
)

// Pinning and rollback: PUT /v1/plugins/:name/active {"version": "1.2.0"}
// pins the version a bare name resolves to for new jobs; {"version": null}
// or DELETE /v1/plugins/:name/active unpins (back to the highest version).
// Both need the operator token. Jobs already accepted keep the version they
// resolved.
//
// On a node sharing a Redis (host/cluster), a pin or unpin that succeeds
// here is then published: stored in PREFIX:pins and announced, and every
// node of the cluster applies it (a node that lacks the pinned version pins
// it when that version arrives). A failure to publish is logged (the pin
// then holds on this node only, until the cluster's own state is next
// applied here) and does not change the answer, which is this node's state
// once published.

// activeInfo is the answer of the pin routes.
type activeInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"` // "" when no version of name is loaded
	Pinned  bool   `json:"pinned"`
}

// putActive is PUT /v1/plugins/:name/active: 200 with the active version; 404
// plugin_not_found (naming the loaded versions) when that version is not loaded.
func (s *Server) putActive(c *gin.Context) {
	if err := s.authorizePluginAdmin(c, "pinning a plugin version"); err != nil {
		s.writeError(c, err)
		return
	}
	var body struct {
		Version *string `json:"version"`
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, 4<<10))
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil {
		s.writeError(c, fmt.Errorf(`%w: the body is {"version": "1.2.0"} or {"version": null}: %w`, ErrBadRequest, err))
		return
	}
	name := c.Param("name")
	if body.Version == nil {
		s.unpin(c, name)
		return
	}
	if err := s.reg.Pin(name, *body.Version); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			err = notLoaded{err} // 404 here, not the 422 of a job naming it
		}
		s.writeError(c, err)
		return
	}
	s.log.Info("plugin version pinned", slog.String("plugin", name+"@"+*body.Version))
	s.publishPin(c, name, *body.Version)
	v, pinned := s.reg.Active(name)
	c.JSON(http.StatusOK, activeInfo{Name: name, Version: v, Pinned: pinned})
}

// deleteActive is DELETE /v1/plugins/:name/active.
func (s *Server) deleteActive(c *gin.Context) {
	if err := s.authorizePluginAdmin(c, "unpinning a plugin version"); err != nil {
		s.writeError(c, err)
		return
	}
	s.unpin(c, c.Param("name"))
}

// unpin answers 200 with the now active version, or 404 when no version of
// name is loaded.
func (s *Server) unpin(c *gin.Context, name string) {
	was := s.reg.Unpin(name)
	v, pinned := s.reg.Active(name)
	if v == "" {
		s.writeError(c, fmt.Errorf("%w: no plugin named %q is loaded", ErrPluginNotFound, name))
		return
	}
	if was {
		s.log.Info("plugin version unpinned", slog.String("plugin", name), slog.String("active", v))
	}
	if s.cluster.Shared() {
		s.publishPin(c, name, "")
		v, pinned = s.reg.Active(name)
	}
	c.JSON(http.StatusOK, activeInfo{Name: name, Version: v, Pinned: pinned})
}

// publishPin publishes, on a shared cluster, a pin of name to version that
// succeeded here, or an unpin (version ""). A failure is logged.
func (s *Server) publishPin(c *gin.Context, name, version string) {
	if !s.cluster.Shared() {
		return
	}
	ctx := c.Request.Context()
	if version == "" {
		if err := s.cluster.PublishUnpin(ctx, name); err != nil {
			s.log.Error("plugin unpin not published to the cluster", slog.String("plugin", name), errAttr(err))
			return
		}
		s.log.Info("plugin unpin published to the cluster", slog.String("plugin", name))
		return
	}
	if err := s.cluster.PublishPin(ctx, name, version); err != nil {
		s.log.Error("plugin pin not published to the cluster", slog.String("plugin", name+"@"+version), errAttr(err))
		return
	}
	s.log.Info("plugin pin published to the cluster", slog.String("plugin", name+"@"+version))
}

// notLoaded is a registry.ErrNotFound answered as ErrPluginNotFound, with the
// registry's message (naming the loaded versions).
type notLoaded struct{ err error }

func (e notLoaded) Error() string   { return e.err.Error() }
func (e notLoaded) Unwrap() []error { return []error{ErrPluginNotFound, e.err} }
