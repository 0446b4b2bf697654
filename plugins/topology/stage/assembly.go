package stage

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// assemblyVersion is mixed into the assembly hash.
const assemblyVersion = "phasehost/assembly/v1"

// groundLabel stands for the parent of a constraint without one.
const groundLabel = "ground"

// digest hashes a list of strings unambiguously (each length-prefixed).
func digest(parts ...string) string {
	size := 0
	for _, s := range parts {
		size += 8 + len(s)
	}
	msg := make([]byte, 0, size)
	for _, s := range parts {
		msg = binary.BigEndian.AppendUint64(msg, uint64(len(s)))
		msg = append(msg, s...)
	}
	sum := sha256.Sum256(msg)
	return hex.EncodeToString(sum[:])
}

// assemblyHash hashes the assembly without reference to part names: the
// sorted multiset of part hashes, and the constraint graph (constraint part →
// parent) refined by Weisfeiler–Lehman with the part hashes as initial
// labels, expressed as the sorted multisets of final node labels and of
// (child label, parent label) edges.
func assemblyHash(doc *document) string {
	n := len(doc.parts)
	index := make(map[*part]int, n)
	labels := make([]string, n)
	for i, p := range doc.parts {
		index[p] = i
		labels[i] = p.hash
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
	label := func(ls []string, i int) string {
		if i < 0 {
			return groundLabel
		}
		return ls[i]
	}
	classes := countDistinct(labels)
	for range n {
		next := make([]string, n)
		for i := range n {
			var outs, ins []string
			for _, j := range out[i] {
				outs = append(outs, label(labels, j))
			}
			for _, j := range in[i] {
				ins = append(ins, label(labels, j))
			}
			slices.Sort(outs)
			slices.Sort(ins)
			fields := append([]string{"node", labels[i], "out"}, outs...)
			fields = append(fields, "in")
			fields = append(fields, ins...)
			next[i] = digest(fields...)
		}
		labels = next
		// Refinement only splits classes: the same count means it is stable.
		c := countDistinct(labels)
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
	var edges []string
	for i := range n {
		for _, j := range out[i] {
			edges = append(edges, digest(labels[i], label(labels, j)))
		}
	}
	slices.Sort(edges)
	fields := []string{assemblyVersion, "parts"}
	fields = append(fields, partHashes...)
	fields = append(fields, "nodes")
	fields = append(fields, nodes...)
	fields = append(fields, "constraints")
	fields = append(fields, edges...)
	return digest(fields...)
}

func countDistinct(ls []string) int {
	s := slices.Clone(ls)
	slices.Sort(s)
	return len(slices.Compact(s))
}
