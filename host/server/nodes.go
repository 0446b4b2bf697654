package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/phasehost/phasehost/host/cluster"
	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/plugin"
)

// The cluster (host/cluster): GET /v1/nodes lists the live nodes, and on a
// node sharing a Redis an upload (POST /v1/plugins) or removal (DELETE
// /v1/plugins/:name/:version) that succeeds here is published for the other
// nodes to follow. Publishing happens before the handler returns, after the
// local answer is written: a failure to publish is logged (the plugin is then
// loaded on this node only) and does not change the answer.

// clusterOf is Config.Cluster, or a lone node's.
func clusterOf(cfg Config) *cluster.Cluster {
	if cfg.Cluster != nil {
		return cfg.Cluster
	}
	return cluster.Local(cluster.Options{Registry: cfg.Registry, Logger: cfg.Logger})
}

// runningJobs counts the jobs a worker of this node is running.
func (s *Server) runningJobs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, j := range s.active {
		j.mu.Lock()
		if j.state == event.StatusRunning {
			n++
		}
		j.mu.Unlock()
	}
	return n
}

// listNodes is GET /v1/nodes: {"nodes": [...]}, the live nodes by id.
func (s *Server) listNodes(c *gin.Context) {
	nodes, err := s.cluster.Nodes(c.Request.Context())
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"nodes": nodes, "node": s.cluster.ID()})
}

// publishing wraps the upload handler: on a shared cluster, a module whose
// upload succeeded is published.
func (s *Server) publishing(upload gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		engine := s.cfg.Engine
		// Unauthorised or impossible uploads: the handler answers them, and
		// the body is not read for nothing.
		if !s.cluster.Shared() || engine == nil || s.authorizePluginAdmin(c, "uploading a plugin") != nil {
			upload(c)
			return
		}
		wasm, err := readModule(c, engine.Policy().MaxModuleBytes) // plugins.go
		if err != nil {
			s.writeError(c, err)
			return
		}
		// The other nodes start compiling now, while this one validates and
		// compiles: they serve the version about when this one does
		// (cluster.Prepare). Only for what looks like a plugin at all.
		if _, err := plugin.ReadManifest(wasm); err == nil {
			if err := s.cluster.Prepare(c.Request.Context(), wasm); err != nil {
				s.log.Warn("other nodes not asked to compile the upload ahead", errAttr(err))
			}
		}
		c.Request.Body = io.NopCloser(bytes.NewReader(wasm))
		c.Request.ContentLength = int64(len(wasm))
		upload(c)
		if c.Writer.Status() != http.StatusCreated {
			return
		}
		sum := sha256.Sum256(wasm)
		sha := hex.EncodeToString(sum[:])
		for _, e := range s.reg.Entries() {
			if p := e.Plugin; p.SHA256() == sha {
				if err := s.cluster.Publish(c.Request.Context(), p, wasm); err != nil {
					s.log.Error("plugin not published to the cluster", slog.String("plugin", p.Ref()), errAttr(err))
					return
				}
				s.log.Info("plugin published to the cluster", slog.String("plugin", p.Ref()), slog.String("sha256", sha))
				return
			}
		}
		// Removed again before we got here: nothing to publish.
	}
}

// unpublishing wraps the removal handler: on a shared cluster, a removal
// that succeeded here is published.
func (s *Server) unpublishing(remove gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		remove(c)
		if !s.cluster.Shared() || c.Writer.Status() != http.StatusNoContent {
			return
		}
		name, version := c.Param("name"), c.Param("version")
		ok, err := s.cluster.Unpublish(c.Request.Context(), name, version)
		if err != nil {
			s.log.Error("plugin removal not published to the cluster", slog.String("plugin", name+"@"+version), errAttr(err))
			return
		}
		if ok {
			s.log.Info("plugin removal published to the cluster", slog.String("plugin", name+"@"+version))
		}
	}
}
