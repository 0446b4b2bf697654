// Package manifest reads, validates and writes Phasehost plugin manifests.
//
// A manifest arrives as YAML or JSON (from a plugin.yaml, or from the
// "phasehost.manifest" custom section of a module). Parse checks it in one pass
// and reports every problem at once, each naming its field path and value:
//
//	phases[4].maps_to: "LIBRARY_LOAD_START" is not a unified phase (START, PROGRESS, END)
//
// The checks are the JSON Schema schemas/manifest.schema.json (shape, unknown
// fields, patterns) followed by the semantic rules the schema cannot say: phase
// names unique, and within a step at most one START and one END. Because each
// phase carries its own mapping, a mapping to an undeclared phase cannot be
// written at all.
//
// Everything here is pure and safe for concurrent use.
package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/phasehost/phasehost/sdk/go/abi"
)

// Manifest describes a plugin: identity, declared phases and their mapping to
// the unified model, and the limits it asks for.
type Manifest struct {
	ABI         int     `json:"abi"`
	Name        string  `json:"name"`
	Version     string  `json:"version"`
	Stage       string  `json:"stage"`
	Description string  `json:"description"`
	Phases      []Phase `json:"phases"`
	Limits      *Limits `json:"limits,omitempty"`
	// Weight is the stage's share of job progress; zero means the default, 1.
	Weight float64 `json:"weight,omitempty"`
}

// Phase is one declared phase. Its id on the ABI is its index in Manifest.Phases.
type Phase struct {
	Name        string `json:"name"`
	Step        string `json:"step"`
	MapsTo      string `json:"maps_to"`
	Description string `json:"description,omitempty"`
}

// Limits is what a plugin asks for; the operator's policy caps each value.
// A zero field means "the policy's default".
type Limits struct {
	MemoryMB       int64 `json:"memory_mb,omitempty"`
	TimeoutMS      int64 `json:"timeout_ms,omitempty"`
	MaxEvents      int64 `json:"max_events,omitempty"`
	MaxOutputBytes int64 `json:"max_output_bytes,omitempty"`
}

// Ref returns "name@version".
func (m *Manifest) Ref() string { return m.Name + "@" + m.Version }

// EffectiveWeight returns Weight, or 1 when it is unset.
func (m *Manifest) EffectiveWeight() float64 {
	if m.Weight > 0 {
		return m.Weight
	}
	return 1
}

// Phase returns the phase with ABI id id, and false for an undeclared id.
func (m *Manifest) Phase(id int32) (Phase, bool) {
	if id < 0 || int(id) >= len(m.Phases) {
		return Phase{}, false
	}
	return m.Phases[id], true
}

// Steps returns the distinct steps in the order of their first phase.
func (m *Manifest) Steps() []string {
	var steps []string
	seen := map[string]bool{}
	for _, p := range m.Phases {
		if !seen[p.Step] {
			seen[p.Step] = true
			steps = append(steps, p.Step)
		}
	}
	return steps
}

// JSON returns the compact JSON encoding embedded in a module's custom section.
func (m *Manifest) JSON() []byte {
	b, err := json.Marshal(m)
	if err != nil { // a Manifest always encodes
		panic(fmt.Sprintf("manifest: encoding: %v", err))
	}
	return b
}

// Problem is one thing wrong with a manifest (or a module), located by a field
// path such as "phases[4].maps_to"; Path is empty for the document as a whole.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// String returns "path: message".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// InvalidError lists every problem found; it is what Parse and the plugin loader
// return for something they refuse.
type InvalidError struct {
	// What was refused, e.g. "manifest" or "module assembly4@1.0.0".
	Subject  string
	Problems []Problem
}

// Error lists the problems, one per line after a summary.
func (e *InvalidError) Error() string {
	var b strings.Builder
	n := len(e.Problems)
	fmt.Fprintf(&b, "invalid %s: %d problem", e.Subject, n)
	if n != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Parse decodes a manifest from YAML or JSON (a plugin.yaml) and validates it.
// On any problem it returns a nil manifest and an *InvalidError listing all of them.
func Parse(data []byte) (*Manifest, error) {
	doc, problem := toJSON(data)
	if problem != nil {
		return nil, &InvalidError{Subject: "manifest", Problems: []Problem{*problem}}
	}
	return parseJSON(doc)
}

// ParseJSON is Parse for JSON only: the form a module's custom section holds.
func ParseJSON(data []byte) (*Manifest, error) {
	doc := bytes.TrimSpace(data)
	if len(doc) > MaxSize {
		return nil, &InvalidError{Subject: "manifest", Problems: []Problem{{Message: fmt.Sprintf("manifest is %d bytes, over the %d-byte limit", len(doc), MaxSize)}}}
	}
	if err := checkJSON(doc); err != nil {
		return nil, &InvalidError{Subject: "manifest", Problems: []Problem{{Message: err.Error() + " (the section holds JSON; phasectl plugin pack converts YAML)"}}}
	}
	return parseJSON(doc)
}

func parseJSON(doc []byte) (*Manifest, error) {
	problems := schemaProblems(doc)
	var m Manifest
	// Decode leniently so the semantic checks still run when the schema found
	// problems; the schema has already reported every unknown field or type.
	_ = json.Unmarshal(doc, &m)
	problems = append(problems, semanticProblems(&m)...)
	if len(problems) > 0 {
		sortProblems(problems)
		return nil, &InvalidError{Subject: "manifest", Problems: problems}
	}
	// Strict decode: unknown fields refused (the schema already did; this keeps
	// the Go type and the schema honest with each other).
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	var strict Manifest
	if err := dec.Decode(&strict); err != nil {
		return nil, &InvalidError{Subject: "manifest", Problems: []Problem{{Message: err.Error()}}}
	}
	return &strict, nil
}

// semanticProblems checks what the schema cannot: unique phase names, and at
// most one START and one END per step.
func semanticProblems(m *Manifest) []Problem {
	var out []Problem
	firstByName := map[string]int{}
	type key struct{ step, mapsTo string }
	firstByStepKind := map[key]int{}
	for i, p := range m.Phases {
		if p.Name != "" {
			if j, dup := firstByName[p.Name]; dup {
				out = append(out, Problem{
					Path:    fmt.Sprintf("phases[%d].name", i),
					Message: fmt.Sprintf("%q is declared twice (first at phases[%d]); phase names must be unique", p.Name, j),
				})
			} else {
				firstByName[p.Name] = i
			}
		}
		if p.MapsTo == abi.PhaseStart || p.MapsTo == abi.PhaseEnd {
			k := key{p.Step, p.MapsTo}
			if j, dup := firstByStepKind[k]; dup {
				out = append(out, Problem{
					Path: fmt.Sprintf("phases[%d].maps_to", i),
					Message: fmt.Sprintf("%q: step %q already has %s (phases[%d] %q); a step has at most one START and one END",
						p.MapsTo, p.Step, map[string]string{abi.PhaseStart: "a START", abi.PhaseEnd: "an END"}[p.MapsTo], j, m.Phases[j].Name),
				})
			} else {
				firstByStepKind[k] = i
			}
		}
	}
	return out
}
