package wasmbin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// InterruptExport is the name under which an instrumented module exports its
// interrupt flag: a mutable i32 global, 0 while the guest may run.
const InterruptExport = "phasehost.interrupt"

// ErrUnsupported is returned (wrapped) by InstrumentLoops for a module using an
// instruction it does not know; the caller falls back to another way of
// stopping the guest.
var ErrUnsupported = errors.New("unsupported instruction")

// SafepointEvery is how many loop iterations an instrumented guest runs
// between two safepoints.
const SafepointEvery = 1024

// InstrumentLoops returns a copy of wasm in which every loop starts with a
// countdown; every SafepointEvery iterations the guest passes a safepoint and
// traps (unreachable) if its interrupt flag — a mutable i32 global exported
// as InterruptExport — is not 0:
//
//	loop bt
//	  global.set $n (i32.add (global.get $n) (i32.const -1))
//	  if (i32.eqz (global.get $n))
//	    global.set $n (i32.const 1024)
//	    drop (memory.grow (i32.const 0))   ;; a call into the runtime
//	    if (global.get $interrupt) unreachable end
//	  end
//	  ...
//
// The host sets the flag from another goroutine to stop a guest (timeout,
// cancellation, a fatal host-call error). The safepoint's memory.grow of 0
// pages changes nothing but returns control to the Go runtime, which is what
// lets the Go garbage collector stop the world while a guest spins: native
// code in between cannot be preempted. Recursion without loops ends in a stack
// overflow, so loops are the only place a guest can run forever.
//
// This replaces wazero's WithCloseOnContextDone, which calls into the runtime
// on every iteration (RATIONALE.md). Function and global indices are
// unchanged (the two globals are appended). DWARF sections, whose code offsets
// would no longer hold, are dropped; the name section is kept. The module
// must have a memory (plugins define and export one).
func InstrumentLoops(wasm []byte) ([]byte, error) {
	secs, err := Sections(wasm)
	if err != nil {
		return nil, err
	}
	mod, err := Parse(wasm)
	if err != nil {
		return nil, err
	}
	if _, dup := mod.Export(InterruptExport); dup {
		return nil, fmt.Errorf("module already exports %q", InterruptExport)
	}
	var importedGlobals uint32
	for _, imp := range mod.Imports {
		if imp.Kind == KindGlobal {
			importedGlobals++
		}
	}
	var definedGlobals uint32
	var globalSec, exportSec, codeSec *Section
	for i := range secs {
		switch secs[i].ID {
		case SectionGlobal:
			globalSec = &secs[i]
			r := &reader{b: secs[i].Data}
			if definedGlobals, err = r.u32(); err != nil {
				return nil, fmt.Errorf("global section: %w", err)
			}
		case SectionExport:
			exportSec = &secs[i]
		case SectionCode:
			codeSec = &secs[i]
		}
	}
	if exportSec == nil || codeSec == nil {
		return nil, errors.New("module has no export or code section")
	}
	interrupt := importedGlobals + definedGlobals
	counter := interrupt + 1

	// The new globals: the interrupt flag (0) and the countdown.
	newGlobals := []byte{0x7f, 0x01, 0x41, 0x00, 0x0b}
	newGlobals = append(newGlobals, 0x7f, 0x01, 0x41)
	newGlobals = appendSLEB(newGlobals, SafepointEvery)
	newGlobals = append(newGlobals, 0x0b)
	var globalBody []byte
	if globalSec != nil {
		globalBody = appendVecEntries(globalSec.Data, definedGlobals, 2, newGlobals)
	} else {
		globalBody = append(binary.AppendUvarint(nil, 2), newGlobals...)
	}
	exportBody, err := appendExport(exportSec.Data, InterruptExport, KindGlobal, interrupt)
	if err != nil {
		return nil, fmt.Errorf("export section: %w", err)
	}
	codeBody, err := instrumentCode(codeSec.Data, safepoint(interrupt, counter))
	if err != nil {
		return nil, err
	}

	out := make([]byte, 0, len(wasm)+len(wasm)/8)
	out = append(out, header...)
	wroteGlobal := false
	emit := func(id byte, body []byte) {
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	for _, s := range secs {
		// A missing global section goes right before the export section
		// (sections 6 and 7 are adjacent in the required order).
		if s.ID == SectionExport && !wroteGlobal && globalSec == nil {
			emit(SectionGlobal, globalBody)
			wroteGlobal = true
		}
		switch {
		case s.ID == SectionCustom && strings.HasPrefix(s.Name, ".debug_"):
			continue
		case s.ID == SectionGlobal:
			emit(SectionGlobal, globalBody)
			wroteGlobal = true
		case s.ID == SectionExport:
			emit(SectionExport, exportBody)
		case s.ID == SectionCode:
			emit(SectionCode, codeBody)
		default:
			out = append(out, wasm[s.Offset:s.End]...)
		}
	}
	return out, nil
}

// appendVecEntries re-encodes a vector of count entries (data holds the count
// followed by the entries) with n more entries, encoded in entries, appended.
func appendVecEntries(data []byte, count, n uint32, entries []byte) []byte {
	r := &reader{b: data}
	_, _ = r.u32()
	out := binary.AppendUvarint(nil, uint64(count)+uint64(n))
	out = append(out, data[r.off:]...)
	return append(out, entries...)
}

// safepoint is the code inserted at the start of every loop.
func safepoint(interrupt, counter uint32) []byte {
	g := func(op byte, idx uint32, b []byte) []byte { return binary.AppendUvarint(append(b, op), uint64(idx)) }
	var b []byte
	b = g(0x23, counter, b)         // global.get $n
	b = append(b, 0x41, 0x7f, 0x6a) // i32.const -1; i32.add
	b = g(0x24, counter, b)         // global.set $n
	b = g(0x23, counter, b)         // global.get $n
	b = append(b, 0x45, 0x04, 0x40) // i32.eqz; if
	b = appendSLEB(append(b, 0x41), SafepointEvery)
	b = g(0x24, counter, b)                     // global.set $n
	b = append(b, 0x41, 0x00, 0x40, 0x00, 0x1a) // i32.const 0; memory.grow 0; drop
	b = g(0x23, interrupt, b)                   // global.get $interrupt
	b = append(b, 0x04, 0x40, 0x00, 0x0b)       // if unreachable end
	return append(b, 0x0b)                      // end
}

func appendSLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendExport(data []byte, name string, kind byte, idx uint32) ([]byte, error) {
	r := &reader{b: data}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	entry := binary.AppendUvarint(nil, uint64(len(name)))
	entry = append(entry, name...)
	entry = append(entry, kind)
	entry = binary.AppendUvarint(entry, uint64(idx))
	return appendVecEntries(data, n, 1, entry), nil
}

// instrumentCode rewrites every function body of the code section, inserting
// check at the start of every loop.
func instrumentCode(data []byte, check []byte) ([]byte, error) {
	r := &reader{b: data}
	n, err := r.u32()
	if err != nil {
		return nil, fmt.Errorf("code section: %w", err)
	}
	out := binary.AppendUvarint(make([]byte, 0, len(data)+len(data)/8), uint64(n))
	var body []byte
	for i := uint32(0); i < n; i++ {
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("code section: function %d: %w", i, err)
		}
		fn, err := r.bytes(int(size))
		if err != nil {
			return nil, fmt.Errorf("code section: function %d: %w", i, err)
		}
		body, err = instrumentBody(body[:0], fn, check)
		if err != nil {
			return nil, fmt.Errorf("code section: function %d: %w", i, err)
		}
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	if r.off != len(data) {
		return nil, errors.New("code section: trailing bytes")
	}
	return out, nil
}

// instrumentBody copies one function body (locals and expression), inserting
// check after the block type of every loop.
func instrumentBody(out, fn, check []byte) ([]byte, error) {
	r := &reader{b: fn}
	// Locals: vec of (count, valtype).
	groups, err := r.u32()
	if err != nil {
		return nil, err
	}
	for g := uint32(0); g < groups; g++ {
		if _, err := r.u32(); err != nil {
			return nil, err
		}
		if _, err := r.byte(); err != nil {
			return nil, err
		}
	}
	out = append(out, fn[:r.off]...)
	start := r.off
	for r.off < len(fn) {
		op, _ := r.byte()
		if err := skipImmediates(r, op); err != nil {
			return nil, fmt.Errorf("at body offset %d, opcode 0x%02x: %w", r.off, op, err)
		}
		if op == 0x03 { // loop
			out = append(out, fn[start:r.off]...)
			out = append(out, check...)
			start = r.off
		}
	}
	return append(out, fn[start:]...), nil
}

// skipImmediates advances r past the immediates of op.
func skipImmediates(r *reader, op byte) error {
	u := func(n int) error {
		for i := 0; i < n; i++ {
			if _, err := r.u32(); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0b || op == 0x0f || op == 0x1a || op == 0x1b || op == 0xd1:
		return nil
	case op == 0x02 || op == 0x03 || op == 0x04: // block type
		return skipBlockType(r)
	case op == 0x0c || op == 0x0d || op == 0x10 || op == 0x12 || (op >= 0x20 && op <= 0x26) || op == 0xd2:
		return u(1)
	case op == 0x0e: // br_table
		n, err := r.u32()
		if err != nil {
			return err
		}
		if int(n) > len(r.b)-r.off {
			return errShort
		}
		return u(int(n) + 1)
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
		return u(2)
	case op == 0x1c: // select with types
		n, err := r.u32()
		if err != nil {
			return err
		}
		_, err = r.bytes(int(n))
		return err
	case op >= 0x28 && op <= 0x3e: // loads and stores
		return skipMemarg(r)
	case op == 0x3f || op == 0x40: // memory.size, memory.grow
		return u(1)
	case op == 0x41: // i32.const
		return skipSLEB(r)
	case op == 0x42: // i64.const
		return skipSLEB(r)
	case op == 0x43:
		_, err := r.bytes(4)
		return err
	case op == 0x44:
		_, err := r.bytes(8)
		return err
	case op >= 0x45 && op <= 0xc4: // numeric, sign extension
		return nil
	case op == 0xd0: // ref.null t
		_, err := r.byte()
		return err
	case op == 0xfc:
		return skipFC(r)
	case op == 0xfd:
		return skipSIMD(r)
	case op == 0xfe:
		return skipAtomic(r)
	}
	return fmt.Errorf("%w 0x%02x", ErrUnsupported, op)
}

func skipBlockType(r *reader) error {
	if r.off >= len(r.b) {
		return errShort
	}
	switch r.b[r.off] {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		r.off++
		return nil
	}
	return skipSLEB(r) // a type index, as s33
}

func skipSLEB(r *reader) error {
	for i := 0; i < 10; i++ {
		c, err := r.byte()
		if err != nil {
			return err
		}
		if c&0x80 == 0 {
			return nil
		}
	}
	return errors.New("LEB128 value too long")
}

func skipMemarg(r *reader) error {
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 { // multi-memory: a memory index follows
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	_, err = r.u32() // offset (u64 for memory64; u32 here)
	return err
}

func skipFC(r *reader) error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	n := 0
	switch {
	case sub <= 7: // saturating truncations
	case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
		n = 2
	case sub == 9, sub == 11, sub == 13, sub >= 15 && sub <= 17:
		n = 1
	default:
		return fmt.Errorf("%w 0xfc %d", ErrUnsupported, sub)
	}
	for i := 0; i < n; i++ {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	return nil
}

func skipSIMD(r *reader) error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11 || sub == 92 || sub == 93: // loads, stores, load_zero
		return skipMemarg(r)
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		_, err := r.bytes(16)
		return err
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		_, err := r.byte()
		return err
	case sub >= 84 && sub <= 91: // load_lane, store_lane
		if err := skipMemarg(r); err != nil {
			return err
		}
		_, err := r.byte()
		return err
	case sub <= 0x113: // every other SIMD and relaxed-SIMD instruction has none
		return nil
	}
	return fmt.Errorf("%w 0xfd %d", ErrUnsupported, sub)
}

func skipAtomic(r *reader) error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	if sub == 0x03 { // atomic.fence
		_, err := r.byte()
		return err
	}
	if sub <= 0x4e {
		return skipMemarg(r)
	}
	return fmt.Errorf("%w 0xfe %d", ErrUnsupported, sub)
}
