package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/event"
	"github.com/phasehost/phasehost/host/store"
	"github.com/phasehost/phasehost/internal/redistest"
)

// rawClient is a plain client to srv for looking behind the store's back.
func rawClient(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(srv.URL())
	require.NoError(t, err)
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newJob(t testing.TB, s store.Store, id string) {
	t.Helper()
	_, err := s.Create(context.Background(), store.NewJob{ID: id, Pipeline: []string{"ok"},
		Stages: []store.StageState{{Stage: "test", Plugin: "ok", Version: "1.0.0"}}})
	require.NoError(t, err)
}

func phaseEv(id, msg string) event.Event {
	return event.Event{JobID: id, Type: event.TypePhase, StageIndex: event.Int(0), SourcePhase: "OK_READ_PROGRESS",
		Step: "read", Phase: "PROGRESS", Percent: event.Float(1), Message: msg}
}

func finalEv(id string) event.Event {
	return event.Event{JobID: id, Type: event.TypeJob, Status: event.StatusSucceeded, JobPercent: event.Float(100)}
}

// pubsubClients counts the connections in CLIENT LIST that are in pub/sub mode.
func pubsubClients(t testing.TB, c *redis.Client) int {
	t.Helper()
	list, err := c.ClientList(context.Background()).Result()
	require.NoError(t, err)
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		sub, flags := 0, ""
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "sub":
				sub, _ = strconv.Atoi(v)
			case "flags":
				flags = v
			}
		}
		if sub > 0 || strings.Contains(flags, "P") {
			n++
		}
	}
	return n
}

// collect drains sub into a slice of seqs until it closes.
func collect(sub store.Subscription) <-chan []int64 {
	out := make(chan []int64, 1)
	go func() {
		var got []int64
		for ev := range sub.C() {
			got = append(got, ev.Seq)
		}
		out <- got
	}()
	return out
}

func requireSeqs(t testing.TB, got []int64, n int) {
	t.Helper()
	require.Len(t, got, n)
	for i, q := range got {
		require.Equal(t, int64(i+1), q, "position %d", i)
	}
}

// TestRedisLostUpdateHammer: many writers on one job, every event exactly once.
func TestRedisLostUpdateHammer(t *testing.T) {
	writers, each := 64, 1000
	if testing.Short() {
		writers, each = 16, 250
	}
	srv := redistest.Start(t)
	s := openRedis(t, srv, store.RedisOptions{})
	raw := rawClient(t, srv)
	ctx := context.Background()
	newJob(t, s, "hammer")

	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.Publish(ctx, phaseEv("hammer", fmt.Sprintf("%d:%d", w, i))); err != nil {
					assert.NoError(t, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := writers * each
	t.Logf("%d events by %d writers in %v (%.0f events/s)", total, writers, time.Since(start), float64(total)/time.Since(start).Seconds())

	j, err := s.Get(ctx, "hammer")
	require.NoError(t, err)
	assert.Equal(t, int64(total), j.Seq, "the hash's seq")

	hist, err := s.History(ctx, "hammer", 0)
	require.NoError(t, err)
	require.Len(t, hist, total)
	next := make([]int, writers) // each writer's events arrive once and in its order
	for i, ev := range hist {
		require.Equal(t, int64(i+1), ev.Seq)
		var w, k int
		_, err := fmt.Sscanf(ev.Message, "%d:%d", &w, &k)
		require.NoError(t, err)
		require.Equal(t, next[w], k, "writer %d", w)
		next[w]++
	}
	for w := range writers {
		assert.Equal(t, each, next[w], "writer %d: lost events", w)
	}
	// The stream entry ids are the seqs themselves.
	first, err := raw.XRangeN(ctx, s.EventsKey("hammer"), "-", "+", 1).Result()
	require.NoError(t, err)
	require.Len(t, first, 1)
	assert.Equal(t, "1-0", first[0].ID)
	n, err := raw.XLen(ctx, s.EventsKey("hammer")).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(total), n)
}

// TestRedisOneSubscriptionPerJob: 300 watchers of 3 jobs share one
// connection and one channel subscription per job.
func TestRedisOneSubscriptionPerJob(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv, store.RedisOptions{Linger: 200 * time.Millisecond})
	raw := rawClient(t, srv)
	ctx := context.Background()
	jobs := []string{"a", "b", "c"}
	for _, id := range jobs {
		newJob(t, s, id)
	}
	subs := make([]store.Subscription, 300) // subs[i] watches jobs[i%3]
	var wg sync.WaitGroup
	for i := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub, err := s.Subscribe(ctx, jobs[i%3])
			assert.NoError(t, err)
			subs[i] = sub
		}()
	}
	wg.Wait()
	for _, sub := range subs {
		require.NotNil(t, sub)
	}

	channels := make([]string, len(jobs))
	for i, id := range jobs {
		channels[i] = s.JobKey(id)
	}
	numsub := func() map[string]int64 {
		m, err := raw.PubSubNumSub(ctx, channels...).Result()
		require.NoError(t, err)
		return m
	}
	require.Eventually(t, func() bool {
		m := numsub()
		return m[channels[0]] == 1 && m[channels[1]] == 1 && m[channels[2]] == 1
	}, 5*time.Second, 10*time.Millisecond, "NUMSUB: %v", numsub())
	assert.Equal(t, 1, pubsubClients(t, raw), "pub/sub connections in CLIENT LIST")
	assert.Equal(t, 3, s.SubscribedJobs())

	// Every watcher gets the events.
	for _, id := range jobs {
		_, err := s.Publish(ctx, phaseEv(id, "hello"))
		require.NoError(t, err)
	}
	for _, sub := range subs {
		select {
		case ev := <-sub.C():
			assert.Equal(t, int64(1), ev.Seq)
		case <-time.After(5 * time.Second):
			t.Fatal("a watcher got nothing")
		}
	}

	// Closing all but one watcher of job a keeps its channel only.
	for _, sub := range subs[1:] {
		sub.Close()
	}
	require.Eventually(t, func() bool {
		m := numsub()
		return m[channels[1]] == 0 && m[channels[2]] == 0
	}, 5*time.Second, 20*time.Millisecond, "NUMSUB: %v", numsub())
	assert.Equal(t, int64(1), numsub()[channels[0]], "job a still watched")
	assert.Equal(t, 1, s.SubscribedJobs())
	subs[0].Close()

	// A re-subscribe within the linger keeps the channel…
	again, err := s.Subscribe(ctx, jobs[0])
	require.NoError(t, err)
	again.Close()
	// …and after the last close and the linger, none are left.
	require.Eventually(t, func() bool {
		m := numsub()
		return m[channels[0]] == 0 && m[channels[1]] == 0 && m[channels[2]] == 0
	}, 5*time.Second, 20*time.Millisecond, "NUMSUB: %v", numsub())
	assert.Equal(t, 0, s.SubscribedJobs())
	assert.Equal(t, 1, pubsubClients(t, raw), "the shared connection stays (probe channel)")
}

