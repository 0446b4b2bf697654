package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phasehost/phasehost/host/store"
	"github.com/phasehost/phasehost/internal/loadgen"
)

// benchOutput is the --json document.
type benchOutput struct {
	Runs []*loadgen.Report `json:"runs"`
	// Ratio compares the baseline with the node when both ran.
	Ratio *benchRatio `json:"ratio,omitempty"`
}

// benchRatio is baseline ÷ node.
type benchRatio struct {
	RedisConns  float64 `json:"redis_conns"`
	PubSubConns float64 `json:"pubsub_conns"`
	P99         float64 `json:"p99_latency"`
}

func newBenchCmd(env Env) *cobra.Command {
	var (
		cfg               loadgen.Config
		secret, baseline  string
		compare, asJSON   bool
		verbose           bool
		clients, jobs     int
		rate              float64
		duration, warmup  time.Duration
		drain             time.Duration
		publishers        int
		noReconnect       bool
		serverURL, rdsURL string
		prefix            string
	)
	cmd := &cobra.Command{
		Use:   "bench --server URL --redis URL --secret S [--clients N] [--jobs M] [--rate R] [--duration D]",
		Short: "Load-test a phasehost node's WebSocket rooms on Redis",
		Long: `bench measures what frontends watching jobs see from a running phasehost
node on Redis. It creates --jobs jobs directly in the node's Redis (through
the store: they are in no node's queue, so no worker runs them), opens
--clients WebSocket clients spread evenly over them (GET /v1/ws?job&token,
tokens made from --secret as the node makes them), waits until every client
has joined (received the job's history), then publishes phase events at
--rate events/s in total for --duration (after --warmup, not measured), and
ends every job with a terminal event.

The report: events published and the rate achieved; deliveries expected
(clients x events of their job) and received, duplicates and gaps; delivered
events/s; latency (receive time - event time) p50/p90/p99/max; clients
closed with 4008 (too slow; they reconnect with since unless
--no-reconnect); Redis connections (CLIENT LIST, without the tool's own) and
pub/sub connections, PUBSUB NUMSUB of each job channel, and memory per idle
connection (the node's /metrics before and after the clients connected, and
Redis's used_memory).

--baseline runs the seed's design instead: no node, one Redis pub/sub
connection per client SUBSCRIBEd to its job channel. --baseline=both (or
--compare) runs the node, then the baseline, and prints both rows and the
baseline/node ratios of Redis connections and p99 latency.

Exit status: 0 the report was printed, 1 the run could not be made, 2 bad usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			modes, err := benchModes(baseline, compare)
			if err != nil {
				return err
			}
			if secret == "" && env.Getenv != nil {
				secret = env.Getenv("PHASEHOST_SECRET")
			}
			switch {
			case rdsURL == "":
				return exit(ExitUsage, "--redis: the URL of the node's Redis is required")
			case modes[0] == loadgen.ModeNode && serverURL == "":
				return exit(ExitUsage, "--server: the node's URL is required (or --baseline alone)")
			case modes[0] == loadgen.ModeNode && secret == "":
				return exit(ExitUsage, "--secret: the node's secret is required to make job tokens (or PHASEHOST_SECRET)")
			case clients < 1 || jobs < 1 || jobs > clients:
				return exit(ExitUsage, "--clients %d --jobs %d: need 1 <= jobs <= clients", clients, jobs)
			case rate <= 0 || duration <= 0 || warmup < 0:
				return exit(ExitUsage, "--rate and --duration must be positive, --warmup not negative")
			}
			if limit, err := loadgen.RaiseFileLimit(); err != nil {
				fmt.Fprintf(env.Stderr, "phasectl: raising the open-file limit: %v\n", err)
			} else if limit != 0 && limit < uint64(clients)+256 {
				fmt.Fprintf(env.Stderr, "phasectl: the open-file limit is %d, low for %d clients\n", limit, clients)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()

			cfg = loadgen.Config{
				ServerURL: serverURL, RedisURL: rdsURL, Prefix: prefix,
				Clients: clients, Jobs: jobs, Rate: rate, Duration: duration, Warmup: warmup,
				Drain: drain, Publishers: publishers, NoReconnect: noReconnect,
				Logger: logger(env, verbose),
			}
			if secret != "" {
				tokens, err := loadgen.ServerTokens([]byte(secret))
				if err != nil {
					return exit(ExitFailed, "tokens: %v", err)
				}
				cfg.Token = tokens
			}
			var out benchOutput
			for _, m := range modes {
				c := cfg
				c.Mode = m
				if !asJSON {
					fmt.Fprintf(env.Stderr, "bench %s: %d clients on %d jobs, %g events/s for %s...\n", m, clients, jobs, rate, duration)
				}
				rep, err := loadgen.Run(ctx, c)
				if err != nil {
					return exit(ExitFailed, "%s run: %v", m, err)
				}
				out.Runs = append(out.Runs, rep)
			}
			if len(out.Runs) == 2 {
				out.Ratio = ratio(out.Runs[0], out.Runs[1])
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			printBench(env.Stdout, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&serverURL, "server", "", "the phasehost node, http://host:port")
	f.StringVar(&rdsURL, "redis", "", "the Redis the node uses, redis://host:port/db")
	f.StringVar(&prefix, "prefix", store.DefaultRedisPrefix, "the store's key prefix")
	f.StringVar(&secret, "secret", "", "the node's --secret, to make job tokens (default $PHASEHOST_SECRET)")
	f.IntVar(&clients, "clients", 1000, "WebSocket clients (or pub/sub connections in the baseline)")
	f.IntVar(&jobs, "jobs", 10, "jobs; the clients are spread evenly over them")
	f.Float64Var(&rate, "rate", 250, "events published per second, in total over the jobs (each reaches every client of its job: 250 events/s to 1000 clients on 10 jobs is 25,000 deliveries/s)")
	f.DurationVar(&duration, "duration", 10*time.Second, "how long events are published and measured")
	f.DurationVar(&warmup, "warmup", 0, "publishing at --rate before the measured --duration")
	f.DurationVar(&drain, "drain", 0, "how long to wait for deliveries after the last event (default max(10s, --duration))")
	f.IntVar(&publishers, "publishers", 32, "goroutines publishing events")
	f.BoolVar(&noReconnect, "no-reconnect", false, "clients closed with 4008 stay closed instead of reconnecting with since")
	f.StringVar(&baseline, "baseline", "", "run the seed's one-pub/sub-connection-per-client design instead of the node (\"only\"), or after it (\"both\")")
	f.Lookup("baseline").NoOptDefVal = "only"
	f.BoolVar(&compare, "compare", false, "same as --baseline=both")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVarP(&verbose, "verbose", "v", false, "log progress on stderr")
	return cmd
}

// benchModes returns the runs to make, in order.
func benchModes(baseline string, compare bool) ([]loadgen.Mode, error) {
	if compare {
		if baseline != "" && baseline != "both" {
			return nil, exit(ExitUsage, "--compare and --baseline=%s disagree", baseline)
		}
		baseline = "both"
	}
	switch strings.ToLower(baseline) {
	case "", "false", "off", "no":
		return []loadgen.Mode{loadgen.ModeNode}, nil
	case "only", "true", "on", "yes":
		return []loadgen.Mode{loadgen.ModeBaseline}, nil
	case "both":
		return []loadgen.Mode{loadgen.ModeNode, loadgen.ModeBaseline}, nil
	}
	return nil, exit(ExitUsage, "--baseline=%s: want only (the default with no value) or both", baseline)
}

func ratio(node, base *loadgen.Report) *benchRatio {
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	return &benchRatio{
		RedisConns:  div(float64(base.Redis.Total), float64(node.Redis.Total)),
		PubSubConns: div(float64(base.Redis.PubSub), float64(node.Redis.PubSub)),
		P99:         div(base.Latency.P99, node.Latency.P99),
	}
}

func printBench(w io.Writer, out benchOutput) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tclients\tjobs\tpublished\tpub/s\texpected\treceived\tdup\tgap\tdelivered/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\t4008\tredis conns\tpub/sub conns\tnumsub/job\t")
	for _, r := range out.Runs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%d\t%d\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\t%s\t\n",
			r.Mode, r.Clients, r.Jobs, r.Published, r.PublishRate, r.Expected, r.Received, r.Duplicates, r.Gaps,
			r.DeliveredRate, r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, r.Closed4008,
			r.Redis.Total, r.Redis.PubSub, numSubs(r.NumSub))
	}
	_ = tw.Flush()
	for _, r := range out.Runs {
		fmt.Fprintf(w, "\n%s:\n", r.Mode)
		fmt.Fprintf(w, "  connect+join %.2fs; target %g events/s; warmup events %d; skipped %d; publish errors %d\n",
			r.ConnectSeconds, r.TargetRate, r.WarmupEvents, r.Skipped, r.PublishErrors)
		pct := 0.0
		if r.Expected > 0 {
			pct = 100 * float64(r.Received) / float64(r.Expected)
		}
		fmt.Fprintf(w, "  deliveries %d/%d (%.2f%%); terminal event seen by %d/%d clients; 4008 closes %d, reconnects %d, client errors %d\n",
			r.Received, r.Expected, pct, r.FinalSeen, r.Clients, r.Closed4008, r.Reconnects, r.ClientErrors)
		fmt.Fprintf(w, "  latency mean %.2f ms over %d samples\n", r.Latency.Mean, r.Latency.Samples)
		fmt.Fprintf(w, "  redis: %d connections (%d pub/sub", r.Redis.Total, r.Redis.PubSub)
		if r.Redis.Baseline > 0 {
			fmt.Fprintf(w, ", %d of them the baseline's", r.Redis.Baseline)
		}
		fmt.Fprintf(w, ") besides the tool's %d; used_memory %s per client\n", r.Redis.Tool, bytesStr(r.RedisMemPerConn))
		if r.NodePerConn != nil {
			fmt.Fprintf(w, "  node memory per idle connection: rss %s, heap in use %s (rss %s -> %s, heap %s -> %s; both move with the GC), stack %s, goroutines %.2f\n",
				bytesStr(r.NodePerConn.RSS), bytesStr(r.NodePerConn.HeapInuse),
				bytesStr(r.NodeBefore.RSS), bytesStr(r.NodeIdle.RSS), bytesStr(r.NodeBefore.HeapInuse), bytesStr(r.NodeIdle.HeapInuse),
				bytesStr(r.NodePerConn.StackInuse), r.NodePerConn.Goroutines)
			if len(r.NodeIdle.Missing) > 0 {
				fmt.Fprintf(w, "  /metrics does not export %s\n", strings.Join(r.NodeIdle.Missing, ", "))
			}
		}
		if r.SubscriberPerConn != nil {
			fmt.Fprintf(w, "  subscriber-side memory per pub/sub connection (this process): rss %s, heap in use %s\n",
				bytesStr(r.SubscriberPerConn.RSS), bytesStr(r.SubscriberPerConn.HeapInuse))
		}
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  error: %s\n", e)
		}
	}
	if out.Ratio != nil {
		fmt.Fprintf(w, "\nbaseline/node: redis connections %.3gx, pub/sub connections %.4gx, p99 latency %.3gx\n",
			out.Ratio.RedisConns, out.Ratio.PubSubConns, out.Ratio.P99)
	}
}

func numSubs(ns []int64) string {
	if len(ns) == 0 {
		return "-"
	}
	lo, hi := ns[0], ns[0]
	for _, n := range ns {
		lo, hi = min(lo, n), max(hi, n)
	}
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d..%d", lo, hi)
}

func bytesStr(b float64) string {
	neg := ""
	if b < 0 {
		neg, b = "-", -b
	}
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%s%.1f MiB", neg, b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%s%.1f KiB", neg, b/(1<<10))
	}
	return fmt.Sprintf("%s%.0f B", neg, b)
}
