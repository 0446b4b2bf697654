package stage

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// assemblyVersion is mixed into the assembly hash; change it when the
// definition changes.
const assemblyVersion = "phasehost/assembly/v2"

// groundLabel is the label of the ground, the parent of a constraint
// without one.
var groundLabel = mix(0x67726f756e64) // "ground"

// assemblyHash hashes the assembly without reference to part names: the
// sorted multiset of part hashes, and the constraint graph (constraint part →
// parent) refined by Weisfeiler–Lehman with the part hashes as initial
// labels, expressed as the sorted multisets of final node labels and of
// (child label, parent label) edges.
//
// The rounds work on 64-bit labels, as the parts' rounds do (a part's
// initial label is the first 64 bits of its hash); only the final message
// is hashed with SHA-256, which is slow under WebAssembly.
func assemblyHash(doc *document) string {
	n := len(doc.parts)
	index := make(map[*part]int, n)
	labels := make([]uint64, n)
	for i, p := range doc.parts {
		index[p] = i
		labels[i] = partLabel(p.hash)
	}
	out := make([][]int, n) // -1 is the ground
	in := make([][]int, n)
	for _, c := range doc.constraints {
		ci := index[c.child]
		pi := -1
		if c.parent != nil {
			pi = index[c.parent]
			in[pi] = append(in[pi], ci)
		}
		out[ci] = append(out[ci], pi)
	}
	label := func(ls []uint64, i int) uint64 {
		if i < 0 {
			return groundLabel
		}
		return ls[i]
	}
	var outs, ins, sorted []uint64 // reused from one node and round to the next
	classes := countDistinct(labels, &sorted)
	next := make([]uint64, n)
	for round := range n {
		for i := range n {
			outs, ins = outs[:0], ins[:0]
			for _, j := range out[i] {
				outs = append(outs, label(labels, j))
			}
			for _, j := range in[i] {
				ins = append(ins, label(labels, j))
			}
			slices.Sort(outs)
			slices.Sort(ins)
			// Each list is preceded by its length: the fold is unambiguous.
			h := combine(combine(uint64(round+1), labels[i]), uint64(len(outs)))
			for _, l := range outs {
				h = combine(h, l)
			}
			h = combine(h, uint64(len(ins)))
			for _, l := range ins {
				h = combine(h, l)
			}
			next[i] = h
		}
		labels, next = next, labels
		// Refinement only splits classes: the same count means it is stable.
		c := countDistinct(labels, &sorted)
		if c == classes {
			break
		}
		classes = c
	}

	partHashes := make([]string, n)
	for i, p := range doc.parts {
		partHashes[i] = p.hash
	}
	slices.Sort(partHashes)
	nodes := slices.Clone(labels)
	slices.Sort(nodes)
	var edges [][2]uint64
	for i := range n {
		for _, j := range out[i] {
			edges = append(edges, [2]uint64{labels[i], label(labels, j)})
		}
	}
	slices.SortFunc(edges, func(a, b [2]uint64) int { return slices.Compare(a[:], b[:]) })

	// The message: each string and list preceded by its length.
	msg := appendString(nil, assemblyVersion)
	msg = binary.BigEndian.AppendUint64(msg, uint64(n))
	for _, h := range partHashes {
		msg = appendString(msg, h)
	}
	for _, l := range nodes {
		msg = binary.BigEndian.AppendUint64(msg, l)
	}
	msg = binary.BigEndian.AppendUint64(msg, uint64(len(edges)))
	for _, e := range edges {
		msg = binary.BigEndian.AppendUint64(msg, e[0])
		msg = binary.BigEndian.AppendUint64(msg, e[1])
	}
	sum := sha256.Sum256(msg)
	return hex.EncodeToString(sum[:])
}

// appendString appends s preceded by its length.
func appendString(msg []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint64(msg, uint64(len(s))), s...)
}

// partLabel is a part's initial label: the first 64 bits of its hash (hex).
func partLabel(hash string) uint64 {
	var b [8]byte
	if _, err := hex.Decode(b[:], []byte(hash[:16])); err != nil {
		panic("topology: part hash is not hex: " + hash)
	}
	return binary.BigEndian.Uint64(b[:])
}

// countDistinct returns the number of distinct labels in ls, sorting a copy
// of them in buf.
func countDistinct(ls []uint64, buf *[]uint64) int {
	s := append((*buf)[:0], ls...)
	slices.Sort(s)
	*buf = s
	return len(slices.Compact(s))
}
