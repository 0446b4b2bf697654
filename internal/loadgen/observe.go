package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Client names the tool gives its own Redis connections, so CLIENT LIST can
// tell them from the node's.
const (
	// ToolClientName names the tool's control and publishing connections:
	// they are left out of the counts.
	ToolClientName = "phasectl-bench"
	// BaselineClientName names the per-client pub/sub connections of the
	// baseline (the seed's design): they are counted, as the seed node's.
	BaselineClientName = "phasectl-bench-seed"
)

// RedisConns is what CLIENT LIST shows, without the tool's own connections.
type RedisConns struct {
	// Total is every connection but the tool's.
	Total int `json:"total"`
	// PubSub is the connections in pub/sub mode (sub, psub or ssub > 0, or
	// flag P) among Total.
	PubSub int `json:"pubsub"`
	// Baseline is how many of PubSub are the baseline's per-client
	// connections (0 outside baseline mode).
	Baseline int `json:"baseline"`
	// Tool is the tool's own connections (left out above).
	Tool int `json:"tool"`
}

// clientList reads CLIENT LIST and counts connections.
func clientList(ctx context.Context, rdb *redis.Client) (RedisConns, error) {
	s, err := rdb.ClientList(ctx).Result()
	if err != nil {
		return RedisConns{}, fmt.Errorf("CLIENT LIST: %w", err)
	}
	return parseClientList(s), nil
}

func parseClientList(s string) RedisConns {
	var rc RedisConns
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := map[string]string{}
		for kv := range strings.FieldsSeq(line) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				f[k] = v
			}
		}
		if f["name"] == ToolClientName {
			rc.Tool++
			continue
		}
		rc.Total++
		pubsub := strings.Contains(f["flags"], "P")
		for _, k := range []string{"sub", "psub", "ssub"} {
			if n, _ := strconv.Atoi(f[k]); n > 0 {
				pubsub = true
			}
		}
		if pubsub {
			rc.PubSub++
			if f["name"] == BaselineClientName {
				rc.Baseline++
			}
		}
	}
	return rc
}

// numSub returns PUBSUB NUMSUB of each channel, in order.
func numSub(ctx context.Context, rdb *redis.Client, channels []string) ([]int64, error) {
	m, err := rdb.PubSubNumSub(ctx, channels...).Result()
	if err != nil {
		return nil, fmt.Errorf("PUBSUB NUMSUB: %w", err)
	}
	out := make([]int64, len(channels))
	for i, ch := range channels {
		out[i] = m[ch]
	}
	return out, nil
}

// redisUsedMemory is INFO memory's used_memory.
func redisUsedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	s, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("INFO memory: %w", err)
	}
	for line := range strings.Lines(s) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO memory: no used_memory")
}

// NodeMemory is what the node's /metrics says of its memory.
type NodeMemory struct {
	RSS       float64 `json:"process_resident_memory_bytes"`
	HeapInuse float64 `json:"go_memstats_heap_inuse_bytes"`
	// StackInuse and Goroutines do not depend on when the GC last ran, unlike
	// the two above: per connection they are exact.
	StackInuse float64 `json:"go_memstats_stack_inuse_bytes"`
	Goroutines float64 `json:"go_goroutines"`
	// Missing names the metrics /metrics did not export.
	Missing []string `json:"missing,omitempty"`
}

var memMetrics = []string{"process_resident_memory_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_goroutines"}

// scrapeMemory reads the node's /metrics (Prometheus text format).
func scrapeMemory(ctx context.Context, hc *http.Client, base string) (NodeMemory, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return NodeMemory{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return NodeMemory{}, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return NodeMemory{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMemory(resp.Body)
}

func parseMemory(r io.Reader) (NodeMemory, error) {
	got := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		for _, m := range memMetrics {
			if name == m {
				if v, err := strconv.ParseFloat(strings.Fields(val)[0], 64); err == nil {
					got[m] = v
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return NodeMemory{}, fmt.Errorf("GET /metrics: %w", err)
	}
	nm := NodeMemory{RSS: got[memMetrics[0]], HeapInuse: got[memMetrics[1]], StackInuse: got[memMetrics[2]], Goroutines: got[memMetrics[3]]}
	for _, m := range memMetrics {
		if _, ok := got[m]; !ok {
			nm.Missing = append(nm.Missing, m)
		}
	}
	return nm, nil
}
