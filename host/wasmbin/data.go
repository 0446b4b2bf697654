package wasmbin

import (
	"cmp"
	"encoding/binary"
	"errors"
	"slices"
)

// CoalesceGap is the widest run of zeros CoalesceData writes out to join two
// data segments: about what applying one more segment costs in copying.
const CoalesceGap = 512

// dataSegment is an active segment of memory 0 at a constant offset.
type dataSegment struct {
	offset uint32
	init   []byte
}

func (s dataSegment) end() uint64 { return uint64(s.offset) + uint64(len(s.init)) }

// CoalesceData returns wasm with its data segments joined where they are
// close: sorted by offset, a segment that starts at most CoalesceGap bytes
// after the previous one ends is appended to it, the bytes between written
// out as zeros. It returns wasm itself when that does not apply.
//
// The Go compiler emits a segment per run of non-zero bytes: a Go plugin has
// about 40,000 segments for 1 MB of data, and wazero evaluates each one's
// offset and copies it at every instantiation, which took 1.6 ms of a
// reference plugin's 2.3 ms start (CPU profile of BenchmarkStageStart); a
// handful of segments take a single copy.
//
// The memory an instance starts with is the same: it applies only when
// every segment is active, in memory 0, at an i32.const offset, and no two
// overlap, so that their order does not matter and no segment writes the
// bytes between two others (those read as zero in a new memory). A segment
// past the memory's end fails the instantiation before and after. Modules
// with a data count section (bulk memory: memory.init and data.drop name
// segments by index) are left alone.
func CoalesceData(wasm []byte) []byte {
	secs, err := Sections(wasm)
	if err != nil {
		return wasm
	}
	var data *Section
	for i := range secs {
		switch secs[i].ID {
		case SectionDataCount:
			return wasm
		case SectionData:
			data = &secs[i]
		}
	}
	if data == nil {
		return wasm
	}
	segs, err := activeSegments(data.Data)
	if err != nil || len(segs) < 2 {
		return wasm
	}
	slices.SortStableFunc(segs, func(a, b dataSegment) int { return cmp.Compare(a.offset, b.offset) })
	for i := 1; i < len(segs); i++ {
		if uint64(segs[i].offset) < segs[i-1].end() {
			return wasm // overlapping: the order of writes matters
		}
	}
	// Group the segments into runs, then write each run as one segment.
	type run struct{ first, last int }
	var runs []run
	zeros := 0
	for i := range segs {
		if n := len(runs); n > 0 && uint64(segs[i].offset)-segs[runs[n-1].last].end() <= CoalesceGap {
			zeros += int(uint64(segs[i].offset) - segs[runs[n-1].last].end())
			runs[n-1].last = i
		} else {
			runs = append(runs, run{i, i})
		}
	}
	// A segment costs a few bytes and may bring up to CoalesceGap zeros:
	// a module made of gaps would grow a hundredfold. The zeros are kept
	// to the module's size or 1 MiB (a Go plugin's are a fifth of its
	// size).
	if len(runs) == len(segs) || zeros > max(len(wasm), 1<<20) {
		return wasm
	}
	body := binary.AppendUvarint(nil, uint64(len(runs)))
	for _, r := range runs {
		start, end := segs[r.first].offset, segs[r.last].end()
		body = append(body, 0x00, 0x41) // active, memory 0; i32.const
		body = appendSLEB(body, int64(int32(start)))
		body = append(body, 0x0b)
		body = binary.AppendUvarint(body, end-uint64(start))
		for i := r.first; i <= r.last; i++ {
			s := segs[i]
			if i > r.first {
				body = append(body, make([]byte, uint64(s.offset)-segs[i-1].end())...)
			}
			body = append(body, s.init...)
		}
	}
	out := make([]byte, 0, len(wasm)+len(body)-len(data.Data))
	out = append(out, wasm[:data.Offset]...)
	out = append(out, SectionData)
	out = binary.AppendUvarint(out, uint64(len(body)))
	out = append(out, body...)
	return append(out, wasm[data.End:]...)
}

var errNotCoalescable = errors.New("data segment is not active in memory 0 at a constant offset")

// activeSegments decodes a data section whose segments are all active, in
// memory 0, at an i32.const offset.
func activeSegments(body []byte) ([]dataSegment, error) {
	r := &reader{b: body}
	var segs []dataSegment
	err := r.vec(func() error {
		flag, err := r.u32()
		if err != nil {
			return err
		}
		switch flag {
		case 0:
		case 2: // explicit memory index
			if mem, err := r.u32(); err != nil || mem != 0 {
				return errNotCoalescable
			}
		default: // 1: passive
			return errNotCoalescable
		}
		if op, err := r.byte(); err != nil || op != 0x41 {
			return errNotCoalescable
		}
		offset, err := r.s32()
		if err != nil {
			return err
		}
		if end, err := r.byte(); err != nil || end != 0x0b {
			return errNotCoalescable
		}
		n, err := r.u32()
		if err != nil {
			return err
		}
		init, err := r.bytes(int(n))
		if err != nil {
			return err
		}
		segs = append(segs, dataSegment{offset: uint32(offset), init: init})
		return nil
	})
	if err == nil && r.off != len(body) {
		err = errors.New("data section has trailing bytes")
	}
	return segs, err
}

// s32 reads a signed LEB128 i32.
func (r *reader) s32() (int32, error) {
	var v int64
	for shift := 0; shift < 35; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			if shift < 57 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			if v < -1<<31 || v > 1<<31-1 {
				return 0, errors.New("LEB128 value overflows i32")
			}
			return int32(v), nil
		}
	}
	return 0, errors.New("LEB128 value too long")
}
