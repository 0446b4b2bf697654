package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client speaks the HTTP API (/v1) of a running phasehost.
type client struct {
	base *url.URL // scheme and host of the server, with any path prefix
	http *http.Client
}

func newClient(server string) (*client, error) {
	if server == "" {
		return nil, exit(ExitUsage, "--server: the URL of a phasehost, e.g. http://localhost:8080 (or set PHASECTL_SERVER)")
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, exit(ExitUsage, "--server %q: not an http(s) URL", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &client{base: u, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// apiError is an error answer of the server: {"error": {"code", "message", "problems"?}}.
type apiError struct {
	Status   int
	Code     string `json:"code"`
	Message  string `json:"message"`
	Problems []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	} `json:"problems"`
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server: %s", e.Message)
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s, HTTP %d)", e.Code, e.Status)
	}
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Path, p.Message)
	}
	return b.String()
}

// decodeAPIError reads an error answer; a body that is not one still gives
// an error naming the status.
func decodeAPIError(status int, body []byte) *apiError {
	var eb struct {
		Error apiError `json:"error"`
	}
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Message == "" {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
		return &apiError{Status: status, Message: msg}
	}
	eb.Error.Status = status
	return &eb.Error
}

// exitFor maps an error of the client to phasectl's exit codes: refusals of
// the request (4xx: bad request, token, unknown job or plugin) are usage
// errors (2); a job that has finished (409), an unreachable or failing
// server are failures (1).
func exitFor(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	var ae *apiError
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusConflict {
		return &exitError{code: ExitUsage, err: err}
	}
	return &exitError{code: ExitFailed, err: err}
}

// url returns the server's URL of path with query q.
func (c *client) url(path string, q url.Values) *url.URL {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	return &u
}

// do sends a request (body JSON-encoded unless nil) with token as Bearer when
// set, decodes a 2xx answer into out (unless nil) and returns its raw body.
func (c *client) do(ctx context.Context, method, path, token string, body, out any) ([]byte, error) {
	var rd io.Reader
	contentType := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd, contentType = bytes.NewReader(b), "application/json"
	}
	return c.send(ctx, method, path, token, contentType, rd, out)
}

// send is do with a body already encoded as contentType ("" with no body).
func (c *client) send(ctx context.Context, method, path, token, contentType string, body io.Reader, out any) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, nil).String(), body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, decodeAPIError(resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("%s %s: answer is not the expected JSON: %w", method, path, err)
		}
	}
	return b, nil
}

// submitAnswer is the answer of POST /v1/jobs.
type submitAnswer struct {
	ID     string `json:"id"`
	Token  string `json:"token"`
	Status string `json:"status"`
}

func (c *client) submit(ctx context.Context, pipeline []string, input json.RawMessage) (submitAnswer, error) {
	var a submitAnswer
	_, err := c.do(ctx, http.MethodPost, "/v1/jobs", "", map[string]any{"pipeline": pipeline, "input": input}, &a)
	return a, err
}

// jobState is the part of GET /v1/jobs/:id that phasectl uses.
type jobState struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Seq    int64  `json:"seq"`
	Stages []struct {
		Stage   string  `json:"stage"`
		Plugin  string  `json:"plugin"`
		Version string  `json:"version"`
		Percent float64 `json:"percent"`
	} `json:"stages"`
	Error string `json:"error"`
}

func (c *client) job(ctx context.Context, id, token string) (jobState, error) {
	var j jobState
	_, err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), token, nil, &j)
	return j, err
}

func (c *client) cancel(ctx context.Context, id, token string) ([]byte, error) {
	return c.do(ctx, http.MethodDelete, "/v1/jobs/"+url.PathEscape(id), token, nil, nil)
}

// pluginEntry is the part of a GET /v1/plugins entry that the table shows.
type pluginEntry struct {
	Name    string            `json:"name"`
	Version string            `json:"version"`
	Stage   string            `json:"stage"`
	Phases  []json.RawMessage `json:"phases"`
	Active  bool              `json:"active"`
	Pinned  bool              `json:"pinned"`
}

func (c *client) plugins(ctx context.Context) ([]pluginEntry, []byte, error) {
	var out struct {
		Plugins []pluginEntry `json:"plugins"`
	}
	b, err := c.do(ctx, http.MethodGet, "/v1/plugins", "", nil, &out)
	return out.Plugins, b, err
}
