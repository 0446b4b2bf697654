package plugin

import (
	"time"

	"github.com/phasehost/phasehost/host/manifest"
)

// Policy is the operator's say over plugin limits: defaults for what a manifest
// leaves out and caps over what it asks for. The zero value of a field means
// the value of DefaultPolicy.
type Policy struct {
	DefaultMemoryMB       int64
	MaxMemoryMB           int64
	DefaultTimeout        time.Duration
	MaxTimeout            time.Duration
	DefaultMaxEvents      int64
	MaxEvents             int64
	DefaultMaxOutputBytes int64
	MaxOutputBytes        int64
	// MaxLogBytes caps what one run may write to the log (log calls and
	// stdout/stderr together); the rest is dropped and counted.
	MaxLogBytes int64
	// CancelGrace is how long a cancelled run may take to return on its own
	// before its instance is closed.
	CancelGrace time.Duration
	// MaxModuleBytes caps the size of a .wasm file.
	MaxModuleBytes int64
}

// DefaultPolicy is the policy used for zero fields.
func DefaultPolicy() Policy {
	return Policy{
		DefaultMemoryMB:       64,
		MaxMemoryMB:           1024,
		DefaultTimeout:        30 * time.Second,
		MaxTimeout:            10 * time.Minute,
		DefaultMaxEvents:      10_000,
		MaxEvents:             1_000_000,
		DefaultMaxOutputBytes: 16 << 20,
		MaxOutputBytes:        512 << 20,
		MaxLogBytes:           1 << 20,
		CancelGrace:           2 * time.Second,
		MaxModuleBytes:        64 << 20,
	}
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy()
	set := func(v *int64, def int64) {
		if *v <= 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&p.DefaultMemoryMB, d.DefaultMemoryMB)
	set(&p.MaxMemoryMB, d.MaxMemoryMB)
	setD(&p.DefaultTimeout, d.DefaultTimeout)
	setD(&p.MaxTimeout, d.MaxTimeout)
	set(&p.DefaultMaxEvents, d.DefaultMaxEvents)
	set(&p.MaxEvents, d.MaxEvents)
	set(&p.DefaultMaxOutputBytes, d.DefaultMaxOutputBytes)
	set(&p.MaxOutputBytes, d.MaxOutputBytes)
	set(&p.MaxLogBytes, d.MaxLogBytes)
	setD(&p.CancelGrace, d.CancelGrace)
	set(&p.MaxModuleBytes, d.MaxModuleBytes)
	return p
}

// Limits are the limits a plugin runs under: its manifest's, capped by the policy.
type Limits struct {
	MemoryMB       int64
	Timeout        time.Duration
	MaxEvents      int64
	MaxOutputBytes int64
}

// Effective returns the limits for a manifest under p.
func (p Policy) Effective(m *manifest.Limits) Limits {
	p = p.withDefaults()
	var asked manifest.Limits
	if m != nil {
		asked = *m
	}
	pick := func(asked, def, max int64) int64 {
		v := def
		if asked > 0 {
			v = asked
		}
		return min(v, max)
	}
	return Limits{
		MemoryMB:       pick(asked.MemoryMB, p.DefaultMemoryMB, p.MaxMemoryMB),
		Timeout:        time.Duration(pick(asked.TimeoutMS*int64(time.Millisecond), int64(p.DefaultTimeout), int64(p.MaxTimeout))),
		MaxEvents:      pick(asked.MaxEvents, p.DefaultMaxEvents, p.MaxEvents),
		MaxOutputBytes: pick(asked.MaxOutputBytes, p.DefaultMaxOutputBytes, p.MaxOutputBytes),
	}
}
