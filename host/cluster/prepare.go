package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/phasehost/phasehost/host/plugin"
)

// Compiling ahead. A node that receives an upload announces "prepare" with
// the module's sha256 before it compiles the module itself; the other nodes
// start compiling it at once, so that when the "add" comes (after the
// uploading node has validated and registered it) they only register what
// they compiled meanwhile. Without it every other node would begin its
// compile only after the uploading node's had ended, and serve the new
// version a whole compile later.
//
// A prepared module that no "add" claims within PrepareTTL (the upload was
// refused, or the uploading node died) is closed. The bytes stored for it
// expire with the same TTL unless a Publish keeps them.

// OpPrepare is the announcement that a module is about to be published.
const OpPrepare = "prepare" // sha256

// PrepareTTL is how long a module compiled ahead waits for its "add", and
// how long its stored bytes live unless published.
var PrepareTTL = 2 * time.Minute

// maxPrepared bounds the modules compiled ahead and not yet claimed.
const maxPrepared = 8

// prepared is a module being compiled, or compiled, ahead of its "add".
type prepared struct {
	done chan struct{}
	p    *plugin.Plugin
	err  error
}

// Prepare stores the bytes of an upload that is about to be loaded on this
// node and asks the other nodes to compile them now. A lone node does
// nothing. Failing to prepare only makes the others slower; the upload goes
// on.
func (c *Cluster) Prepare(ctx context.Context, wasm []byte) error {
	if c.rdb == nil {
		return nil
	}
	sum := sha256.Sum256(wasm)
	sha := hex.EncodeToString(sum[:])
	msg, err := json.Marshal(Announcement{Op: OpPrepare, SHA256: sha, Node: c.o.NodeID})
	if err != nil {
		return err
	}
	ok, err := c.rdb.SetNX(ctx, c.moduleKey(sha), wasm, PrepareTTL).Result()
	if err != nil {
		return fmt.Errorf("cluster: prepare %s: %w", sha, err)
	}
	_ = ok // already stored (published before, or prepared): the others may have it compiled
	if err := c.rdb.Publish(ctx, c.controlChannel(), msg).Err(); err != nil {
		return fmt.Errorf("cluster: prepare %s: %w", sha, err)
	}
	return nil
}

// startPrepare compiles module sha in the background, unless this node has
// it registered or is compiling it already. It does not block.
func (c *Cluster) startPrepare(sha string) {
	for _, e := range c.o.Registry.Entries() {
		if e.Plugin.SHA256() == sha {
			return
		}
	}
	c.prepMu.Lock()
	if c.prepClosed || c.prep[sha] != nil || len(c.prep) >= maxPrepared {
		c.prepMu.Unlock()
		return
	}
	f := &prepared{done: make(chan struct{})}
	c.prep[sha] = f
	c.prepMu.Unlock()
	c.loops.Add(1)
	go func() {
		defer c.loops.Done()
		defer close(f.done)
		ctx, cancel := context.WithTimeout(context.Background(), PrepareTTL)
		defer cancel()
		wasm, err := c.Module(ctx, sha)
		if err == nil {
			f.p, f.err = c.o.Engine.Load(ctx, wasm)
		} else {
			f.err = err
		}
		if f.err != nil {
			c.log.Info("cluster: module not compiled ahead; it will be loaded when announced", slog.String("sha256", sha), slog.String("error", f.err.Error()))
		} else {
			c.log.Info("cluster: module compiled ahead of its announcement", slog.String("plugin", f.p.Ref()), slog.String("sha256", sha))
		}
		time.AfterFunc(PrepareTTL, func() { c.dropPrepared(sha, f) })
	}()
}

// takePrepared returns the module sha compiled ahead, waiting for its
// compile to end; nil when there is none or it failed (the caller then loads
// the module itself).
func (c *Cluster) takePrepared(ctx context.Context, sha string) *plugin.Plugin {
	c.prepMu.Lock()
	f := c.prep[sha]
	delete(c.prep, sha)
	c.prepMu.Unlock()
	if f == nil {
		return nil
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		go func() { // not claimed after all
			<-f.done
			if f.p != nil {
				_ = f.p.Close(context.Background())
			}
		}()
		return nil
	}
	return f.p
}

// dropPrepared closes a module compiled ahead that nobody claimed.
func (c *Cluster) dropPrepared(sha string, f *prepared) {
	c.prepMu.Lock()
	mine := c.prep[sha] == f
	if mine {
		delete(c.prep, sha)
	}
	c.prepMu.Unlock()
	if mine && f.p != nil {
		_ = f.p.Close(context.Background())
		c.log.Info("cluster: module compiled ahead was never announced; dropped", slog.String("sha256", sha))
	}
}

// closePrepared closes every module compiled ahead; no more are started.
// The loops (compiles) have ended.
func (c *Cluster) closePrepared() {
	c.prepMu.Lock()
	c.prepClosed = true
	all := c.prep
	c.prep = map[string]*prepared{}
	c.prepMu.Unlock()
	for _, f := range all {
		<-f.done
		if f.p != nil {
			_ = f.p.Close(context.Background())
		}
	}
}

// Prepared returns how many modules are compiled, or being compiled, ahead
// of their announcement.
func (c *Cluster) Prepared() int {
	c.prepMu.Lock()
	defer c.prepMu.Unlock()
	return len(c.prep)
}
