package plugin

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func isDone(p *Plugin) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

func TestRetireIdleClosesAtOnce(t *testing.T) {
	f := newFixture(t, Policy{})
	p := f.load(t, "valid/ok.wasm")
	assert.False(t, isDone(p))
	p.Retire()
	assert.True(t, p.Retired())
	assert.True(t, isDone(p))
	assert.False(t, p.Acquire(), "a closed plugin gives no hold")
	_, err := p.Run(context.Background(), RunRequest{JobID: "late", Input: []byte(`{}`)})
	require.ErrorIs(t, err, ErrInstantiate)
	assert.Contains(t, err.Error(), "ok@1.0.0: instantiate: the plugin has been closed")
	p.Retire() // idempotent
	assert.NoError(t, p.Close(context.Background()), "Close after the drain closed it")
}

// A run in flight keeps a retired plugin open; its end closes it.
func TestRetireWaitsForRunInFlight(t *testing.T) {
	f := newFixture(t, Policy{CancelGrace: 5 * time.Second})
	p := f.load(t, "valid/cancel.wasm")
	cancel := make(chan struct{})
	started := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		_, err := p.Run(context.Background(), RunRequest{JobID: "j", Input: []byte(`{}`), Cancel: cancel, OnEmit: func(Emit) {
			once.Do(func() { close(started) })
		}})
		errc <- err
	}()
	<-started
	assert.Equal(t, 1, p.InFlight())
	p.Retire()
	time.Sleep(50 * time.Millisecond)
	assert.False(t, isDone(p), "closed while a run was in flight")
	close(cancel)
	require.ErrorIs(t, <-errc, ErrCancelled, "the run carried on after retirement and ended by its cancellation")
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not closed after its last run")
	}
	assert.Equal(t, 0, p.InFlight())
}

// A hold (a queued job) keeps a retired plugin open and usable; the last
// Release closes it.
func TestRetireWaitsForHolds(t *testing.T) {
	f := newFixture(t, Policy{})
	p := f.load(t, "valid/ok.wasm")
	require.True(t, p.Acquire())
	require.True(t, p.Acquire())
	p.Retire()
	assert.False(t, isDone(p))
	o := runIt(t, p, `{"a":1}`, nil)
	require.NoError(t, o.err, "a held plugin runs after retirement")
	p.Release()
	assert.False(t, isDone(p))
	assert.Equal(t, 1, p.Holds())
	p.Release()
	assert.True(t, isDone(p))
	assert.Panics(t, p.Release)
}

// Holds, runs and retirement from many goroutines: the plugin closes exactly
// once, after everything that got in has finished, and every run that got a
// hold or started before the close succeeds. Run with -race.
func TestDrainRace(t *testing.T) {
	f := newFixture(t, Policy{})
	for round := range 5 {
		p := f.load(t, "valid/ok.wasm")
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 16 {
			wg.Go(func() {
				<-start
				if i%2 == 0 {
					if !p.Acquire() {
						return
					}
					defer p.Release()
					o := runIt(t, p, `{}`, nil)
					assert.NoError(t, o.err, "round %d: held run", round)
					assert.False(t, isDone(p))
					return
				}
				_, err := p.Run(context.Background(), RunRequest{JobID: "j", Input: []byte(`{}`)})
				if err != nil {
					assert.ErrorIs(t, err, ErrInstantiate, "round %d: a run fails only by finding the plugin closed", round)
				}
			})
		}
		wg.Go(func() {
			<-start
			time.Sleep(time.Duration(round) * time.Millisecond)
			p.Retire()
		})
		close(start)
		wg.Wait()
		select {
		case <-p.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: not closed once drained", round)
		}
		assert.Equal(t, 0, p.Holds())
		assert.Equal(t, 0, p.InFlight())
	}
}
