package stage

// Exact mass properties of a closed triangulated polyhedron of uniform density,
// after D. Eberly, "Polyhedral Mass Properties (Revisited)" (2002), which
// reduces Mirtich's volume integrals to sums over triangles with the divergence
// theorem. The integrals are accumulated relative to a reference point near the
// mesh (the centre of its bounding box) so that meshes far from the origin, as
// parts are in assembly coordinates, do not lose the inertia to cancellation.

// integrals accumulates, for unit density, the ten polynomial volume integrals
// ∫1, ∫x, ∫y, ∫z, ∫x², ∫y², ∫z², ∫xy, ∫yz, ∫zx over the solid bounded by a
// triangle mesh, in coordinates relative to ref (still unscaled: the
// multipliers 1/6 … 1/120 are applied by result).
type integrals struct {
	ref [3]float64
	s   [10]float64
}

// subexpressions are Eberly's per-axis helper terms for one triangle.
func subexpressions(w0, w1, w2 float64) (f1, f2, f3, g0, g1, g2 float64) {
	t0 := w0 + w1
	f1 = t0 + w2
	t1 := w0 * w0
	t2 := t1 + w1*t0
	f2 = t2 + w2*f1
	f3 = w0*t1 + w1*t2 + w2*f2
	g0 = f2 + w0*(f1+w0)
	g1 = f2 + w1*(f1+w1)
	g2 = f2 + w2*(f1+w2)
	return
}

// add integrates the triangles tris (indices into v, already validated) into s.
// The sums are scalar locals, not the array: the Go compiler keeps an array
// in memory, so each of the ten sums would be loaded and stored again for
// every triangle, which under WebAssembly is a bounds-checked access each.
func (in *integrals) add(v [][3]float64, tris [][3]int32) {
	rx, ry, rz := in.ref[0], in.ref[1], in.ref[2]
	s0, s1, s2, s3, s4 := in.s[0], in.s[1], in.s[2], in.s[3], in.s[4]
	s5, s6, s7, s8, s9 := in.s[5], in.s[6], in.s[7], in.s[8], in.s[9]
	for i := range tris {
		t := &tris[i]
		p0, p1, p2 := &v[t[0]], &v[t[1]], &v[t[2]]
		x0, y0, z0 := p0[0]-rx, p0[1]-ry, p0[2]-rz
		x1, y1, z1 := p1[0]-rx, p1[1]-ry, p1[2]-rz
		x2, y2, z2 := p2[0]-rx, p2[1]-ry, p2[2]-rz

		a1, b1, c1 := x1-x0, y1-y0, z1-z0
		a2, b2, c2 := x2-x0, y2-y0, z2-z0
		d0 := b1*c2 - b2*c1
		d1 := a2*c1 - a1*c2
		d2 := a1*b2 - a2*b1

		f1x, f2x, f3x, g0x, g1x, g2x := subexpressions(x0, x1, x2)
		_, f2y, f3y, g0y, g1y, g2y := subexpressions(y0, y1, y2)
		_, f2z, f3z, g0z, g1z, g2z := subexpressions(z0, z1, z2)

		s0 += d0 * f1x
		s1 += d0 * f2x
		s2 += d1 * f2y
		s3 += d2 * f2z
		s4 += d0 * f3x
		s5 += d1 * f3y
		s6 += d2 * f3z
		s7 += d0 * (y0*g0x + y1*g1x + y2*g2x)
		s8 += d1 * (z0*g0y + z1*g1y + z2*g2y)
		s9 += d2 * (x0*g0z + x1*g1z + x2*g2z)
	}
	in.s = [10]float64{s0, s1, s2, s3, s4, s5, s6, s7, s8, s9}
}

// unitProps are the mass properties of the solid for unit density, in the
// mesh's own length unit L: volume in L³, centre of mass in L (absolute, ref
// added back) and the inertia tensor about the centre of mass in L⁵.
type unitProps struct {
	volume  float64
	com     [3]float64
	inertia [3][3]float64
}

// result finishes the integration. The inertia tensor is
// I_ij = ∫ (|r|² δ_ij − r_i r_j) dV about the centre of mass, so the
// off-diagonal entries are the negated products of inertia.
func (in *integrals) result() unitProps {
	mult := [10]float64{1.0 / 6, 1.0 / 24, 1.0 / 24, 1.0 / 24, 1.0 / 60, 1.0 / 60, 1.0 / 60, 1.0 / 120, 1.0 / 120, 1.0 / 120}
	var g [10]float64
	for i := range g {
		g[i] = in.s[i] * mult[i]
	}
	vol := g[0]
	var p unitProps
	p.volume = vol
	if vol <= 0 {
		return p
	}
	cx, cy, cz := g[1]/vol, g[2]/vol, g[3]/vol
	p.com = [3]float64{in.ref[0] + cx, in.ref[1] + cy, in.ref[2] + cz}
	ixx := g[5] + g[6] - vol*(cy*cy+cz*cz)
	iyy := g[4] + g[6] - vol*(cz*cz+cx*cx)
	izz := g[4] + g[5] - vol*(cx*cx+cy*cy)
	ixy := -(g[7] - vol*cx*cy)
	iyz := -(g[8] - vol*cy*cz)
	ixz := -(g[9] - vol*cz*cx)
	p.inertia = [3][3]float64{
		{ixx, ixy, ixz},
		{ixy, iyy, iyz},
		{ixz, iyz, izz},
	}
	return p
}

// boundsCentre is the centre of the axis-aligned bounding box of v. The
// bounds are scalar locals and the vertices are read in place: arrays would
// be kept in memory, and copied, by the Go compiler for WebAssembly.
func boundsCentre(v [][3]float64) [3]float64 {
	if len(v) == 0 {
		return [3]float64{}
	}
	lx, ly, lz := v[0][0], v[0][1], v[0][2]
	hx, hy, hz := lx, ly, lz
	for i := 1; i < len(v); i++ {
		p := &v[i]
		lx, ly, lz = min(lx, p[0]), min(ly, p[1]), min(lz, p[2])
		hx, hy, hz = max(hx, p[0]), max(hy, p[1]), max(hz, p[2])
	}
	return [3]float64{(lx + hx) / 2, (ly + hy) / 2, (lz + hz) / 2}
}
