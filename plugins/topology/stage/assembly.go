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

// digester hashes lists of strings unambiguously (each length-prefixed),
// building each message in the same buffer: the assembly hash makes one
// digest per part and round, and allocations are dear under WebAssembly.
type digester struct {
	msg []byte
}

// add appends the strings to the message being built.
func (d *digester) add(parts ...string) {
	for _, s := range parts {
		d.msg = binary.BigEndian.AppendUint64(d.msg, uint64(len(s)))
		d.msg = append(d.msg, s...)
	}
}

// sum returns the sha256 of the message, in hex, and starts a new one.
func (d *digester) sum() string {
	sum := sha256.Sum256(d.msg)
	d.msg = d.msg[:0]
	var hx [2 * sha256.Size]byte
	hex.Encode(hx[:], sum[:])
	return string(hx[:])
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
	var d digester
	var outs, ins, sorted []string // reused from one node and round to the next
	classes := countDistinct(labels, &sorted)
	next := make([]string, n)
	for range n {
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
			d.add("node", labels[i], "out")
			d.add(outs...)
			d.add("in")
			d.add(ins...)
			next[i] = d.sum()
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
	var edges []string
	for i := range n {
		for _, j := range out[i] {
			d.add(labels[i], label(labels, j))
			edges = append(edges, d.sum())
		}
	}
	slices.Sort(edges)
	d.add(assemblyVersion, "parts")
	d.add(partHashes...)
	d.add("nodes")
	d.add(nodes...)
	d.add("constraints")
	d.add(edges...)
	return d.sum()
}

// countDistinct returns the number of distinct strings in ls, sorting a
// copy of them in buf.
func countDistinct(ls []string, buf *[]string) int {
	s := append((*buf)[:0], ls...)
	slices.Sort(s)
	*buf = s
	return len(slices.Compact(s))
}
