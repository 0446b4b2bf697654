package stage

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// complex is the combinatorial surface of a part: the triangles whose three
// indices are in range and distinct (the faces), and their undirected edges.
// Edges are found by bucketing half-edges by their lower vertex, so building
// it is linear in the mesh size apart from sorting tiny buckets.
type complex struct {
	nv    int
	faces [][3]int32
	orig  []int32 // orig[f] is the index of face f in the part's triangles

	// he holds the 3F half-edges grouped by undirected edge: edge e owns
	// he[edgeStart[e]:edgeStart[e+1]], sorted by face.
	he        []halfEdge
	edgeStart []int32
	edgeLo    []int32    // lower vertex of each edge
	faceEdge  [][3]int32 // faceEdge[f][k] is the edge from corner k to k+1
	valence   []int32    // distinct edges at each vertex
}

type halfEdge struct {
	hi    int32 // the edge's higher vertex
	face  int32
	local int8 // k: the half-edge goes from corner k to corner k+1 of face
	fwd   bool // the face traverses the edge from lo to hi
}

func (c *complex) edges() int { return len(c.edgeStart) - 1 }

// edgeFaces is the number of faces using edge e.
func (c *complex) edgeFaces(e int) int { return int(c.edgeStart[e+1] - c.edgeStart[e]) }

func (c *complex) edgeHalves(e int) []halfEdge { return c.he[c.edgeStart[e]:c.edgeStart[e+1]] }

// buildComplex indexes faces (already validated: in range, distinct) over nv
// vertices; orig maps each face to its triangle index.
func buildComplex(nv int, faces [][3]int32, orig []int32) *complex {
	c := &complex{nv: nv, faces: faces, orig: orig}
	start := make([]int32, nv+1)
	for _, t := range faces {
		for k := range 3 {
			a, b := t[k], t[(k+1)%3]
			start[min(a, b)+1]++
		}
	}
	for i := range nv {
		start[i+1] += start[i]
	}
	c.he = make([]halfEdge, 3*len(faces))
	pos := slices.Clone(start[:nv])
	for f, t := range faces {
		for k := range 3 {
			a, b := t[k], t[(k+1)%3]
			lo, hi := min(a, b), max(a, b)
			c.he[pos[lo]] = halfEdge{hi: hi, face: int32(f), local: int8(k), fwd: a < b}
			pos[lo]++
		}
	}
	c.faceEdge = make([][3]int32, len(faces))
	c.valence = make([]int32, nv)
	c.edgeStart = make([]int32, 0, len(faces)*3/2+2)
	c.edgeLo = make([]int32, 0, len(faces)*3/2+1)
	for lo := range nv {
		bucket := c.he[start[lo]:start[lo+1]]
		slices.SortFunc(bucket, func(x, y halfEdge) int {
			if x.hi != y.hi {
				return int(x.hi - y.hi)
			}
			return int(x.face - y.face)
		})
		for i, h := range bucket {
			if i == 0 || h.hi != bucket[i-1].hi {
				c.edgeStart = append(c.edgeStart, start[lo]+int32(i))
				c.edgeLo = append(c.edgeLo, int32(lo))
				c.valence[lo]++
				c.valence[h.hi]++
			}
			c.faceEdge[h.face][h.local] = int32(len(c.edgeStart) - 1)
		}
	}
	c.edgeStart = append(c.edgeStart, int32(len(c.he)))
	return c
}

// Weisfeiler–Lehman refinement over the face-adjacency graph.

// maxWLIterations bounds the refinement; it stops earlier once the partition
// of the faces into label classes is stable. Part of the hash definition.
const maxWLIterations = 16

// hashVersion is mixed into every hash; change it when the definition changes.
const hashVersion = "phasehost/topology/v1"

// mix is the splitmix64 finaliser, a bijective 64-bit mixer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// combine folds v into the running label h; it is order-sensitive.
func combine(h, v uint64) uint64 { return mix(h*0x9e3779b97f4a7c15 ^ mix(v+0x632be59bd9b4e019)) }

