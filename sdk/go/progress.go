package sdk

import (
	"unicode/utf8"

	"github.com/phasehost/phasehost/sdk/go/abi"
)

// DefaultProgressEvents is the number of events a Progress emits at most when
// NewProgress or NewSteppedProgress is given maxEvents <= 0.
const DefaultProgressEvents = 50

// Progress throttles the events of one progress phase, so that a stage can
// report after every unit of work (every part, every vertex) while the host
// sees between 1 and maxEvents events, whatever the size of the input:
//
//	pr := sdk.NewProgress(h, phases.SolverProgress, total, 0)
//	for i := range items {
//		work(items[i])
//		if done := int64(i + 1); pr.Due(done) {
//			if err := pr.Emit(done, fmt.Sprintf("item %d", done)); err != nil {
//				return err // e.g. sdk.ErrCancelled
//			}
//		}
//	}
//
// Building the message only when Due reports true keeps the cost of a
// throttled emit to a comparison. One event always has done == total (when
// done reaches total), and done increases from one event to the next.
//
// A Progress is used by the goroutine running the stage, like its Host.
type Progress struct {
	h         Host
	phase     Phase
	total     int64
	maxEvents int64
	step      int64 // > 0: events at multiples of step (NewSteppedProgress)
	next      int64 // smallest done that is due
	final     bool  // done == total was emitted
}

// NewProgress returns a Progress for phase that spreads its events evenly
// over [0, total]: it emits when done has advanced by at least
// total/maxEvents since the last event, and once at done == total, so
// between 1 and maxEvents events (maxEvents <= 0 means
// DefaultProgressEvents). With total <= maxEvents every unit of work is an
// event; total 0 gives the single event 0/0.
func NewProgress(h Host, phase Phase, total int64, maxEvents int) *Progress {
	p := &Progress{h: h, phase: phase, total: total, maxEvents: events(maxEvents)}
	p.next = p.threshold(1)
	return p
}

// NewSteppedProgress is NewProgress with events at whole multiples of a fixed
// step, ceil(total/maxEvents) (at least 1), and at done == total: the done
// values are round numbers (10, 20, 30, …) at the cost of fewer than
// maxEvents events when total is not a multiple of maxEvents.
func NewSteppedProgress(h Host, phase Phase, total int64, maxEvents int) *Progress {
	p := &Progress{h: h, phase: phase, total: total, maxEvents: events(maxEvents)}
	p.step = max(1, (total+p.maxEvents-1)/p.maxEvents)
	p.next = p.step
	return p
}

func events(maxEvents int) int64 {
	if maxEvents <= 0 {
		return DefaultProgressEvents
	}
	return int64(maxEvents)
}

// threshold is the smallest done in bucket k: ceil(k*total/maxEvents).
func (p *Progress) threshold(k int64) int64 {
	return (k*p.total + p.maxEvents - 1) / p.maxEvents
}

// Due reports whether done units of work should be emitted: done has reached
// the next threshold, or it is the total and that was not emitted yet.
func (p *Progress) Due(done int64) bool {
	if done >= p.total {
		return !p.final
	}
	return done >= p.next
}

// Until returns how many more units of work can be done from done before the
// next event is due; it is at least 1. A stage that works in batches (the
// vertices of a mesh) sizes its next batch with it instead of asking Due after
// every unit.
func (p *Progress) Until(done int64) int64 {
	return max(1, min(p.next, p.total)-done)
}

// Emit reports done units of work of the total with msg, shortened by Clip,
// and moves the next threshold past done. Call it when Due(done) is true. It
// returns the host's error as is, e.g. ErrCancelled.
func (p *Progress) Emit(done int64, msg string) error {
	switch {
	case p.step > 0:
		p.next = (done/p.step + 1) * p.step
	case p.total > 0:
		p.next = p.threshold(done*p.maxEvents/p.total + 1)
	}
	if done >= p.total {
		p.final = true
	}
	return p.h.Emit(p.phase, done, p.total, Clip(msg))
}

// Clip shortens msg to at most abi.MaxMessageBytes (the longest message Emit
// accepts), ending it with "…" and without splitting a UTF-8 sequence. A
// message within the limit is returned as is.
func Clip(msg string) string {
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
