package stage

import (
	"unicode/utf8"

	sdk "github.com/phasehost/phasehost/sdk/go"
	"github.com/phasehost/phasehost/sdk/go/abi"
)

// maxProgressEvents caps the events one progress phase emits in a run,
// whatever the size of the input.
const maxProgressEvents = 50

// progress throttles a PROGRESS-like phase: it emits when done has advanced by
// at least 1/maxProgressEvents of total since the last emit, and always once at
// done == total, so a phase emits between 1 and maxProgressEvents events.
type progress struct {
	h     sdk.Host
	phase sdk.Phase
	total int64
	next  int64 // smallest done that is due
	final bool  // done == total was emitted
}

func newProgress(h sdk.Host, phase sdk.Phase, total int64) *progress {
	p := &progress{h: h, phase: phase, total: total}
	p.next = p.threshold(1)
	return p
}

// threshold is the smallest done in bucket k: ceil(k*total/maxProgressEvents).
func (p *progress) threshold(k int64) int64 {
	return (k*p.total + maxProgressEvents - 1) / maxProgressEvents
}

// due reports whether done should be emitted.
func (p *progress) due(done int64) bool {
	if done >= p.total {
		return !p.final
	}
	return done >= p.next
}

// until is how many more units of work can be done from done before the next
// emit is due (at least 1).
func (p *progress) until(done int64) int64 {
	return max(1, min(p.next, p.total)-done)
}

// emit reports done (which should be due) and returns the host's error, e.g.
// sdk.ErrCancelled.
func (p *progress) emit(done int64, msg string) error {
	if p.total > 0 {
		p.next = p.threshold(done*maxProgressEvents/p.total + 1)
	}
	if done >= p.total {
		p.final = true
	}
	return p.h.Emit(p.phase, done, p.total, clip(msg))
}

// clip shortens msg to the ABI's message limit without splitting a rune.
func clip(msg string) string {
	if len(msg) <= abi.MaxMessageBytes {
		return msg
	}
	const ell = "…"
	cut := abi.MaxMessageBytes - len(ell)
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + ell
}
