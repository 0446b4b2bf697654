package stage

import (
	"errors"
	"fmt"
	"math"
)

// mat4 is a rigid transform as a row-major 4x4 homogeneous matrix: the upper
// left 3x3 block is a rotation, the last column the translation, the last row
// 0 0 0 1.
type mat4 [16]float64

// identity returns the identity transform.
func identity() mat4 {
	return mat4{
		1, 0, 0, 0,
		0, 1, 0, 0,
		0, 0, 1, 0,
		0, 0, 0, 1,
	}
}

// sincosDeg returns sin and cos of deg degrees, exact at multiples of 90° so
// that quarter turns produce exact matrices.
func sincosDeg(deg float64) (sin, cos float64) {
	r := math.Mod(deg, 360)
	if r < 0 {
		r += 360
	}
	switch r {
	case 0:
		return 0, 1
	case 90:
		return 1, 0
	case 180:
		return 0, -1
	case 270:
		return -1, 0
	}
	return math.Sincos(deg * math.Pi / 180)
}

var errZeroAxis = errors.New("rotation axis is zero")

// rigid builds the transform that rotates by angleDeg degrees about axis
// (right-hand rule; the axis need not be unit length) and then translates by
// origin. A zero axis is accepted only with a zero angle.
func rigid(origin, axis [3]float64, angleDeg float64) (mat4, error) {
	for _, v := range [...]float64{origin[0], origin[1], origin[2], axis[0], axis[1], axis[2], angleDeg} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return mat4{}, fmt.Errorf("non-finite number %v", v)
		}
	}
	m := identity()
	n := math.Sqrt(axis[0]*axis[0] + axis[1]*axis[1] + axis[2]*axis[2])
	switch {
	case angleDeg == 0:
	case n == 0:
		return mat4{}, fmt.Errorf("%w with angle_deg %g", errZeroAxis, angleDeg)
	default:
		x, y, z := axis[0]/n, axis[1]/n, axis[2]/n
		s, c := sincosDeg(angleDeg)
		t := 1 - c
		m = mat4{
			t*x*x + c, t*x*y - s*z, t*x*z + s*y, 0,
			t*x*y + s*z, t*y*y + c, t*y*z - s*x, 0,
			t*x*z - s*y, t*y*z + s*x, t*z*z + c, 0,
			0, 0, 0, 1,
		}
	}
	m[3], m[7], m[11] = origin[0], origin[1], origin[2]
	return m, nil
}

// mul returns a×b (apply b first, then a).
func (a mat4) mul(b mat4) mat4 {
	var r mat4
	for i := 0; i < 4; i++ {
		for j := 0; j < 4; j++ {
			r[4*i+j] = a[4*i]*b[j] + a[4*i+1]*b[4+j] + a[4*i+2]*b[8+j] + a[4*i+3]*b[12+j]
		}
	}
	return r
}

// inverse returns the inverse of a rigid transform: [Rᵀ | -Rᵀt].
func (a mat4) inverse() mat4 {
	r := mat4{
		a[0], a[4], a[8], 0,
		a[1], a[5], a[9], 0,
		a[2], a[6], a[10], 0,
		0, 0, 0, 1,
	}
	tx, ty, tz := a[3], a[7], a[11]
	r[3] = -(r[0]*tx + r[1]*ty + r[2]*tz)
	r[7] = -(r[4]*tx + r[5]*ty + r[6]*tz)
	r[11] = -(r[8]*tx + r[9]*ty + r[10]*tz)
	return r
}

