// Package stage is the assembly4 reference plugin's stage: it places the parts
// of an assembly document by Assembly4-style LCS attachments and transforms
// their meshes into assembly coordinates.
//
// Every part is either grounded (its placement is the input's "placement",
// else the identity) or attached by exactly one constraint, which makes the
// part's LCS coincide with an LCS of its parent:
//
//	child placement = parent placement × parent LCS × inverse(child LCS)
//
// Placements are solved in dependency order over the constraint graph. The
// output is the input document with every part's mesh vertices in assembly
// coordinates, a "placement" on every part and an "assembly4" summary; every
// other field is passed along unchanged. The document format is described in
// examples/README.md at the repository root.
//
// Stage is pure Go: it runs natively under sdktest and as a wasip1 module.
package stage

import (
	"encoding/json"
	"fmt"

	"github.com/phasehost/phasehost/plugins/assembly4/phases"
	sdk "github.com/phasehost/phasehost/sdk/go"
)

// maxProgressEvents bounds the PROGRESS events of each step, however large
// the input.
const maxProgressEvents = sdk.DefaultProgressEvents

// Stage runs the assembly4 stage on h: it reads the assembly document, solves
// the placements (phases SOLVER_*), transforms the meshes (phases
// LCS_PLACEMENT_*) and writes the placed document. It returns an error naming
// the parts and constraints at fault for an invalid document or constraint
// graph, and the host's error (such as sdk.ErrCancelled) as soon as an emit
// fails.
func Stage(h sdk.Host) error {
	a, err := decode(h.Input())
	if err != nil {
		return fmt.Errorf("assembly4: %w", err)
	}
	if err := a.check(); err != nil {
		return fmt.Errorf("assembly4: constraint graph: %w", err)
	}
	if err := a.solve(h); err != nil {
		return err
	}
	if err := a.place(h); err != nil {
		return err
	}
	out, err := a.encode()
	if err != nil {
		return fmt.Errorf("assembly4: encoding output: %w", err)
	}
	if err := h.WriteOutput(out); err != nil {
		return fmt.Errorf("assembly4: writing output: %w", err)
	}
	return nil
}

// solve computes every part's placement in solve order.
func (a *assembly) solve(h sdk.Host) error {
	nc, np := int64(len(a.constraints)), int64(len(a.parts))
	if err := emit(h, phases.SolverStart, 0, nc, fmt.Sprintf("solving %d constraints over %d parts", nc, np)); err != nil {
		return err
	}
	prog := sdk.NewSteppedProgress(h, phases.SolverProgress, np, maxProgressEvents)
	for k, i := range a.order {
		p := a.parts[i]
		if c := a.via[i]; c >= 0 {
			con := a.constraints[c]
			parent := a.parts[con.parent]
			p.placement = parent.placement.mul(parent.lcs[con.parentLCS].m).mul(p.lcs[con.lcs].m.inverse())
		}
		if done := int64(k + 1); prog.Due(done) {
			msg := fmt.Sprintf("placed %s (grounded)", p.name)
			if c := a.via[i]; c >= 0 {
				msg = fmt.Sprintf("placed %s via %s", p.name, a.constraints[c].Name)
			}
			if err := prog.Emit(done, msg); err != nil {
				return err
			}
		}
	}
	if prog.Due(np) {
		if err := prog.Emit(np, fmt.Sprintf("placed %d parts", np)); err != nil {
			return err
		}
	}
	return emit(h, phases.SolverEnd, np, np, fmt.Sprintf("placed %d parts with %d constraints", np, nc))
}

// place transforms every part's vertices into assembly coordinates.
func (a *assembly) place(h sdk.Host) error {
	total := a.vertices
	msg := fmt.Sprintf("transforming %d vertices of %d parts", total, len(a.parts))
	if err := emit(h, phases.LcsPlacementStart, 0, total, msg); err != nil {
		return err
	}
	prog := sdk.NewSteppedProgress(h, phases.LcsPlacementProgress, total, maxProgressEvents)
	var done int64
	for _, p := range a.parts {
		for v := p.verts; len(v) > 0; {
			// Transform up to the next point where progress is due.
			n := min(prog.Until(done), int64(len(v)))
			p.placement.transformPoints(v[:n])
			v = v[n:]
			done += n
			if prog.Due(done) {
				if err := prog.Emit(done, fmt.Sprintf("transformed %d/%d vertices (%s)", done, total, p.name)); err != nil {
					return err
				}
			}
		}
	}
	if prog.Due(total) {
		if err := prog.Emit(total, fmt.Sprintf("transformed %d/%d vertices", total, total)); err != nil {
			return err
		}
	}
	return emit(h, phases.LcsPlacementEnd, total, total, fmt.Sprintf("transformed %d vertices", total))
}

