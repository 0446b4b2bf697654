package plugin

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
)

// guestLog logs a line from the guest, within the run's log budget.
func (r *run) guestLog(ctx context.Context, level slog.Level, msg, text string) {
	if int64(len(text)) > r.logLeft {
		r.logDropped += int64(len(text))
		return
	}
	r.logLeft -= int64(len(text))
	r.logger.LogAttrs(ctx, level, msg, slog.String("text", strings.ToValidUTF8(text, "\uFFFD")))
}

// maxLineBytes cuts very long guest output lines.
const maxLineBytes = 4096

// tailLines is how many stderr lines a RunError carries.
const tailLines = 8

// guestWriter turns a guest's stdout or stderr into log lines, capped by the
// run's log budget; for stderr it keeps the last lines for error reports.
type guestWriter struct {
	run      *run
	stream   string
	buf      []byte
	keepTail bool
	last     []string
}

func (w *guestWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > maxLineBytes {
				w.line(w.buf[:maxLineBytes])
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

func (w *guestWriter) line(b []byte) {
	s := string(b)
	if len(s) > maxLineBytes {
		w.run.logDropped += int64(len(s) - maxLineBytes)
		s = s[:maxLineBytes]
	}
	if w.keepTail {
		w.last = append(w.last, s)
		if len(w.last) > tailLines {
			w.last = w.last[1:]
		}
	}
	w.run.guestLog(context.Background(), slog.LevelInfo, "plugin "+w.stream, s)
}

func (w *guestWriter) flush() {
	if len(w.buf) > 0 {
		w.line(w.buf)
		w.buf = w.buf[:0]
	}
}

// tail returns the last stderr lines.
func (w *guestWriter) tail() string {
	if w == nil {
		return ""
	}
	return strings.Join(w.last, "\n")
}
