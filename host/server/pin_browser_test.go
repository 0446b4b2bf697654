package server_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/manifest"
)

// An operator pins the older version from the dashboard (a rollback), sees it
// marked active, and unpins it again.
func TestBrowserPinAndUnpin(t *testing.T) {
	e, ctx := dashEnv(t)
	resp, b := e.upload("operator", repack(t, "valid/ok.wasm", func(m *manifest.Manifest) { m.Version = "1.1.0" }))
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(b))

	active := func() (version string, pinned bool) {
		_, body := e.do(http.MethodGet, "/v1/plugins", "", nil)
		var list struct {
			Plugins []struct {
				Name, Version  string
				Active, Pinned bool
			}
		}
		require.NoError(t, json.Unmarshal(body, &list))
		for _, p := range list.Plugins {
			if p.Name == "ok" && p.Active {
				return p.Version, p.Pinned
			}
		}
		return "", false
	}
	v, pinned := active()
	require.Equal(t, "1.1.0", v)
	require.False(t, pinned)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/"), // the page listed the plugins before the upload
		waitJS(`window.phasehost && window.phasehost.ready && document.querySelector('[data-plugin="ok@1.0.0"] .pin')`, 20*time.Second),
		chromedp.SendKeys(chromedp.ID("operator-token"), "operator"),
		chromedp.Click(`[data-plugin="ok@1.0.0"] .pin`),
		waitJS(`(document.querySelector('[data-plugin="ok@1.0.0"] .badge') || {}).textContent === "active (pinned)"`, 10*time.Second),
	))
	v, pinned = active()
	assert.Equal(t, "1.0.0", v)
	assert.True(t, pinned)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(`[data-plugin="ok@1.0.0"] .pin`),
		waitJS(`(document.querySelector('[data-plugin="ok@1.1.0"] .badge') || {}).textContent === "active"`, 10*time.Second),
	))
	v, pinned = active()
	assert.Equal(t, "1.1.0", v)
	assert.False(t, pinned)
}
