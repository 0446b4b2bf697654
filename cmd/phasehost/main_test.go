package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/store"
)

func TestParseFlagsDefaults(t *testing.T) {
	for _, k := range []string{"REDIS", "REDIS_PREFIX", "WS_ORIGIN", "SHUTDOWN_TIMEOUT", "PUBLISH_RETRY"} {
		t.Setenv("PHASEHOST_"+k, "")
	}
	c, err := parseFlags([]string{"--redis-prefix", store.DefaultRedisPrefix, "--shutdown-timeout", "30s", "--publish-retry", "30s"})
	require.NoError(t, err)
	assert.Empty(t, c.redisURL, "memory engine by default")
	assert.Empty(t, c.wsOrigins)
	assert.Equal(t, 30*time.Second, c.shutdownTimeout)
	assert.True(t, c.watch)
	assert.Equal(t, 2, c.warm)
	c, err = parseFlags([]string{"--redis-prefix", "p", "--shutdown-timeout", "1s", "--publish-retry", "1s", "--watch=false", "--warm", "0"})
	require.NoError(t, err)
	assert.False(t, c.watch)
	assert.Zero(t, c.warm)
	_, err = parseFlags([]string{"--redis-prefix", "p", "--shutdown-timeout", "1s", "--publish-retry", "1s", "--warm", "-1"})
	assert.EqualError(t, err, "--warm: must not be negative")
	assert.Error(t, err)
}

func TestParseFlagsRedisAndOrigins(t *testing.T) {
	t.Setenv("PHASEHOST_REDIS", "redis://:pw@127.0.0.1:1/2")
	t.Setenv("PHASEHOST_REDIS_PREFIX", "ph1")
	t.Setenv("PHASEHOST_WS_ORIGIN", "https://a.example.com, https://b.example.com")
	t.Setenv("PHASEHOST_SHUTDOWN_TIMEOUT", "5s")
	t.Setenv("PHASEHOST_PUBLISH_RETRY", "0s")
	c, err := parseFlags(nil)
	require.NoError(t, err)
	assert.Equal(t, "redis://:pw@127.0.0.1:1/2", c.redisURL)
	assert.Equal(t, "ph1", c.redisPrefix)
	assert.Equal(t, []string{"https://a.example.com", "https://b.example.com"}, []string(c.wsOrigins))
	assert.Equal(t, 5*time.Second, c.shutdownTimeout)
	assert.Zero(t, c.publishRetry)

	// The command line wins over the environment; --ws-origin repeats and splits.
	c, err = parseFlags([]string{"--redis", "redis://127.0.0.1:2/0", "--redis-prefix", "ph2",
		"--ws-origin", "https://c.example.com,https://d.example.com", "--ws-origin", "*"})
	require.NoError(t, err)
	assert.Equal(t, "redis://127.0.0.1:2/0", c.redisURL)
	assert.Equal(t, "ph2", c.redisPrefix)
	assert.Equal(t, []string{"https://c.example.com", "https://d.example.com", "*"}, []string(c.wsOrigins))

	_, err = parseFlags([]string{"--shutdown-timeout", "0s"})
	assert.Error(t, err)
	assert.Equal(t, "redis://:xxxxx@127.0.0.1:1/2", redactURL("redis://:pw@127.0.0.1:1/2"))
}

func TestParseFlagsEnvErrorsAndPolicy(t *testing.T) {
	t.Setenv("PHASEHOST_WORKERS", "many")
	_, err := parseFlags(nil)
	require.EqualError(t, err, `PHASEHOST_WORKERS="many": parse error`)

	t.Setenv("PHASEHOST_WORKERS", "8")
	t.Setenv("PHASEHOST_MAX_TIMEOUT", "90s")
	t.Setenv("PHASEHOST_MAX_MEMORY_MB", "128")
	c, err := parseFlags([]string{"--max-events", "500", "--cancel-grace", "1s"})
	require.NoError(t, err)
	assert.Equal(t, 8, c.workers)
	assert.Equal(t, 90*time.Second, c.policy.MaxTimeout)
	assert.Equal(t, int64(128), c.policy.MaxMemoryMB)
	assert.Equal(t, int64(500), c.policy.MaxEvents)
	assert.Equal(t, time.Second, c.policy.CancelGrace)

	// The secret comes from the environment and never shows as a default.
	t.Setenv("PHASEHOST_SECRET", "s3cret")
	c, err = parseFlags(nil)
	require.NoError(t, err)
	assert.Equal(t, "s3cret", c.secret)
}
