package plugin

import (
	"context"
	"log/slog"
	"sync"
)

// lifecycle is what decides when a Plugin's compiled code is released: holds
// (Acquire/Release), runs in flight (Run) and retirement (Retire). See the
// Plugin documentation.
type lifecycle struct {
	mu       sync.Mutex
	holds    int  // Acquire calls not yet Released
	runs     int  // Run calls in flight
	fills    int  // warm-instance fillers at work (warm.go)
	retired  bool // Retire called: close once holds and runs are 0
	closed   bool // the compiled code is closed (or being closed)
	done     chan struct{}
	closeErr error
}

// doneLocked returns the channel closed once the compiled code is closed.
func (l *lifecycle) doneLocked() chan struct{} {
	if l.done == nil {
		l.done = make(chan struct{})
	}
	return l.done
}

// Acquire holds p: its compiled code stays open, even once retired, until the
// matching Release. It reports false, and holds nothing, when p is already
// closed. A job takes a hold on each of its plugins when it is submitted and
// releases them when it ends, so a job queued before its plugin was removed
// or replaced still runs the version it resolved.
func (p *Plugin) Acquire() bool {
	p.life.mu.Lock()
	defer p.life.mu.Unlock()
	if p.life.closed {
		return false
	}
	p.life.holds++
	return true
}

// Release ends a hold taken by Acquire. The last release of a retired plugin
// with no run in flight closes it. Releasing more than was acquired panics.
func (p *Plugin) Release() {
	p.life.mu.Lock()
	if p.life.holds <= 0 {
		p.life.mu.Unlock()
		panic("plugin: Release without Acquire on " + p.Ref())
	}
	p.life.holds--
	p.closeIfIdleLocked() // unlocks
}

// Retire marks p as no longer wanted (removed from its registry, or replaced
// by another module of the same name and version) and closes its compiled code
// as soon as nothing uses it: at once when no run is in flight and no hold
// is taken, else when the last run returns or the last hold is released.
// Retire does not wait; Done tells when p is closed. It is idempotent.
func (p *Plugin) Retire() {
	p.life.mu.Lock()
	p.life.retired = true
	p.closeIfIdleLocked() // unlocks
	p.drainWarm()
}

// Done returns a channel closed once p's compiled code has been closed, by
// Close or by the drain that follows Retire.
func (p *Plugin) Done() <-chan struct{} {
	p.life.mu.Lock()
	defer p.life.mu.Unlock()
	return p.life.doneLocked()
}

// Retired reports whether Retire has been called.
func (p *Plugin) Retired() bool {
	p.life.mu.Lock()
	defer p.life.mu.Unlock()
	return p.life.retired
}

// InFlight returns the number of runs in progress.
func (p *Plugin) InFlight() int {
	p.life.mu.Lock()
	defer p.life.mu.Unlock()
	return p.life.runs
}

// Holds returns the number of holds taken by Acquire and not yet released.
func (p *Plugin) Holds() int {
	p.life.mu.Lock()
	defer p.life.mu.Unlock()
	return p.life.holds
}

// beginRun counts a run in flight; it refuses one once p is closed.
func (p *Plugin) beginRun() bool {
	p.life.mu.Lock()
	defer p.life.mu.Unlock()
	if p.life.closed {
		return false
	}
	p.life.runs++
	return true
}

// endRun ends a run counted by beginRun.
func (p *Plugin) endRun() {
	p.life.mu.Lock()
	p.life.runs--
	p.closeIfIdleLocked() // unlocks
}

// closeIfIdleLocked closes a retired p that nothing uses any more. It is
// called with p.life.mu held and releases it.
func (p *Plugin) closeIfIdleLocked() {
	l := &p.life
	if !l.retired || l.closed || l.holds > 0 || l.runs > 0 || l.fills > 0 {
		l.mu.Unlock()
		return
	}
	l.closed = true
	done := l.doneLocked()
	l.mu.Unlock()
	p.drainWarm()
	// Not a caller's context: the close is owed whatever the caller does.
	err := p.compiled.Close(context.Background())
	p.life.mu.Lock()
	l.closeErr = err
	p.life.mu.Unlock()
	close(done)
	if err != nil {
		p.engine.logger.Warn("closing retired plugin", slog.String("plugin", p.Ref()), slog.String("error", err.Error()))
		return
	}
	p.engine.logger.Debug("retired plugin closed", slog.String("plugin", p.Ref()))
}

// closeNow closes the compiled code whatever uses it (Close).
func (p *Plugin) closeNow(ctx context.Context) error {
	l := &p.life
	l.mu.Lock()
	if l.closed {
		done := l.doneLocked()
		l.mu.Unlock()
		<-done // a drain may be closing it right now
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.closeErr
	}
	l.closed = true
	done := l.doneLocked()
	l.mu.Unlock()
	p.drainWarm()
	err := p.compiled.Close(ctx)
	l.mu.Lock()
	l.closeErr = err
	l.mu.Unlock()
	close(done)
	return err
}

// beginFill counts a warm-instance filler; it refuses one once p is retired
// or closed.
func (p *Plugin) beginFill() bool {
	p.life.mu.Lock()
	defer p.life.mu.Unlock()
	if p.life.closed || p.life.retired {
		return false
	}
	p.life.fills++
	return true
}

// endFill ends a filler counted by beginFill.
func (p *Plugin) endFill() {
	p.life.mu.Lock()
	p.life.fills--
	p.closeIfIdleLocked() // unlocks
}

// outOfService reports whether p is retired or closed: no more warm instances.
func (p *Plugin) outOfService() bool {
	p.life.mu.Lock()
	defer p.life.mu.Unlock()
	return p.life.retired || p.life.closed
}
