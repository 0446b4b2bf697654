package stage

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// complex is the combinatorial surface of a part: the triangles whose three
// indices are in range and distinct (the faces), and their undirected edges.
// Edges are found by sorting the half-edges by (lower vertex, higher vertex,
// face) with two counting-sort passes, so building it is linear in the mesh
// size.
type complex struct {
	nv    int
	faces [][3]int32
	orig  []int32 // orig[f] is the index of face f in the part's triangles

	// he holds the 3F half-edges grouped by undirected edge: edge e owns
	// he[edgeStart[e]:edgeStart[e+1]], sorted by face. Edges are numbered
	// in order of (lower vertex, higher vertex).
	he        []halfEdge
	edgeStart []int32
	valence   []int32 // distinct edges at each vertex

	// across[3f+k] is the face across the edge from corner k to k+1 of
	// face f, or nf on a boundary edge; across[3nf:3nf+3] are nf too. It
	// holds only when twoFaced: no edge has more than two faces.
	across   []int32
	twoFaced bool
}

type halfEdge struct {
	lo, hi int32 // the edge's lower and higher vertex
	face   int32
	local  int8 // k: the half-edge goes from corner k to corner k+1 of face
	fwd    bool // the face traverses the edge from lo to hi
}

func (c *complex) edges() int { return len(c.edgeStart) - 1 }

// edgeFaces is the number of faces using edge e.
func (c *complex) edgeFaces(e int) int { return int(c.edgeStart[e+1] - c.edgeStart[e]) }

func (c *complex) edgeHalves(e int) []halfEdge { return c.he[c.edgeStart[e]:c.edgeStart[e+1]] }

// order returns a and b in increasing order without a branch. Vertex
// indices are below math.MaxInt32/3, so a-b does not overflow.
//
// Under WebAssembly the Go compiler turns every taken branch into a jump
// through the function's dispatch table, and it keeps a branch for min and
// max when the result feeds an address, as it does here: the mask costs a
// few arithmetic instructions instead.
func order(a, b int32) (lo, hi int32) {
	d := a - b
	m := d >> 31 // all ones when a < b
	return b + d&m, a - d&m
}

// isNonZero is 1 when x is not 0, else 0, without a branch.
func isNonZero(x uint64) int32 { return int32((x | -x) >> 63) }

// scratch holds the working buffers of buildComplex, wlLabels and validate, reused
// from one part to the next: fewer and smaller allocations mean less
// zeroing and fewer garbage collections, which are dear under WebAssembly.
// The complex of a part lives in it too: each part is validated right after
// it is hashed, so no complex is needed once the next part's is built.
type scratch struct {
	complex  complex
	faces    [][3]int32
	orig     []int32
	he, tmp  []halfEdge
	faceEdge [][3]int32
	valence  []int32
	across   []int32

	counts       []uint64 // half-edges per vertex: as lower (low half), as higher
	byLo, byHi   []int32
	edgeStart    []int32
	labels, term []uint64
	sum, next    []uint64
	set          labelSet
	msg          []byte // the message hash hashes

	// validate's
	parent, links, cornerOf []int32
	faceRoot, stack         []int32
	parity                  []uint8
	onNonManifoldEdge       []bool
}