// placementOut is a part's placement in the output.
type placementOut struct {
	Position [3]float64  `json:"position"`
	Rotation rotationOut `json:"rotation"`
	Matrix   [16]float64 `json:"matrix"` // row-major 4x4
}

type rotationOut struct {
	Axis     [3]float64 `json:"axis"`
	AngleDeg float64    `json:"angle_deg"`
}

// summary is the document's "assembly4" member.
type summary struct {
	Order               []string `json:"order"`
	ConstraintsSolved   int      `json:"constraints_solved"`
	VerticesTransformed int64    `json:"vertices_transformed"`
}

// encode writes the placed document: every member as it came in but the
// summary, the parts' placements and their meshes' vertices.
func (a *assembly) encode() ([]byte, error) {
	s := summary{ConstraintsSolved: len(a.constraints), VerticesTransformed: a.vertices}
	for _, i := range a.order {
		s.Order = append(s.Order, a.parts[i].name)
	}
	// The summary and the placements, in one buffer.
	small := appendSummary(make([]byte, 0, 1024+512*len(a.parts)), &s)
	a.doc.Set("assembly4", small[:len(small):len(small)])
	// The parts are written in place of the document's "parts" (added last
	// when it has none).
	a.doc.Set("parts", nil)
	// Room for the whole document: the members as they came in, and the
	// vertices as written, which take 16 to 60 bytes each (most 50-60 once
	// rotated). A buffer too small is copied to a larger one, one too
	// large costs memory that a wasm instance must grow into.
	est := 0
	for _, m := range a.doc.Members() {
		est += len(m.Key) + len(m.Raw) + 4
	}
	for _, p := range a.parts {
		var out placementOut
		for i, v := range p.placement {
			out.Matrix[i] = tidy(v)
		}
		out.Position = [3]float64{out.Matrix[3], out.Matrix[7], out.Matrix[11]}
		out.Rotation.Axis, out.Rotation.AngleDeg = p.placement.axisAngle()
		start := len(small)
		var ok bool
		if small, ok = appendPlacement(small, &out); !ok {
			_, err := json.Marshal(out)
			return nil, fmt.Errorf("part %q: encoding %q: %w", p.name, "placement", err)
		}
		p.obj.Set("placement", small[start:len(small):len(small)])
		for _, m := range p.obj.Members() {
			if m.Key != "mesh" || p.mesh == nil {
				est += len(m.Key) + len(m.Raw) + 4
				continue
			}
			for _, m := range p.mesh.Members() {
				if m.Key != "vertices" {
					est += len(m.Key) + len(m.Raw) + 4
				}
			}
			est += 60*len(p.verts) + 16
		}
	}
	buf := make([]byte, 0, est)
	var werr error
	buf = a.doc.AppendTo(buf, func(buf []byte, key string) ([]byte, bool) {
		if key != "parts" {
			return buf, false
		}
		buf = append(buf, '[')
		for i, p := range a.parts {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = p.obj.AppendTo(buf, func(buf []byte, key string) ([]byte, bool) {
				if key != "mesh" || p.mesh == nil {
					return buf, false
				}
				return p.mesh.AppendTo(buf, func(buf []byte, key string) ([]byte, bool) {
					if key != "vertices" {
						return buf, false
					}
					var err error
					if buf, err = appendVertices(buf, p.verts); err != nil && werr == nil {
						werr = fmt.Errorf("%q: part %q: %q: %q: %w", "parts", p.name, "mesh", "vertices", err)
					}
					return buf, true
				}), true
			})
		}
		return append(buf, ']'), true
	})
	if werr != nil {
		return nil, werr
	}
	return buf, nil
}

// emit sends one event, clipping the message to the ABI's limit with sdk.Clip.
// The host's error is returned as is, so that sdk.ErrCancelled reaches the
// caller unchanged.
func emit(h sdk.Host, p phases.Phase, done, total int64, msg string) error {
	return h.Emit(p, done, total, sdk.Clip(msg))
}
