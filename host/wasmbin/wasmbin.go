// Package wasmbin reads and writes the parts of the WebAssembly binary format
// that Phasehost needs before (or instead of) compiling a module: the section
// list, custom sections, and the type, import, function, memory and export
// sections. It never executes anything and is safe on hostile input: every
// length is checked against the bytes that remain.
//
// Everything here is pure and safe for concurrent use.
package wasmbin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Magic and version of a wasm binary (version 1).
var header = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

// Section ids.
const (
	SectionCustom    = 0
	SectionType      = 1
	SectionImport    = 2
	SectionFunction  = 3
	SectionMemory    = 5
	SectionGlobal    = 6
	SectionExport    = 7
	SectionStart     = 8
	SectionCode      = 10
	SectionData      = 11
	SectionDataCount = 12
)

// External kinds of imports and exports.
const (
	KindFunc   = 0
	KindTable  = 1
	KindMemory = 2
	KindGlobal = 3
)

// KindName names an external kind.
func KindName(k byte) string {
	switch k {
	case KindFunc:
		return "function"
	case KindTable:
		return "table"
	case KindMemory:
		return "memory"
	case KindGlobal:
		return "global"
	}
	return fmt.Sprintf("kind %d", k)
}

// ErrNotWasm is returned for input that does not start with the wasm header.
var ErrNotWasm = errors.New("not a WebAssembly module (no \\0asm version 1 header)")

// Section is one section of a module; Data aliases the input.
type Section struct {
	ID     byte
	Name   string // custom sections only
	Data   []byte // the payload (for custom sections, after the name)
	Offset int    // of the section id byte in the module
	End    int    // offset just past the section
}

// FuncType is a function signature as raw value-type bytes.
type FuncType struct {
	Params, Results []byte
}

// Import is one entry of the import section.
type Import struct {
	Module, Name string
	Kind         byte
	TypeIndex    uint32 // for functions
}

// Export is one entry of the export section.
type Export struct {
	Name  string
	Kind  byte
	Index uint32
}

// Limits of a memory.
type Limits struct {
	Min    uint32
	Max    uint32
	HasMax bool
}

// Module is the decoded shape of a module.
type Module struct {
	Sections  []Section
	Types     []FuncType
	Imports   []Import
	Functions []uint32 // type index of each defined function
	Memories  []Limits // defined memories
	Exports   []Export
}

// Sections splits a module into its sections.
func Sections(wasm []byte) ([]Section, error) {
	if len(wasm) < len(header) || !bytes.Equal(wasm[:4], header[:4]) {
		return nil, ErrNotWasm
	}
	if !bytes.Equal(wasm[4:8], header[4:]) {
		return nil, fmt.Errorf("unsupported wasm binary version %d (want 1)", binary.LittleEndian.Uint32(wasm[4:8]))
	}
	var out []Section
	r := &reader{b: wasm, off: len(header)}
	for r.off < len(r.b) {
		start := r.off
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("section at offset %d: %w", start, err)
		}
		body, err := r.bytes(int(size))
		if err != nil {
			return nil, fmt.Errorf("section %d at offset %d: size %d: %w", id, start, size, err)
		}
		s := Section{ID: id, Data: body, Offset: start, End: r.off}
		if id == SectionCustom {
			br := &reader{b: body}
			name, err := br.name()
			if err != nil {
				return nil, fmt.Errorf("custom section at offset %d: %w", start, err)
			}
			s.Name, s.Data = name, body[br.off:]
		}
		out = append(out, s)
	}
	return out, nil
}

// CustomSections returns the payloads of every custom section called name.
func CustomSections(wasm []byte, name string) ([][]byte, error) {
	secs, err := Sections(wasm)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, s := range secs {
		if s.ID == SectionCustom && s.Name == name {
			out = append(out, s.Data)
		}
	}
	return out, nil
}

// SetCustomSection returns a copy of wasm with every custom section called
// name removed and one with the given payload appended.
func SetCustomSection(wasm []byte, name string, payload []byte) ([]byte, error) {
	secs, err := Sections(wasm)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(wasm)+len(payload)+len(name)+16)
	out = append(out, header...)
	for _, s := range secs {
		if s.ID == SectionCustom && s.Name == name {
			continue
		}
		out = append(out, wasm[s.Offset:s.End]...)
	}
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(name)))
	body = append(body, name...)
	body = append(body, payload...)
	out = append(out, SectionCustom)
	out = binary.AppendUvarint(out, uint64(len(body)))
	return append(out, body...), nil
}