// resize returns b with length n, reusing its storage when it is large
// enough; the contents are not cleared.
func resize[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// buildComplex indexes faces (already validated: in range, distinct) over nv
// vertices; orig maps each face to its triangle index. sc is scratch space;
// the complex returned is in it, good until the next call with sc.
//
// The loops are shaped for WebAssembly, where every taken branch and loop
// back-edge is a jump through a dispatch table: the three corners of a face
// are written out rather than looped over, the half-edges are ordered by
// two counting sorts (no comparisons) and edges are numbered with
// arithmetic rather than with an if per half-edge.
func buildComplex(nv int, faces [][3]int32, orig []int32, sc *scratch) *complex {
	c := &sc.complex
	*c = complex{nv: nv, faces: faces, orig: orig}
	nf := len(faces)
	// Half-edges per lower and per higher vertex, then bucket starts. A
	// face with corners a < b < d has edges (a, b), (b, d), (a, d): a is
	// the lower vertex of two, b the lower of one and the higher of one, d
	// the higher of two. Both counts of a vertex are kept in one uint64,
	// the higher-vertex count in the top half, so a face makes three
	// increments rather than six (each a load and a store, dearer under
	// WebAssembly than the sorting arithmetic). Counts are below 2³¹ (at
	// most 3·nf), so neither half carries into the other.
	sc.counts = resize(sc.counts, nv)
	counts := sc.counts
	clear(counts)
	for f := range faces {
		t := &faces[f]
		a, b := order(t[0], t[1])
		a, d := order(a, t[2])
		b, d = order(b, d)
		counts[a] += 2
		counts[b] += 1 | 1<<32
		counts[d] += 2 << 32
	}
	sc.byLo, sc.byHi = resize(sc.byLo, nv), resize(sc.byHi, nv)
	byLo, byHi := sc.byLo, sc.byHi
	var sum uint64
	for v, n := range counts {
		byLo[v], byHi[v] = int32(sum), int32(sum>>32)
		sum += n
	}
	// First by higher vertex, taking faces in order, then stably by lower
	// vertex: he ends up sorted by (lo, hi, face).
	sc.tmp = resize(sc.tmp, 3*nf)
	tmp := sc.tmp
	for f := range faces {
		t := &faces[f]
		a, b, d := t[0], t[1], t[2]
		lo, hi := order(a, b)
		tmp[byHi[hi]] = halfEdge{lo: lo, hi: hi, face: int32(f), local: 0, fwd: a < b}
		byHi[hi]++
		lo, hi = order(b, d)
		tmp[byHi[hi]] = halfEdge{lo: lo, hi: hi, face: int32(f), local: 1, fwd: b < d}
		byHi[hi]++
		lo, hi = order(d, a)
		tmp[byHi[hi]] = halfEdge{lo: lo, hi: hi, face: int32(f), local: 2, fwd: d < a}
		byHi[hi]++
	}
	sc.he = resize(sc.he, 3*nf)
	he := sc.he
	for i := range tmp {
		h := &tmp[i]
		lo := h.lo
		he[byLo[lo]] = *h
		byLo[lo]++
	}
	c.he = he

	// Number the edges: a half-edge whose (lo, hi) differs from the one
	// before it starts a new edge. Every half-edge writes its edge's end
	// (the last write wins); valences count new edges. Every half-edge
	// also links its face to the face across: the first of an edge to nf
	// (none, so far), the second to the first and the first to the
	// second (the first of an edge links its predecessor's slot to the
	// spare slot 3nf instead). A third half-edge on an edge clears
	// twoFaced, and across is then not used.
	sc.valence = resize(sc.valence, nv)
	valence := sc.valence
	clear(valence)
	sc.edgeStart = resize(sc.edgeStart, 3*nf+1)
	edgeStart := sc.edgeStart
	sc.across = resize(sc.across, 3*nf+3)
	across := sc.across
	edgeStart[0] = 0
	e := int32(-1)
	prev := ^uint64(0) // no (lo, hi) pair
	spare := int32(3 * nf)
	prevSlot, prevFace, prevSame, over := spare, int32(nf), int32(0), int32(0)
	for i := range he {
		h := &he[i]
		key := uint64(h.lo)<<32 | uint64(h.hi)
		isNew := isNonZero(key ^ prev)
		prev = key
		e += isNew
		edgeStart[e+1] = int32(i + 1)
		valence[h.lo] += isNew
		valence[h.hi] += isNew
		same := 1 - isNew
		slot := 3*h.face + int32(h.local)
		across[slot] = int32(nf) + (prevFace-int32(nf))*same
		across[prevSlot*same+spare*isNew] = h.face
		over |= same & prevSame
		prevSlot, prevFace, prevSame = slot, h.face, same
	}
	across[spare] = int32(nf)
	across[spare+1], across[spare+2] = int32(nf), int32(nf)
	ne := int(e + 1)
	c.edgeStart = edgeStart[:ne+1]
	c.valence = valence
	c.across, c.twoFaced = across, over == 0
	return c
}

// faceEdges returns, for each face f and corner k, the edge from corner k
// to k+1, in sc.
func (c *complex) faceEdges(sc *scratch) [][3]int32 {
	sc.faceEdge = resize(sc.faceEdge, len(c.faces))
	faceEdge := sc.faceEdge
	for e := range c.edges() {
		for _, h := range c.edgeHalves(e) {
			faceEdge[h.face][h.local] = int32(e)
		}
	}
	return faceEdge
}

// Weisfeiler–Lehman refinement over the face-adjacency graph.

// maxWLIterations bounds the refinement; it stops earlier once the partition
// of the faces into label classes is stable. Part of the hash definition.
const maxWLIterations = 16

// hashVersion is mixed into every hash; change it when the definition changes.
const hashVersion = "phasehost/topology/v2"

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

// sort3 sorts three labels. min and max of values that do not feed an
// address compile to selects, not branches, and the middle one is what
// remains when the smallest and largest are xored out.
func sort3(a, b, c uint64) (uint64, uint64, uint64) {
	lo, hi := min(a, b, c), max(a, b, c)
	return lo, a ^ b ^ c ^ lo ^ hi, hi
}

// wlLabels runs the refinement and returns the multiset of final face
// labels, as its distinct labels in increasing order with the number of
// faces bearing each, and the number of iterations run.
//
// A face's initial label is built from combinatorial invariants only: the
// sorted valences of its three vertices and the sorted numbers of faces on
// its three edges. Each iteration relabels a face from its own label and, for
// each of its edges (sorted), the multiset of the labels of the other faces
// on that edge, hashed as a sum of mixed labels. Nothing depends on vertex or
// face numbering, on where a triangle's index list starts, or on coordinates.
//
// The number of distinct labels after each round is counted with a flat
// hash set rather than by sorting the labels (or with a Go map, which is
// slow under WebAssembly); only the distinct final labels are sorted.
//
// The returned lists are in sc, good until its next use.
func (c *complex) wlLabels(sc *scratch) (distinct []uint64, faces []int32, rounds int) {
	nf := len(c.faces)
	sc.labels = resize(sc.labels, nf)
	labels := sc.labels
	valence := c.valence
	if c.twoFaced {
		// An edge's faces are 2, or 1 where there is no face across.
		across := c.across
		for f := range c.faces {
			t, x := &c.faces[f], across[3*f:][:3]
			v0, v1, v2 := sort3(uint64(valence[t[0]]), uint64(valence[t[1]]), uint64(valence[t[2]]))
			m0, m1, m2 := sort3(uint64(2-b2u8(x[0] == int32(nf))), uint64(2-b2u8(x[1] == int32(nf))), uint64(2-b2u8(x[2] == int32(nf))))
			h := combine(combine(combine(uint64(0x5157), v0), v1), v2)
			labels[f] = combine(combine(combine(h, m0), m1), m2)
		}
		// The sum over an edge's other faces is then the term of the face
		// across it, or 0: each round gathers three terms per face rather
		// than adding every face's term into its three edges' sums.
		return c.wlGather(labels, sc.set.count(labels, 1), across, sc)
	}
	faceEdge := c.faceEdges(sc)
	for f := range c.faces {
		t, fe := &c.faces[f], &faceEdge[f]
		v0, v1, v2 := sort3(uint64(valence[t[0]]), uint64(valence[t[1]]), uint64(valence[t[2]]))
		m0, m1, m2 := sort3(uint64(c.edgeFaces(int(fe[0]))), uint64(c.edgeFaces(int(fe[1]))), uint64(c.edgeFaces(int(fe[2]))))
		h := combine(combine(combine(uint64(0x5157), v0), v1), v2)
		labels[f] = combine(combine(combine(h, m0), m1), m2)
	}
	set := &sc.set
	classes := set.count(labels, 1)

	// term[f] is face f's label as it enters the sums, sum[e] the sum over
	// the faces on edge e. Each round relabels every face from the current
	// sums and, in the same pass, adds the new terms into next.
	sc.term, sc.sum, sc.next = resize(sc.term, nf), resize(sc.sum, c.edges()), resize(sc.next, c.edges())
	term, sum, next := sc.term, sc.sum, sc.next
	clear(sum)
	for f, l := range labels {
		t, fe := neighbourTerm(l), &faceEdge[f]
		term[f] = t
		sum[fe[0]] += t
		sum[fe[1]] += t
		sum[fe[2]] += t
	}
	iterations := 0
	for iterations < maxWLIterations {
		round := uint64(iterations + 1)
		clear(next)
		for f := range labels {
			own, fe := term[f], &faceEdge[f]
			e0, e1, e2 := fe[0], fe[1], fe[2]
			a, b, d := sort3(sum[e0]-own, sum[e1]-own, sum[e2]-own)
			l := relabel(round, labels[f], a, b, d)
			labels[f] = l
			t := neighbourTerm(l)
			term[f] = t
			next[e0] += t
			next[e1] += t
			next[e2] += t
		}
		sum, next = next, sum
		iterations++
		if !set.split(labels, &classes) {
			break
		}
	}
	d, n := set.histogram(labels)
	return d, n, iterations
}

// wlGather runs the rounds of wlLabels on a surface whose edges have one or
// two faces: a face's neighbour sums are then the terms of the faces across
// its edges, with the term of the missing face on a boundary edge 0 (sum
// minus own term in wlLabels' general rounds, the same values).
func (c *complex) wlGather(labels []uint64, classes int, across []int32, sc *scratch) ([]uint64, []int32, int) {
	nf := len(labels)
	set := &sc.set
	// term and next have an extra entry, nf, that stays 0.
	sc.term, sc.next = resize(sc.term, nf+1), resize(sc.next, nf+1)
	term, next := sc.term, sc.next
	for f, l := range labels {
		term[f] = neighbourTerm(l)
	}
	term[nf], next[nf] = 0, 0
	iterations := 0
	for iterations < maxWLIterations {
		round := uint64(iterations + 1)
		for f := range labels {
			// Indexed rather than sliced (across[3*f:][:3]): a slice
			// costs two bounds checks and the arithmetic that keeps its
			// pointer in range, where _ = across[j+2] leaves one check.
			j := 3 * f
			_ = across[j+2]
			a, b, d := sort3(term[across[j]], term[across[j+1]], term[across[j+2]])
			l := relabel(round, labels[f], a, b, d)
			labels[f] = l
			next[f] = neighbourTerm(l)
		}
		term, next = next, term
		iterations++
		if !set.split(labels, &classes) {
			break
		}
	}
	d, n := set.histogram(labels)
	return d, n, iterations
}

// labelSet counts the distinct values of a list of labels: open addressing
// with linear probing over a power-of-two table indexed by a label's top
// bits (labels come out of mix, so those are evenly spread), kept at most
// half full. 0 marks an empty slot; the label 0 is counted apart.
type labelSet struct {
	keys  []uint64
	shift uint     // 64 - log2(len(keys))
	n     int      // distinct labels in keys (0 not included)
	zero  bool     // the label 0 was counted
	miss  []uint64 // labels count left for probing

	// histogram's: occurrences per slot, then the distinct labels sorted
	// and their occurrences.
	counts, freq []int32
	distinct     []uint64
}

// reset empties the set, sized for about want distinct labels: at least
// four slots a label, and sixteen while that is 65,536 slots or fewer (a
// label whose home slot another holds goes the slow way, through the miss
// list; in a table that empty, few do).
func (s *labelSet) reset(want int) {
	size, shift := 256, uint(56)
	for size < 4*want || (size < 16*want && size < 1<<16) {
		size, shift = 2*size, shift-1
	}
	if cap(s.keys) < size {
		s.keys = make([]uint64, size)
	} else {
		s.keys = s.keys[:size]
		clear(s.keys)
	}
	s.shift, s.n, s.zero = shift, 0, false
}

// count resets the set to labels and returns their number of distinct
// values; want is a guess of that number, to size the table.
//
// The loop is shaped for WebAssembly, where every taken branch is a jump
// through a dispatch table: it has none. A label whose home slot is empty
// is stored there, one already there is found there, and any other (the
// home slot holds another label) is written to a list that is probed for
// after the loop. The label 0, which marks empty slots, is only noted.
func (s *labelSet) count(labels []uint64, want int) int {
	s.reset(want)
	keys, shift := s.keys, s.shift
	s.miss = resize(s.miss, len(labels))
	miss := s.miss
	m, added, zero := 0, 0, uint8(0)
	for _, l := range labels {
		i := l >> shift
		zero |= b2u8(l == 0)
		if k := keys[i]; k != l {
			miss[m] = l
			m += int(b2u8(k != 0))
			keys[i] = k | l&-uint64(b2u8(k == 0))
			added += int(b2u8(k == 0))
		}
	}
	s.n, s.zero = added, zero != 0
	// The home slots alone may have filled the table over half full (or
	// wholly, leaving insert no empty slot to stop at).
	for 2*s.n > len(s.keys) {
		s.grow()
	}
	for _, l := range miss[:m] {
		if l != 0 {
			s.insert(l)
		}
	}
	n := s.n
	if s.zero {
		n++
	}
	return n
}

// split reports whether the round that made labels split any class, and
// sets classes to their new number. Refinement only ever splits classes:
// the same number means the partition is stable and further rounds add
// nothing.
func (s *labelSet) split(labels []uint64, classes *int) bool {
	n := s.count(labels, *classes)
	if n == *classes {
		return false
	}
	*classes = n
	return true
}

// insert adds l (not 0) to the set if it is not in it yet, growing the
// table if it gets over half full.
func (s *labelSet) insert(l uint64) {
	mask := uint64(len(s.keys) - 1)
	i := l >> s.shift
	for s.keys[i] != l && s.keys[i] != 0 {
		i = (i + 1) & mask
	}
	if s.keys[i] == l {
		return
	}
	s.keys[i] = l
	s.n++
	if 2*s.n > len(s.keys) {
		s.grow()
	}
}

// slot returns the index of l (in the set, not 0) in keys.
//
//go:noinline
func (s *labelSet) slot(l uint64) uint64 {
	mask := uint64(len(s.keys) - 1)
	i := l >> s.shift
	for s.keys[i] != l {
		i = (i + 1) & mask
	}
	return i
}

// grow doubles the table, keeping its keys.
func (s *labelSet) grow() {
	keys := s.keys
	s.keys = make([]uint64, 2*len(keys))
	s.shift--
	mask := uint64(len(s.keys) - 1)
	for _, k := range keys {
		if k == 0 {
			continue
		}
		i := k >> s.shift
		for s.keys[i] != 0 {
			i = (i + 1) & mask
		}
		s.keys[i] = k
	}
}

// histogram returns the distinct values of labels, the list the set was
// last reset to, in increasing order, and how many times each occurs. Both
// are in s, good until its next use.
func (s *labelSet) histogram(labels []uint64) ([]uint64, []int32) {
	keys, shift := s.keys, s.shift
	s.counts = resize(s.counts, len(keys))
	counts := s.counts
	clear(counts)
	zeros := int32(0)
	for _, l := range labels {
		i := l >> shift
		if keys[i] != l || l == 0 {
			if l == 0 {
				zeros++
				continue
			}
			i = s.slot(l)
		}
		counts[i]++
	}
	distinct := s.distinct[:0]
	if zeros > 0 {
		distinct = append(distinct, 0)
	}
	for _, k := range keys {
		if k != 0 {
			distinct = append(distinct, k)
		}
	}
	sortLabels(distinct)
	s.distinct = distinct
	s.freq = resize(s.freq, len(distinct))
	freq := s.freq
	mask := uint64(len(keys) - 1)
	for j, k := range distinct {
		if k == 0 {
			freq[j] = zeros
			continue
		}
		i := k >> shift
		for keys[i] != k {
			i = (i + 1) & mask
		}
		freq[j] = counts[i]
	}
	return distinct, freq
}

// sortLabels sorts labels in increasing order: a least-significant-digit
// radix sort, eight passes of one byte, for long lists (no comparisons, so
// no data-dependent branches), slices.Sort for short ones.
func sortLabels(labels []uint64) {
	if len(labels) < 256 {
		slices.Sort(labels)
		return
	}
	var hist [8][256]int32
	for _, l := range labels {
		hist[0][l&0xff]++
		hist[1][l>>8&0xff]++
		hist[2][l>>16&0xff]++
		hist[3][l>>24&0xff]++
		hist[4][l>>32&0xff]++
		hist[5][l>>40&0xff]++
		hist[6][l>>48&0xff]++
		hist[7][l>>56]++
	}
	src, dst := labels, make([]uint64, len(labels))
	for pass := range 8 {
		pos := &hist[pass]
		var total int32
		for i, n := range pos {
			pos[i] = total
			total += n
		}
		shift := uint(8 * pass)
		for _, l := range src {
			b := l >> shift & 0xff
			dst[pos[b]] = l
			pos[b]++
		}
		src, dst = dst, src
	}
	// After an even number of passes the result is back in labels.
}

// hash is the part's topological hash, in hex: the sha256 of the version,
// the V/E/F counts and the multiset of final WL labels, written as the
// number of distinct labels, those labels in increasing order (8 bytes each,
// big-endian) and the number of faces bearing each (uvarints). The multiset
// written this way is as long as its distinct labels, not as its faces:
// meshes with repeated structure have few (a subdivided box of 3,072 faces,
// 49), and SHA-256 is slow under WebAssembly, where Go has no SHA
// instructions.
func (c *complex) hash(sc *scratch) string {
	distinct, faces, _ := c.wlLabels(sc)
	msg := append(sc.msg[:0], hashVersion...)
	for _, n := range []int{c.nv, c.edges(), len(c.faces), len(distinct)} {
		msg = binary.BigEndian.AppendUint64(msg, uint64(n))
	}
	for _, l := range distinct {
		msg = binary.BigEndian.AppendUint64(msg, l)
	}
	for _, n := range faces {
		msg = binary.AppendUvarint(msg, uint64(n))
	}
	sc.msg = msg
	sum := sha256.Sum256(msg)
	return hex.EncodeToString(sum[:])
}