// TestRedisLingerResubscribe: a watcher that leaves and comes back within
// the linger loses nothing, and the channel is never dropped.
func TestRedisLingerResubscribe(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv, store.RedisOptions{Linger: time.Hour})
	ctx := context.Background()
	newJob(t, s, "j")
	sub, err := s.Subscribe(ctx, "j")
	require.NoError(t, err)
	_, err = s.Publish(ctx, phaseEv("j", "1"))
	require.NoError(t, err)
	<-sub.C()
	sub.Close()
	_, err = s.Publish(ctx, phaseEv("j", "2"))
	require.NoError(t, err)
	sub, hist, err := store.Catchup(ctx, s, "j", 1)
	require.NoError(t, err)
	defer sub.Close()
	require.Len(t, hist, 1)
	_, err = s.Publish(ctx, finalEv("j"))
	require.NoError(t, err)
	got := <-collect(sub)
	var after []int64
	for _, q := range got {
		if q > 2 {
			after = append(after, q)
		}
	}
	assert.Equal(t, []int64{3}, after)
	assert.Equal(t, 1, s.SubscribedJobs())
}

// TestRedisWireJSON: the JSON in the stream and on the channel is exactly
// json.Marshal of the event Publish returns, seq included.
func TestRedisWireJSON(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv, store.RedisOptions{})
	raw := rawClient(t, srv)
	ctx := context.Background()
	newJob(t, s, `we"ird}id`)
	ps := raw.Subscribe(ctx, s.JobKey(`we"ird}id`))
	defer ps.Close()
	_, err := ps.Receive(ctx) // the subscribe confirmation
	require.NoError(t, err)

	for i, ev := range []event.Event{phaseEv(`we"ird}id`, `"seq":0, a tricky message`), finalEv(`we"ird}id`)} {
		if i == 1 {
			ev.Result = json.RawMessage(`{"seq":0}`)
		}
		got, err := s.Publish(ctx, ev)
		require.NoError(t, err)
		want, err := json.Marshal(got)
		require.NoError(t, err)

		msg, err := ps.ReceiveMessage(ctx)
		require.NoError(t, err)
		assert.Equal(t, string(want), msg.Payload, "published JSON")
		entries, err := raw.XRange(ctx, s.EventsKey(`we"ird}id`), fmt.Sprintf("%d-0", got.Seq), fmt.Sprintf("%d-0", got.Seq)).Result()
		require.NoError(t, err)
		require.Len(t, entries, 1)
		assert.Equal(t, string(want), entries[0].Values["e"], "stored JSON")
	}
	ttl, err := raw.PTTL(ctx, s.JobKey(`we"ird}id`)).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, time.Duration(0), "a finished job's hash expires")
	ttl, err = raw.PTTL(ctx, s.EventsKey(`we"ird}id`)).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, time.Duration(0), "and so does its stream")
}
