package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/phasehost/phasehost/host/manifest"
	"github.com/phasehost/phasehost/host/plugin"
)

// Plugin administration: POST /v1/plugins (upload a .wasm) and
// DELETE /v1/plugins/:name/:version, both behind the operator token.
//
// A module is loaded (validated and compiled) completely before the registry
// is touched, so one that is refused never displaces a working version. A
// plugin removed, or replaced by an upload of the same name and version, is
// retired: jobs that resolved it (running or still queued) keep it, and its
// compiled code is closed when the last of them ends (plugin.Plugin.Retire).

// infoOf is a plugin's entry in GET /v1/plugins and the answer of an upload.
func infoOf(p *plugin.Plugin) pluginInfo {
	m := p.Manifest()
	l := p.Limits()
	return pluginInfo{
		Name: m.Name, Version: m.Version, Stage: m.Stage, Description: m.Description, Phases: m.Phases,
		Limits: limitsInfo{MemoryMB: l.MemoryMB, TimeoutMS: l.Timeout.Milliseconds(), MaxEvents: l.MaxEvents, MaxOutputBytes: l.MaxOutputBytes},
		Weight: m.EffectiveWeight(), SHA256: p.SHA256(), Size: p.Size(),
	}
}

// authorizePluginAdmin checks the operator token, sent as Authorization:
// Bearer only (a token in a URL ends up in logs). Without an operator token
// configured, plugin administration is disabled.
func (s *Server) authorizePluginAdmin(c *gin.Context, what string) error {
	if s.cfg.OperatorToken == "" {
		return fmt.Errorf("%w: %s needs the operator token and the server has none (--operator-token)", ErrPluginAdminDisabled, what)
	}
	h := c.GetHeader("Authorization")
	t, ok := strings.CutPrefix(h, "Bearer ")
	t = strings.TrimSpace(t)
	if !ok || t == "" {
		return fmt.Errorf("%w: %s needs the operator token as Authorization: Bearer", ErrUnauthorized, what)
	}
	// Digests of equal length: the comparison takes the same time whatever
	// the token presented, its length included.
	got, want := sha256.Sum256([]byte(t)), sha256.Sum256([]byte(s.cfg.OperatorToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return fmt.Errorf("%w: %s needs the operator token", ErrForbidden, what)
	}
	return nil
}

// invalidPlugin is the error of a refused upload: ErrInvalidPlugin, with the
// loader's *manifest.InvalidError for writeError to list its problems. Its
// message is the summary line; the problems carry the detail.
type invalidPlugin struct{ inv *manifest.InvalidError }

func (e invalidPlugin) Error() string {
	first, _, _ := strings.Cut(e.inv.Error(), "\n")
	return first
}

func (e invalidPlugin) Unwrap() []error { return []error{ErrInvalidPlugin, e.inv} }

// uploadPlugin is POST /v1/plugins: the body is the module (application/wasm
// or application/octet-stream), at most the policy's MaxModuleBytes. 201 with
// the plugin's entry; 422 invalid_plugin listing every problem.
func (s *Server) uploadPlugin(c *gin.Context) {
	if err := s.authorizePluginAdmin(c, "uploading a plugin"); err != nil {
		s.writeError(c, err)
		return
	}
	engine := s.cfg.Engine
	if engine == nil {
		s.writeError(c, fmt.Errorf("%w: the server has no plugin engine", ErrPluginAdminDisabled))
		return
	}
	wasm, err := readModule(c, engine.Policy().MaxModuleBytes)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ctx := c.Request.Context()
	p, err := engine.Load(ctx, wasm)
	if inv, ok := errors.AsType[*manifest.InvalidError](err); ok {
		s.log.Info("plugin upload refused", slog.Int("problems", len(inv.Problems)), errAttr(err))
		s.writeError(c, invalidPlugin{inv})
		return
	}
	if err != nil {
		s.writeError(c, fmt.Errorf("loading plugin: %w", err))
		return
	}
	replaced, err := s.reg.Add(p)
	if err != nil { // a version the registry cannot order
		_ = p.Close(context.WithoutCancel(ctx))
		s.writeError(c, invalidPlugin{&manifest.InvalidError{Subject: "module " + p.Ref(),
			Problems: []manifest.Problem{{Path: "version", Message: err.Error()}}}})
		return
	}
	attrs := []any{slog.String("plugin", p.Ref()), slog.String("sha256", p.SHA256())}
	if replaced != nil {
		replaced.Retire()
		attrs = append(attrs, slog.String("replaced_sha256", replaced.SHA256()), slog.Int("replaced_holds", replaced.Holds()))
	}
	s.log.Info("plugin uploaded", attrs...)
	c.JSON(http.StatusCreated, infoOf(p))
}

// readModule reads the request's body: a module of at most limit bytes.
func readModule(c *gin.Context, limit int64) ([]byte, error) {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/wasm" && mt != "application/octet-stream") {
			return nil, fmt.Errorf("%w: %q: send the .wasm file as application/wasm or application/octet-stream", ErrUnsupportedMedia, ct)
		}
	}
	if c.Request.ContentLength > limit {
		return nil, fmt.Errorf("%w: the module is %d bytes, the limit is %d", ErrBodyTooLarge, c.Request.ContentLength, limit)
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, fmt.Errorf("%w: the module is over the limit of %d bytes", ErrBodyTooLarge, mbe.Limit)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading the module: %w", ErrBadRequest, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty body: send the .wasm file", ErrBadRequest)
	}
	return b, nil
}

// removePlugin is DELETE /v1/plugins/:name/:version: 204, or 404 when no such
// plugin is loaded. Jobs that already resolved it carry on with it.
func (s *Server) removePlugin(c *gin.Context) {
	if err := s.authorizePluginAdmin(c, "removing a plugin"); err != nil {
		s.writeError(c, err)
		return
	}
	name, version := c.Param("name"), c.Param("version")
	p, ok := s.reg.Remove(name, version)
	if !ok {
		s.writeError(c, fmt.Errorf("%w: %s@%s is not loaded", ErrPluginNotFound, name, version))
		return
	}
	p.Retire()
	s.log.Info("plugin removed", slog.String("plugin", p.Ref()), slog.Int("holds", p.Holds()), slog.Int("runs", p.InFlight()))
	c.Status(http.StatusNoContent)
}

// release lets go of the job's plugins (taken by registry.Acquire when it
// was accepted): a retired one closes once no job holds it. Idempotent.
func (j *activeJob) release() {
	j.mu.Lock()
	stages := j.stages
	j.stages = nil
	j.mu.Unlock()
	for _, p := range stages {
		p.Release()
	}
}