// Parse decodes the sections Phasehost checks. Unknown and other sections are
// kept in Sections but not decoded.
func Parse(wasm []byte) (*Module, error) {
	secs, err := Sections(wasm)
	if err != nil {
		return nil, err
	}
	m := &Module{Sections: secs}
	for _, s := range secs {
		r := &reader{b: s.Data}
		var err error
		switch s.ID {
		case SectionType:
			err = r.vec(func() error {
				form, err := r.byte()
				if err != nil {
					return err
				}
				if form != 0x60 {
					return fmt.Errorf("type form 0x%x, want 0x60", form)
				}
				var ft FuncType
				if ft.Params, err = r.valtypes(); err != nil {
					return err
				}
				if ft.Results, err = r.valtypes(); err != nil {
					return err
				}
				m.Types = append(m.Types, ft)
				return nil
			})
		case SectionImport:
			err = r.vec(func() error {
				imp, err := r.imp()
				if err == nil {
					m.Imports = append(m.Imports, imp)
				}
				return err
			})
		case SectionFunction:
			err = r.vec(func() error {
				idx, err := r.u32()
				m.Functions = append(m.Functions, idx)
				return err
			})
		case SectionMemory:
			err = r.vec(func() error {
				l, err := r.limits()
				m.Memories = append(m.Memories, l)
				return err
			})
		case SectionExport:
			err = r.vec(func() error {
				name, err := r.name()
				if err != nil {
					return err
				}
				k, err := r.byte()
				if err != nil {
					return err
				}
				idx, err := r.u32()
				m.Exports = append(m.Exports, Export{Name: name, Kind: k, Index: idx})
				return err
			})
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("section %d at offset %d: %w", s.ID, s.Offset, err)
		}
	}
	return m, nil
}

// FuncTypeOf returns the signature of function index idx (imports first, then
// defined functions), and false when idx is out of range.
func (m *Module) FuncTypeOf(idx uint32) (FuncType, bool) {
	var n uint32
	for _, imp := range m.Imports {
		if imp.Kind != KindFunc {
			continue
		}
		if n == idx {
			return m.typeAt(imp.TypeIndex)
		}
		n++
	}
	i := idx - n
	if idx < n || int(i) >= len(m.Functions) {
		return FuncType{}, false
	}
	return m.typeAt(m.Functions[i])
}

func (m *Module) typeAt(i uint32) (FuncType, bool) {
	if int(i) >= len(m.Types) {
		return FuncType{}, false
	}
	return m.Types[i], true
}

// Export returns the export called name.
func (m *Module) Export(name string) (Export, bool) {
	for _, e := range m.Exports {
		if e.Name == name {
			return e, true
		}
	}
	return Export{}, false
}

var errShort = errors.New("unexpected end of data")

type reader struct {
	b   []byte
	off int
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errShort
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) u32() (uint32, error) {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if v > 0xffffffff {
				return 0, errors.New("LEB128 value overflows u32")
			}
			return uint32(v), nil
		}
	}
	return 0, errors.New("LEB128 value too long")
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, errShort
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b, nil
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(int(n))
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", errors.New("name is not UTF-8")
	}
	return string(b), nil
}

// vec reads a count and calls item that many times; the count is checked
// against the remaining bytes so a hostile count cannot make us loop long.
func (r *reader) vec(item func() error) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	if int(n) > len(r.b)-r.off {
		return fmt.Errorf("vector of %d entries in %d bytes", n, len(r.b)-r.off)
	}
	for i := uint32(0); i < n; i++ {
		if err := item(); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
	}
	return nil
}

func (r *reader) valtypes() ([]byte, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	b, err := r.bytes(int(n))
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

func (r *reader) limits() (Limits, error) {
	flag, err := r.byte()
	if err != nil {
		return Limits{}, err
	}
	var l Limits
	if l.Min, err = r.u32(); err != nil {
		return l, err
	}
	if flag&1 == 1 {
		l.HasMax = true
		if l.Max, err = r.u32(); err != nil {
			return l, err
		}
	}
	return l, nil
}

func (r *reader) imp() (Import, error) {
	var imp Import
	var err error
	if imp.Module, err = r.name(); err != nil {
		return imp, err
	}
	if imp.Name, err = r.name(); err != nil {
		return imp, err
	}
	if imp.Kind, err = r.byte(); err != nil {
		return imp, err
	}
	switch imp.Kind {
	case KindFunc:
		imp.TypeIndex, err = r.u32()
	case KindTable:
		if _, err = r.byte(); err == nil { // reftype
			_, err = r.limits()
		}
	case KindMemory:
		_, err = r.limits()
	case KindGlobal:
		if _, err = r.byte(); err == nil { // valtype
			_, err = r.byte() // mutability
		}
	default:
		err = fmt.Errorf("unknown import kind %d", imp.Kind)
	}
	return imp, err
}
