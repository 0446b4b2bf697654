package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/server"
	"github.com/phasehost/phasehost/internal/example"
	"github.com/phasehost/phasehost/internal/refplugins"
)

// TestDashboardScreenshot writes a screenshot of the dashboard mid-run, with
// the reference plugins, to $PHASEHOST_SCREENSHOT; run by hand:
//
//	PHASEHOST_SCREENSHOT=$PWD/docs/dashboard.png go test -run TestDashboardScreenshot ./host/server/
func TestDashboardScreenshot(t *testing.T) {
	out := os.Getenv("PHASEHOST_SCREENSHOT")
	if out == "" {
		t.Skip("set PHASEHOST_SCREENSHOT to the PNG to write")
	}
	mods := refplugins.Modules(t)
	e := newEnv(t, func(c *server.Config) {
		c.MaxBodyBytes = 8 << 20
		for _, name := range refplugins.Names() {
			p, err := c.Engine.Load(context.Background(), mods[name])
			require.NoError(t, err)
			_, err = c.Registry.Add(p)
			require.NoError(t, err)
		}
	})
	ctx := newBrowser(t, 5*time.Minute)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1400, 1000),
		chromedp.Navigate(e.url+"/"),
		waitJS(`window.phasehost && window.phasehost.ready`, 20*time.Second),
	))
	// A finished job, a failed one, then larger inputs still running.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("submit"))))
	time.Sleep(time.Second)
	submitFromPage(t, ctx, "ok,trap")
	for _, n := range []int{60, 120, 200} {
		doc, err := example.Generate(n, 6)
		require.NoError(t, err)
		b, err := json.Marshal(string(doc))
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(ctx,
			void(chromedp.Evaluate[any](fmt.Sprintf(`document.getElementById("input").value = %s`, b))),
			chromedp.SetValue(chromedp.ID("pipeline"), "assembly4,material,topology"),
			chromedp.Click(chromedp.ID("submit")),
		))
	}
	time.Sleep(time.Duration(envInt("PHASEHOST_SCREENSHOT_WAIT_MS", 600)) * time.Millisecond)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(out, png, 0o644))
	t.Logf("wrote %s (%d bytes)", out, len(png))
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err != nil {
		return def
	}
	return n
}