// transformPoints applies a to the points v, in place, each coordinate
// tidied (see tidy).
//
// tidy is written out for the common case, no coordinate near an integer,
// with one branch per point: its comparisons set a flag, which the compiler
// makes conditional selects, not jumps (each taken branch costs an indirect
// jump in WebAssembly); a point with a coordinate near an integer goes
// through tidy.
func (a mat4) transformPoints(v [][3]float64) {
	for i := range v {
		x, y, z := v[i][0], v[i][1], v[i][2]
		px := a[0]*x + a[1]*y + a[2]*z + a[3]
		py := a[4]*x + a[5]*y + a[6]*z + a[7]
		pz := a[8]*x + a[9]*y + a[10]*z + a[11]
		dx := math.Abs(px - math.RoundToEven(px))
		dy := math.Abs(py - math.RoundToEven(py))
		dz := math.Abs(pz - math.RoundToEven(pz))
		near := 0
		if dx <= 1e-12 {
			near = 1
		}
		if dx <= 1e-12*math.Abs(px) {
			near = 1
		}
		if dy <= 1e-12 {
			near = 1
		}
		if dy <= 1e-12*math.Abs(py) {
			near = 1
		}
		if dz <= 1e-12 {
			near = 1
		}
		if dz <= 1e-12*math.Abs(pz) {
			near = 1
		}
		if near != 0 {
			px, py, pz = tidy(px), tidy(py), tidy(pz)
		}
		v[i] = [3]float64{px, py, pz}
	}
}

// axisAngle returns the rotation of a as a unit axis and an angle in degrees
// in [0, 180]. The identity gives axis (0, 0, 1) and angle 0.
func (a mat4) axisAngle() (axis [3]float64, angleDeg float64) {
	m00, m01, m02 := a[0], a[1], a[2]
	m10, m11, m12 := a[4], a[5], a[6]
	m20, m21, m22 := a[8], a[9], a[10]
	var w, x, y, z float64
	// Shepperd's method: pick the largest of the quaternion's components
	// to divide by, which keeps the conversion stable at every angle.
	switch tr := m00 + m11 + m22; {
	case tr > 0:
		s := math.Sqrt(tr+1) * 2
		w, x, y, z = s/4, (m21-m12)/s, (m02-m20)/s, (m10-m01)/s
	case m00 > m11 && m00 > m22:
		s := math.Sqrt(1+m00-m11-m22) * 2
		w, x, y, z = (m21-m12)/s, s/4, (m01+m10)/s, (m02+m20)/s
	case m11 > m22:
		s := math.Sqrt(1+m11-m00-m22) * 2
		w, x, y, z = (m02-m20)/s, (m01+m10)/s, s/4, (m12+m21)/s
	default:
		s := math.Sqrt(1+m22-m00-m11) * 2
		w, x, y, z = (m10-m01)/s, (m02+m20)/s, (m12+m21)/s, s/4
	}
	if w < 0 {
		w, x, y, z = -w, -x, -y, -z
	}
	n := math.Sqrt(x*x + y*y + z*z)
	if n < 1e-12 {
		return [3]float64{0, 0, 1}, 0
	}
	angleDeg = tidy(2 * math.Atan2(n, w) * 180 / math.Pi)
	return [3]float64{tidy(x / n), tidy(y / n), tidy(z / n)}, angleDeg
}

// tidy snaps v to the nearest integer when it is within rounding noise of it
// (1e-12 relative), so that exact geometry stays exact in the output.
//
// It is written for WebAssembly, where math.RoundToEven is one instruction
// (f64.nearest) but math.Round and math.Max are calls with branches: the
// nearest integer by RoundToEven, which differs from Round's only for a
// half (d == 0.5), where Round's is taken; and 1e-12·max(1, |v|) as two
// comparisons (the product by 1e-12 is monotonic, so the bound is the
// larger of 1e-12 and 1e-12·|v|). transformPoints writes the test out.
func tidy(v float64) float64 {
	r := math.RoundToEven(v)
	d := math.Abs(v - r)
	if !(d <= 1e-12 || d <= 1e-12*math.Abs(v)) {
		return v // NaN and ±Inf too: d is NaN
	}
	if d == 0.5 {
		r = math.Round(v)
	}
	if r == 0 {
		return 0 // never -0
	}
	return r
}
