package server_test

// Browser tests of the dashboard (package web) and the JavaScript client
// (/v1/client.js) in a real headless Chromium, driven by chromedp. Without
// Chromium they skip (install it with scripts/ensure-chromium.sh), except
// under CI=true where they fail.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/server"
)

const chromiumInstall = "apt-get install -y chromium (or scripts/ensure-chromium.sh), or set CHROMIUM to a Chromium binary"

// chromiumPath finds Chromium: $CHROMIUM, else chromium, chromium-browser or
// google-chrome on PATH.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("chromium not found; install it: %s", chromiumInstall)
	}
	t.Skipf("chromium not found; install it: %s", chromiumInstall)
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile; the returned
// context drives one tab and ends with the test.
func newBrowser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1400, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	require.NoError(t, chromedp.Do(ctx), "starting %s", chromiumPath(t))
	return ctx
}

// dashEnv is a test server (real engine, ok/cancel/trap test modules) whose
// body limit takes the example document, and a browser on its dashboard.
func dashEnv(t *testing.T) (*env, context.Context) {
	t.Helper()
	e := newEnv(t, func(c *server.Config) { c.MaxBodyBytes = 1 << 20 })
	ctx := newBrowser(t, 90*time.Second)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/"),
		waitJS(`window.phasehost && window.phasehost.ready`, 20*time.Second),
	))
	return e, ctx
}

// submitFromPage submits pipeline with the page's form and returns the id of
// the job that appears.
func submitFromPage(t *testing.T, ctx context.Context, pipeline string) string {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("pipeline"), pipeline),
		chromedp.Click(chromedp.ID("submit")),
	))
	id, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const j = document.querySelector(".job"); return j ? j.dataset.job : false })()`,
		chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err)
	require.NotEmpty(t, id)
	return id
}

// pageSeqs is the seqs the page received for job id, in order.
func pageSeqs(t *testing.T, ctx context.Context, id string) []int64 {
	t.Helper()
	return eval[[]int64](t, ctx, fmt.Sprintf(`window.phasehost.seqs(%q)`, id))
}

// eval evaluates expr in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, "%s", expr)
	return v
}

// void drops an action's value.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// waitJS waits until expr is truthy in the page.
func waitJS(expr string, d time.Duration) chromedp.Action[chromedp.Void] {
	return void(chromedp.Poll[any](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(10*time.Millisecond)))
}

func assertOneToN(t *testing.T, seqs []int64, n int64) {
	t.Helper()
	require.Len(t, seqs, int(n), "the page received %d events of %d: %v", len(seqs), n, seqs)
	for i, s := range seqs {
		require.Equal(t, int64(i+1), s, "seq %d of %v", i, seqs)
	}
}

func TestBrowserSubmitShowsProgressToSucceeded(t *testing.T) {
	e, ctx := dashEnv(t)
	input, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("input")))
	require.NoError(t, err)
	assert.Contains(t, input, "parts", "the form holds the example document")

	id := submitFromPage(t, ctx, "ok")
	sel := fmt.Sprintf(`.job[data-job=%q]`, id)
	require.NoError(t, chromedp.Do(ctx,
		waitJS(fmt.Sprintf(`document.querySelector('%s').dataset.status === "succeeded"`, sel), 20*time.Second),
		// The bars are drawn in the next animation frame.
		waitJS(fmt.Sprintf(`[...document.querySelectorAll('%s .bar-row')].every(r => r.dataset.percent === "100")`, sel), 5*time.Second),
	))
	bars := eval[[]string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll('%s .bar-row')].map(r => r.querySelector(".bar-label").textContent + "=" + r.dataset.percent + "/" + r.dataset.status)`, sel))
	assert.Equal(t, []string{"job=100/succeeded", "test=100/succeeded"}, bars)
	status := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('%s .status').textContent`, sel))
	detail := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('%s .detail').textContent`, sel))
	assert.Equal(t, "succeeded", status)
	assert.Contains(t, detail, "OK_READ_END (read)")

	j := e.state(submitted{ID: id, Token: e.srv.Token(id)})
	assert.Equal(t, "succeeded", j.Status)
	assertOneToN(t, pageSeqs(t, ctx, id), j.Seq)
}

// A WebSocket dropped mid-job (twice: once as a network failure, reconnected
// with backoff; once with 4008, reconnected at once) loses and repeats no
// event: the page's seqs are 1..N.
func TestBrowserReconnectMidJobLosesNoEvent(t *testing.T) {
	e, ctx := dashEnv(t)
	id := submitFromPage(t, ctx, "cancel")
	has := func(n int) chromedp.Action[chromedp.Void] {
		return waitJS(fmt.Sprintf(`window.phasehost.seqs(%q).length >= %d`, id, n), 20*time.Second)
	}
	require.NoError(t, chromedp.Do(ctx, has(5)))
	assert.Equal(t, "ws", eval[string](t, ctx, fmt.Sprintf(`window.phasehost.transport(%q)`, id)))

	drop := func(code int, reconnects int) {
		t.Helper()
		n := len(pageSeqs(t, ctx, id))
		require.NoError(t, chromedp.Do(ctx,
			void(chromedp.Evaluate[any](fmt.Sprintf(`window.phasehost.dropConnection(%q, %d)`, id, code))),
			waitJS(fmt.Sprintf(`window.phasehost.reconnects(%q) >= %d`, id, reconnects), 10*time.Second),
			has(n+5),
		))
	}
	drop(4000, 1)
	drop(4008, 2)
	require.Equal(t, "running", e.state(submitted{ID: id, Token: e.srv.Token(id)}).Status, "the job ran through the reconnects")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`.job[data-job=%q] button.cancel`, id))),
		waitJS(fmt.Sprintf(`window.phasehost.status(%q) === "cancelled"`, id), 20*time.Second),
	))
	j := e.waitStatus(submitted{ID: id, Token: e.srv.Token(id)}, "cancelled")
	assertOneToN(t, pageSeqs(t, ctx, id), j.Seq)
}

// An invalid upload shows every problem the API reports, path and message.
func TestBrowserInvalidUploadShowsEveryProblem(t *testing.T) {
	e, ctx := dashEnv(t)
	resp, b := e.upload("operator", readModule(t, "invalid/many_problems.wasm"))
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	var want []string
	for _, p := range decodeError(t, b).Error.Problems {
		want = append(want, p.Path+": "+p.Message)
	}
	require.Len(t, want, 11)

	file, err := filepath.Abs(modules + "invalid/many_problems.wasm")
	require.NoError(t, err)
	assert.True(t, eval[bool](t, ctx, `document.getElementById("operator-actions").hidden`), "operator actions hidden without a token")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("operator-token"), "operator"),
		chromedp.WaitVisible(chromedp.ID("upload-file")),
		chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{file}),
		chromedp.Click(chromedp.ID("upload")),
		waitJS(`document.querySelectorAll("#upload-problems li").length > 0`, 10*time.Second),
	))
	got := eval[[]string](t, ctx, `[...document.querySelectorAll("#upload-problems li")].map(li => li.textContent)`)
	assert.Equal(t, want, got)
	assert.Equal(t, "refused: 11 problems", eval[string](t, ctx, `document.getElementById("upload-status").textContent`))
}
