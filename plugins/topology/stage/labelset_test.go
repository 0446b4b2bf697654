package stage

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLabelSetCountAndHistogram holds labelSet to sorting and compacting, on
// lists with many or few distinct labels, 0 among them, and labels whose
// home slots collide.
func TestLabelSetCountAndHistogram(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s labelSet
	for trial := range 300 {
		n := r.IntN(5000)
		distinct := 1 + r.IntN(1+r.IntN(3000))
		vals := make([]uint64, distinct)
		for i := range vals {
			vals[i] = r.Uint64()
			if r.IntN(50) == 0 {
				vals[i] = 0
			}
			if r.IntN(20) == 0 {
				vals[i] = uint64(r.IntN(4)) << 60
			}
		}
		labels := make([]uint64, n)
		for i := range labels {
			labels[i] = vals[r.IntN(distinct)]
		}
		want := slices.Clone(labels)
		slices.Sort(want)
		wantN := len(slices.Compact(slices.Clone(want)))
		if got := s.count(labels, 1+r.IntN(100)); got != wantN {
			t.Fatalf("trial %d: count %d want %d", trial, got, wantN)
		}
		var expanded []uint64
		keys, freq := s.histogram(labels)
		if len(freq) != len(keys) {
			t.Fatalf("trial %d: %d keys, %d counts", trial, len(keys), len(freq))
		}
		for i, l := range keys {
			if i > 0 && l <= keys[i-1] {
				t.Fatalf("trial %d: keys not strictly increasing at %d", trial, i)
			}
			for range freq[i] {
				expanded = append(expanded, l)
			}
		}
		if !slices.Equal(expanded, want) {
			t.Fatalf("trial %d: histogram differs", trial)
		}
	}
}
