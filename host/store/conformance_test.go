package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/store"
)

// testStore is the conformance suite every Store implementation passes.
// newStore returns a fresh, empty store with opts; the suite closes it.
func testStore(t *testing.T, newStore func(t *testing.T, opts store.Options) store.Store) {
	ctx := context.Background()
	open := func(t *testing.T, opts store.Options) store.Store {
		s := newStore(t, opts)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	create := func(t *testing.T, s store.Store, id string) {
		_, err := s.Create(ctx, store.NewJob{ID: id, Pipeline: []string{"ok"}, Stages: []store.StageState{{Stage: "test", Plugin: "ok", Version: "1.0.0"}}})
		require.NoError(t, err)
	}
	phase := func(id string, i int) event.Event {
		return event.Event{JobID: id, Type: event.TypePhase, Stage: "test", StageIndex: event.Int(0), Plugin: "ok", Version: "1.0.0",
			SourcePhase: "OK_READ_PROGRESS", Step: "read", Phase: "PROGRESS", Done: event.Int64(int64(i)), Total: event.Int64(0),
			Percent: event.Float(1), JobPercent: event.Float(1), Message: fmt.Sprint(i)}
	}
	jobEv := func(id, status string) event.Event {
		return event.Event{JobID: id, Type: event.TypeJob, Status: status, JobPercent: event.Float(0)}
	}

	t.Run("create", func(t *testing.T) {
		s := open(t, store.Options{})
		create(t, s, "j1")
		_, err := s.Create(ctx, store.NewJob{ID: "j1"})
		assert.ErrorIs(t, err, store.ErrExists)
		j, err := s.Get(ctx, "j1")
		require.NoError(t, err)
		assert.Equal(t, event.StatusQueued, j.Status)
		assert.Equal(t, int64(0), j.Seq)
		assert.Equal(t, []store.StageState{{Stage: "test", Plugin: "ok", Version: "1.0.0", Status: event.StatusQueued}}, j.Stages)
		_, err = s.Get(ctx, "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.Publish(ctx, jobEv("nope", event.StatusRunning))
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.History(ctx, "nope", 0)
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.Subscribe(ctx, "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("seq contiguous and state follows", func(t *testing.T) {
		s := open(t, store.Options{})
		create(t, s, "j")
		for i := 1; i <= 10; i++ {
			ev := phase("j", i)
			ev.Seq = 999 // ignored: the store numbers
			got, err := s.Publish(ctx, ev)
			require.NoError(t, err)
			assert.Equal(t, int64(i), got.Seq)
			assert.False(t, got.Time.IsZero())
		}
		_, err := s.Publish(ctx, event.Event{JobID: "j", Type: event.TypeStage, Status: event.StatusSucceeded, Stage: "test", StageIndex: event.Int(0), Percent: event.Float(100)})
		require.NoError(t, err)
		fin := jobEv("j", event.StatusSucceeded)
		fin.Result = json.RawMessage(`{"ok":true}`)
		fin.JobPercent = event.Float(100)
		_, err = s.Publish(ctx, fin)
		require.NoError(t, err)
		j, err := s.Get(ctx, "j")
		require.NoError(t, err)
		assert.Equal(t, int64(12), j.Seq)
		assert.Equal(t, event.StatusSucceeded, j.Status)
		assert.Equal(t, 100.0, j.JobPercent)
		assert.JSONEq(t, `{"ok":true}`, string(j.Result))
		assert.Equal(t, event.StatusSucceeded, j.Stages[0].Status)
		assert.Equal(t, "OK_READ_PROGRESS", j.Stages[0].SourcePhase)
		assert.Equal(t, "10", j.Stages[0].Message)
		_, err = s.Publish(ctx, event.Event{JobID: "j", Type: event.TypeStage, Status: event.StatusRunning, StageIndex: event.Int(5)})
		assert.ErrorIs(t, err, store.ErrTerminal)
	})

	t.Run("no update after terminal", func(t *testing.T) {
		for _, status := range []string{event.StatusSucceeded, event.StatusFailed, event.StatusCancelled} {
			t.Run(status, func(t *testing.T) {
				s := open(t, store.Options{})
				create(t, s, "j")
				_, err := s.Publish(ctx, jobEv("j", status))
				require.NoError(t, err)
				for _, ev := range []event.Event{jobEv("j", event.StatusRunning), phase("j", 1), jobEv("j", event.StatusSucceeded)} {
					_, err = s.Publish(ctx, ev)
					assert.ErrorIs(t, err, store.ErrTerminal)
				}
				j, err := s.Get(ctx, "j")
				require.NoError(t, err)
				assert.Equal(t, status, j.Status)
				assert.Equal(t, int64(1), j.Seq)
			})
		}
	})

	t.Run("fencing: a run taken over publishes nothing more", func(t *testing.T) {
		s := open(t, store.Options{})
		create(t, s, "f")
		_, err := s.Publish(ctx, jobEv("f", event.StatusQueued)) // fence 0: submission
		require.NoError(t, err)
		first, j, err := s.Fence(ctx, "f")
		require.NoError(t, err)
		assert.Equal(t, int64(1), first)
		assert.Equal(t, event.StatusQueued, j.Status)
		ev := phase("f", 1)
		ev.Fence = first
		got, err := s.Publish(ctx, ev)
		require.NoError(t, err)
		assert.Zero(t, got.Fence, "the token is not part of the stored event")

		second, j, err := s.Fence(ctx, "f") // another worker takes the job over
		require.NoError(t, err)
		assert.Equal(t, int64(2), second)
		assert.Equal(t, int64(2), j.Seq)
		_, err = s.Publish(ctx, ev) // the first run comes back
		assert.ErrorIs(t, err, store.ErrFenced)
		ev.Fence = second
		_, err = s.Publish(ctx, ev)
		require.NoError(t, err)
		_, err = s.Publish(ctx, jobEv("f", event.StatusRunning)) // fence 0: not checked
		require.NoError(t, err)
		fin := jobEv("f", event.StatusSucceeded)
		fin.Fence = first
		_, err = s.Publish(ctx, fin)
		assert.ErrorIs(t, err, store.ErrFenced, "the old run cannot end the job")
		fin.Fence = second
		_, err = s.Publish(ctx, fin)
		require.NoError(t, err)
		hist, err := s.History(ctx, "f", 0)
		require.NoError(t, err)
		assert.Equal(t, []int64{1, 2, 3, 4, 5}, seqs(hist))

		third, j, err := s.Fence(ctx, "f") // a finished job still answers
		require.NoError(t, err)
		assert.Equal(t, int64(3), third)
		assert.Equal(t, event.StatusSucceeded, j.Status)
		_, _, err = s.Fence(ctx, "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("invalid events refused without a seq", func(t *testing.T) {
		s := open(t, store.Options{MaxResultBytes: 8})
		create(t, s, "j")
		bad := phase("j", 1)
		bad.StageIndex = event.Int(3)
		_, err := s.Publish(ctx, bad)
		assert.ErrorIs(t, err, store.ErrInvalidEvent)
		big := jobEv("j", event.StatusSucceeded)
		big.Result = json.RawMessage(`"0123456789"`)
		_, err = s.Publish(ctx, big)
		assert.ErrorIs(t, err, store.ErrResultTooLarge)
		small := jobEv("j", event.StatusSucceeded)
		small.Result = json.RawMessage(`"0123"`)
		got, err := s.Publish(ctx, small)
		require.NoError(t, err)
		assert.Equal(t, int64(1), got.Seq)
	})

	t.Run("history since", func(t *testing.T) {
		s := open(t, store.Options{})
		create(t, s, "j")
		for i := 1; i <= 5; i++ {
			_, err := s.Publish(ctx, phase("j", i))
			require.NoError(t, err)
		}
		for _, tc := range []struct {
			since int64
			want  []int64
		}{{-1, []int64{1, 2, 3, 4, 5}}, {0, []int64{1, 2, 3, 4, 5}}, {3, []int64{4, 5}}, {5, nil}, {9, nil}} {
			h, err := s.History(ctx, "j", tc.since)
			require.NoError(t, err)
			assert.Equal(t, tc.want, seqs(h), "since %d", tc.since)
		}
	})

	t.Run("subscribe then history: no gap, no duplicate", func(t *testing.T) {
		s := open(t, store.Options{SubscriberBuffer: 10_000})
		create(t, s, "j")
		const n = 2000
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= n; i++ {
				_, err := s.Publish(ctx, phase("j", i))
				assert.NoError(t, err)
			}
			_, err := s.Publish(ctx, jobEv("j", event.StatusSucceeded))
			assert.NoError(t, err)
		}()
		time.Sleep(time.Millisecond) // join mid-stream
		sub, hist, err := store.Catchup(ctx, s, "j", 0)
		require.NoError(t, err)
		defer sub.Close()
		got := seqs(hist)
		last := int64(0)
		if len(hist) > 0 {
			last = hist[len(hist)-1].Seq
		}
		for ev := range sub.C() {
			if ev.Seq <= last {
				continue
			}
			got = append(got, ev.Seq)
			last = ev.Seq
		}
		assert.NoError(t, sub.Err())
		wg.Wait()
		require.Len(t, got, n+1)
		for i, q := range got {
			require.Equal(t, int64(i+1), q)
		}
	})

	t.Run("subscription closes after terminal; finished job gives a closed one", func(t *testing.T) {
		s := open(t, store.Options{})
		create(t, s, "j")
		sub, err := s.Subscribe(ctx, "j")
		require.NoError(t, err)
		_, err = s.Publish(ctx, jobEv("j", event.StatusFailed))
		require.NoError(t, err)
		ev, ok := <-sub.C()
		require.True(t, ok)
		assert.Equal(t, event.StatusFailed, ev.Status)
		_, ok = <-sub.C()
		assert.False(t, ok)
		assert.NoError(t, sub.Err())
		sub.Close() // idempotent

		sub2, err := s.Subscribe(ctx, "j")
		require.NoError(t, err)
		_, ok = <-sub2.C()
		assert.False(t, ok)
	})

	t.Run("slow subscriber dropped, publish never blocks", func(t *testing.T) {
		s := open(t, store.Options{SubscriberBuffer: 4})
		create(t, s, "j")
		slow, err := s.Subscribe(ctx, "j")
		require.NoError(t, err)
		fast, err := s.Subscribe(ctx, "j")
		require.NoError(t, err)
		var got []int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ev := range fast.C() {
				got = append(got, ev.Seq)
			}
		}()
		for i := 1; i <= 100; i++ {
			_, err := s.Publish(ctx, phase("j", i))
			require.NoError(t, err)
			time.Sleep(50 * time.Microsecond)
		}
		var slowGot []int64
		for ev := range slow.C() {
			slowGot = append(slowGot, ev.Seq)
		}
		assert.ErrorIs(t, slow.Err(), store.ErrSlowSubscriber)
		assert.Equal(t, []int64{1, 2, 3, 4}, slowGot)
		// Resuming from history after the drop loses nothing.
		rest, err := s.History(ctx, "j", slowGot[len(slowGot)-1])
		require.NoError(t, err)
		assert.Len(t, rest, 96)
		fast.Close()
		<-done
		assert.NotEmpty(t, got)
	})

	t.Run("concurrent publishers on one job", func(t *testing.T) {
		s := open(t, store.Options{SubscriberBuffer: 10_000})
		create(t, s, "j")
		create(t, s, "other")
		sub, err := s.Subscribe(ctx, "j")
		require.NoError(t, err)
		defer sub.Close()
		const workers, each = 16, 500
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					_, err := s.Publish(ctx, phase("j", w*each+i))
					assert.NoError(t, err)
					if i%50 == 0 {
						_, err = s.Publish(ctx, phase("other", i))
						assert.NoError(t, err)
						_, err = s.Get(ctx, "j")
						assert.NoError(t, err)
					}
				}
			}()
		}
		wg.Wait()
		h, err := s.History(ctx, "j", 0)
		require.NoError(t, err)
		require.Len(t, h, workers*each)
		seen := map[string]bool{}
		for i, ev := range h {
			require.Equal(t, int64(i+1), ev.Seq)
			seen[ev.Message] = true
		}
		assert.Len(t, seen, workers*each)
		for i := range workers * each {
			ev := <-sub.C()
			require.Equal(t, int64(i+1), ev.Seq)
		}
		j, err := s.Get(ctx, "j")
		require.NoError(t, err)
		assert.Equal(t, int64(workers*each), j.Seq)
	})

	t.Run("list newest first", func(t *testing.T) {
		s := open(t, store.Options{})
		for _, id := range []string{"a", "b", "c"} {
			create(t, s, id)
			time.Sleep(2 * time.Millisecond)
		}
		all, err := s.List(ctx, 0)
		require.NoError(t, err)
		require.Len(t, all, 3)
		assert.Equal(t, "c", all[0].ID)
		two, err := s.List(ctx, 2)
		require.NoError(t, err)
		assert.Len(t, two, 2)
	})

	t.Run("expiry of finished jobs", func(t *testing.T) {
		s := open(t, store.Options{TTL: 100 * time.Millisecond})
		create(t, s, "done")
		create(t, s, "running")
		_, err := s.Publish(ctx, jobEv("done", event.StatusSucceeded))
		require.NoError(t, err)
		_, err = s.Publish(ctx, jobEv("running", event.StatusRunning))
		require.NoError(t, err)
		_, err = s.Get(ctx, "done")
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			_, err := s.Get(ctx, "done")
			return err != nil && strings.Contains(err.Error(), store.ErrNotFound.Error())
		}, 3*time.Second, 10*time.Millisecond)
		_, err = s.History(ctx, "done", 0)
		assert.ErrorIs(t, err, store.ErrNotFound)
		j, err := s.Get(ctx, "running")
		require.NoError(t, err)
		assert.Equal(t, event.StatusRunning, j.Status)
		all, err := s.List(ctx, 0)
		require.NoError(t, err)
		assert.Len(t, all, 1)
	})
}

func seqs(evs []event.Event) []int64 {
	var out []int64
	for _, ev := range evs {
		out = append(out, ev.Seq)
	}
	return out
}
