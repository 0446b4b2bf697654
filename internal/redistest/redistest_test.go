package redistest_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/internal/redistest"
)

// do sends one inline command and returns the first reply line.
func do(t *testing.T, addr, cmd string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func TestServerKillRestart(t *testing.T) {
	srv := redistest.Start(t, redistest.Persistent())
	assert.NotContains(t, srv.Addr(), ":6379")
	assert.True(t, strings.HasPrefix(srv.URL(), "redis://127.0.0.1:"))
	got, err := do(t, srv.Addr(), "SET k v")
	require.NoError(t, err)
	require.Equal(t, "+OK", got)

	srv.Kill()
	_, err = do(t, srv.Addr(), "PING")
	assert.Error(t, err, "killed")

	srv.Restart()
	got, err = do(t, srv.Addr(), "GET k")
	require.NoError(t, err)
	assert.Equal(t, "$1", got, "the append-only file kept the data")
}

func TestServersDoNotShare(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	assert.NotEqual(t, a.Addr(), b.Addr())
	got, err := do(t, a.Addr(), "CONFIG GET appendonly")
	require.NoError(t, err)
	assert.Equal(t, "*2", got)
}