// relabel is a face's label in a round from its own label and the sorted
// neighbour sums of its three edges.
func relabel(round, own, a, b, c uint64) uint64 {
	return mix(own*0x9e3779b97f4a7c15 ^ mix(a*0xd1b54a32d192ed03+b*0xaef17502108ef2d9+c*0xf1357aea2e62a9c5+round))
}

// neighbourTerm is a face label as it enters an edge's multiset sum.
func neighbourTerm(l uint64) uint64 { return mix(l ^ 0xd6e8feb86659fd93) }

func sort3(a, b, c uint64) (uint64, uint64, uint64) {
	if a > b {
		a, b = b, a
	}
	if b > c {
		b, c = c, b
	}
	if a > b {
		a, b = b, a
	}
	return a, b, c
}

// wlLabels runs the refinement and returns the final face labels, sorted,
// and the number of iterations run.
//
// A face's initial label is built from combinatorial invariants only: the
// sorted valences of its three vertices and the sorted numbers of faces on
// its three edges. Each iteration relabels a face from its own label and, for
// each of its edges (sorted), the multiset of the labels of the other faces
// on that edge, hashed as a sum of mixed labels. Nothing depends on vertex or
// face numbering, on where a triangle's index list starts, or on coordinates.
func (c *complex) wlLabels() ([]uint64, int) {
	nf := len(c.faces)
	labels := make([]uint64, nf)
	for f, t := range c.faces {
		v0, v1, v2 := sort3(uint64(c.valence[t[0]]), uint64(c.valence[t[1]]), uint64(c.valence[t[2]]))
		fe := c.faceEdge[f]
		m0, m1, m2 := sort3(uint64(c.edgeFaces(int(fe[0]))), uint64(c.edgeFaces(int(fe[1]))), uint64(c.edgeFaces(int(fe[2]))))
		h := combine(combine(combine(uint64(0x5157), v0), v1), v2)
		labels[f] = combine(combine(combine(h, m0), m1), m2)
	}
	sorted := slices.Clone(labels)
	slices.Sort(sorted)
	classes := distinct(sorted)

	next := make([]uint64, nf)
	term := make([]uint64, nf)
	sum := make([]uint64, c.edges())
	iterations := 0
	for iterations < maxWLIterations {
		for f, l := range labels {
			term[f] = neighbourTerm(l)
		}
		for e := range sum {
			var s uint64
			for _, h := range c.edgeHalves(e) {
				s += term[h.face]
			}
			sum[e] = s
		}
		round := uint64(iterations + 1)
		for f := range nf {
			own := term[f]
			fe := c.faceEdge[f]
			a, b, d := sort3(sum[fe[0]]-own, sum[fe[1]]-own, sum[fe[2]]-own)
			next[f] = relabel(round, labels[f], a, b, d)
		}
		labels, next = next, labels
		iterations++
		copy(sorted, labels)
		slices.Sort(sorted)
		// Refinement only ever splits classes: the same number means the
		// partition is stable and further rounds add nothing.
		n := distinct(sorted)
		if n == classes {
			break
		}
		classes = n
	}
	return sorted, iterations
}

func distinct(sorted []uint64) int {
	n := 0
	for i, v := range sorted {
		if i == 0 || v != sorted[i-1] {
			n++
		}
	}
	return n
}

// hash is the part's topological hash: sha256 of the version, the V/E/F
// counts and the sorted multiset of final WL labels, in hex.
func (c *complex) hash() string {
	labels, _ := c.wlLabels()
	h := sha256.New()
	h.Write([]byte(hashVersion))
	var buf [8]byte
	for _, n := range []int{c.nv, c.edges(), len(c.faces)} {
		binary.BigEndian.PutUint64(buf[:], uint64(n))
		h.Write(buf[:])
	}
	for _, l := range labels {
		binary.BigEndian.PutUint64(buf[:], l)
		h.Write(buf[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}
