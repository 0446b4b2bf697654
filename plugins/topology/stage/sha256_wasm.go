//go:build wasm

package stage

// sum256 is SHA-256 of msg; see unrolledSum256.
func sum256(msg []byte) [32]byte { return unrolledSum256(msg) }
