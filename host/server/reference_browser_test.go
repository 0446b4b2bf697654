package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/server"
	"github.com/phasehost/phasehost/internal/refplugins"
)

// The "done when", in a real browser: the dashboard, on a server with
// the real reference plugins, submits its default pipeline
// (assembly4,material,topology) with the example input the page holds, and
// the job bar and the three stage bars reach 100 % with status succeeded.
func TestBrowserReferencePipelineSucceeds(t *testing.T) {
	mods := refplugins.Modules(t)
	chromiumPath(t) // skip before building a server when there is no browser
	e := newEnv(t, func(c *server.Config) {
		c.MaxBodyBytes = 1 << 20
		for _, name := range refplugins.Names() {
			p, err := c.Engine.Load(context.Background(), mods[name])
			require.NoError(t, err, name)
			_, err = c.Registry.Add(p)
			require.NoError(t, err, name)
		}
	})
	ctx := newBrowser(t, 120*time.Second)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/"),
		waitJS(`window.phasehost && window.phasehost.ready`, 20*time.Second),
	))
	pipeline, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("pipeline")))
	require.NoError(t, err)
	require.Equal(t, "assembly4,material,topology", pipeline, "the page's default pipeline")
	input, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("input")))
	require.NoError(t, err)
	require.Contains(t, input, "parts", "the form holds the example document")

	id := submitFromPage(t, ctx, pipeline)
	sel := fmt.Sprintf(`.job[data-job=%q]`, id)
	require.NoError(t, chromedp.Do(ctx,
		waitJS(fmt.Sprintf(`["succeeded","failed","cancelled"].includes(document.querySelector('%s').dataset.status)`, sel), 60*time.Second),
	))
	status := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('%s').dataset.status`, sel))
	require.Equal(t, "succeeded", status, "detail: %s", eval[string](t, ctx, fmt.Sprintf(`document.querySelector('%s .detail').textContent`, sel)))
	// The bars are drawn in the next animation frame.
	require.NoError(t, chromedp.Do(ctx,
		waitJS(fmt.Sprintf(`[...document.querySelectorAll('%s .bar-row')].every(r => r.dataset.percent === "100")`, sel), 5*time.Second),
	))
	bars := eval[[]string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll('%s .bar-row')].map(r => r.querySelector(".bar-label").textContent + "=" + r.dataset.percent + "/" + r.dataset.status)`, sel))
	assert.Equal(t, []string{"job=100/succeeded", "assembly4=100/succeeded", "material=100/succeeded", "topology=100/succeeded"}, bars)
	assert.Equal(t, "succeeded", eval[string](t, ctx, fmt.Sprintf(`document.querySelector('%s .status').textContent`, sel)))

	j := e.state(submitted{ID: id, Token: e.srv.Token(id)})
	assert.Equal(t, "succeeded", j.Status)
	assert.Len(t, j.Stages, 3)
	assertOneToN(t, pageSeqs(t, ctx, id), j.Seq)
}
