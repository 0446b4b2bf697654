package stage

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// TestUnrolledSum256 checks unrolledSum256 against crypto/sha256 on every
// length up to a few blocks, and on a long message.
func TestUnrolledSum256(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(r.Uint32())
		}
		if got, want := unrolledSum256(msg), sha256.Sum256(msg); got != want {
			t.Fatalf("%d bytes: got %x, want %x", n, got, want)
		}
	}
	msg := make([]byte, 100003)
	for i := range msg {
		msg[i] = byte(r.Uint32())
	}
	if got, want := unrolledSum256(msg), sha256.Sum256(msg); got != want {
		t.Fatalf("%d bytes: got %x, want %x", len(msg), got, want)
	}
}

// BenchmarkUnrolledSum256 and BenchmarkCryptoSum256 compare the two under
// WebAssembly, where sum256 uses the first, and natively, the second.
func BenchmarkUnrolledSum256(b *testing.B) {
	msg := make([]byte, 1<<20)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		unrolledSum256(msg)
	}
}

func BenchmarkCryptoSum256(b *testing.B) {
	msg := make([]byte, 1<<20)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		sha256.Sum256(msg)
	}
}
