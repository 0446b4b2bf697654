package server_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The JS client's SSE transport, in the browser: a job watched over
// EventSource arrives whole, in order, from seq 1, and ends with the final job
// event; a second watch from since=3 gets exactly the rest.
func TestBrowserClientSSETransport(t *testing.T) {
	e, ctx := dashEnv(t)
	s := e.submit("ok")
	final := e.waitStatus(s, "succeeded")

	watch := func(since int64) []int64 {
		expr := fmt.Sprintf(`(async () => {
		  const seqs = [];
		  const w = window.phasehost.client.watch(%q, %q, {transport: "sse", since: %d, onEvent: (ev) => seqs.push(ev.seq)});
		  const last = await w.done;
		  if (w.transport() !== "sse") throw new Error("transport " + w.transport());
		  if (last.type !== "job" || last.status !== "succeeded") throw new Error("last " + JSON.stringify(last));
		  return seqs;
		})()`, s.ID, s.Token, since)
		seqs, err := chromedp.Run(ctx, chromedp.Evaluate[[]int64](expr, chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		return seqs
	}
	assertOneToN(t, watch(0), final.Seq)
	rest := watch(3)
	require.NotEmpty(t, rest)
	require.Equal(t, int64(4), rest[0])
	require.Equal(t, final.Seq, rest[len(rest)-1])
	require.Len(t, rest, int(final.Seq-3))
}
