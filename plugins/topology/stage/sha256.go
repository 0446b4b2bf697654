package stage

import (
	"encoding/binary"
	"math/bits"
)

// unrolledSum256 is SHA-256 (FIPS 180-4) of msg, the same as
// crypto/sha256.Sum256, which sum256 uses under WebAssembly.
//
// There crypto/sha256 runs its portable Go code, and each loop back-edge or
// taken branch is a jump through a dispatch table: the portable code takes
// two per round. Here the rounds are unrolled eight at a time (the working
// variables rotate their roles instead of being shifted along), which hashes
// about 1.6 times as fast under WebAssembly. Natively crypto/sha256 uses the
// CPU's SHA instructions and is much faster, so sum256 uses it there.
func unrolledSum256(msg []byte) [32]byte {
	h := [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}
	n := len(msg) &^ 63
	sha256Blocks(&h, msg[:n])
	// Padding: 0x80, zeros, then the length in bits, to a multiple of 64.
	var tail [128]byte
	r := copy(tail[:], msg[n:])
	tail[r] = 0x80
	end := 64
	if r+1+8 > 64 {
		end = 128
	}
	binary.BigEndian.PutUint64(tail[end-8:], uint64(len(msg))<<3)
	sha256Blocks(&h, tail[:end])
	var out [32]byte
	for i, v := range h {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return out
}

var sha256K = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// sha256Round is one round: it returns the new d and h; the caller rotates
// the roles of the eight working variables.
func sha256Round(a, b, c, d, e, f, g, h, kw uint32) (uint32, uint32) {
	t1 := h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + (e&f ^ ^e&g) + kw
	t2 := (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + (a&b ^ a&c ^ b&c)
	return d + t1, t1 + t2
}

// sha256Blocks runs the compression function over p, whose length is a
// multiple of 64.
func sha256Blocks(hp *[8]uint32, p []byte) {
	var w [64]uint32
	h0, h1, h2, h3, h4, h5, h6, h7 := hp[0], hp[1], hp[2], hp[3], hp[4], hp[5], hp[6], hp[7]
	for ; len(p) >= 64; p = p[64:] {
		for i := 0; i < 16; i += 4 {
			w[i] = binary.BigEndian.Uint32(p[4*i:])
			w[i+1] = binary.BigEndian.Uint32(p[4*i+4:])
			w[i+2] = binary.BigEndian.Uint32(p[4*i+8:])
			w[i+3] = binary.BigEndian.Uint32(p[4*i+12:])
		}
		for i := 16; i < 64; i += 2 {
			v1, v2 := w[i-2], w[i-15]
			w[i] = (bits.RotateLeft32(v1, -17) ^ bits.RotateLeft32(v1, -19) ^ v1>>10) + w[i-7] +
				(bits.RotateLeft32(v2, -7) ^ bits.RotateLeft32(v2, -18) ^ v2>>3) + w[i-16]
			v1, v2 = w[i-1], w[i-14]
			w[i+1] = (bits.RotateLeft32(v1, -17) ^ bits.RotateLeft32(v1, -19) ^ v1>>10) + w[i-6] +
				(bits.RotateLeft32(v2, -7) ^ bits.RotateLeft32(v2, -18) ^ v2>>3) + w[i-15]
		}
		a, b, c, d, e, f, g, h := h0, h1, h2, h3, h4, h5, h6, h7
		for i := 0; i < 64; i += 8 {
			d, h = sha256Round(a, b, c, d, e, f, g, h, sha256K[i]+w[i])
			c, g = sha256Round(h, a, b, c, d, e, f, g, sha256K[i+1]+w[i+1])
			b, f = sha256Round(g, h, a, b, c, d, e, f, sha256K[i+2]+w[i+2])
			a, e = sha256Round(f, g, h, a, b, c, d, e, sha256K[i+3]+w[i+3])
			h, d = sha256Round(e, f, g, h, a, b, c, d, sha256K[i+4]+w[i+4])
			g, c = sha256Round(d, e, f, g, h, a, b, c, sha256K[i+5]+w[i+5])
			f, b = sha256Round(c, d, e, f, g, h, a, b, sha256K[i+6]+w[i+6])
			e, a = sha256Round(b, c, d, e, f, g, h, a, sha256K[i+7]+w[i+7])
		}
		h0, h1, h2, h3 = h0+a, h1+b, h2+c, h3+d
		h4, h5, h6, h7 = h4+e, h5+f, h6+g, h7+h
	}
	hp[0], hp[1], hp[2], hp[3], hp[4], hp[5], hp[6], hp[7] = h0, h1, h2, h3, h4, h5, h6, h7
}
