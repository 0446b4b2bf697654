// Package docjson is a JSON layer for stages that pass large documents of
// numbers (meshes) along a pipeline; the reference plugins use it, and the
// host checks every stage's output with its Valid. Its hot loops are shaped
// for Go's wasm backend (sdk/PERFORMANCE.md).
//
// encoding/json would scan and copy every mesh several times (once per level
// of nesting, then again through reflection); in WebAssembly that dominated
// a run. Here the input is validated once (Check, Valid: the same answer as
// json.Valid), then parsed in a single pass: objects are split into members
// whose values are sub-slices of the input (Object, ParseObject,
// Scanner.Object), meshes are decoded in place by a dedicated number scanner
// (Scanner.Mesh, ParseVertices, ParseTriangles), and the output copies every
// untouched member as it came in (Object.AppendTo).
//
// Everything but Check and Valid expects text that Check accepted (the
// scanners track only strings and nesting); on other input their results are
// unspecified.
//
// The plugins run as WebAssembly, where Go's code pays for every taken
// branch and every call far more than natively, so the hot loops here are
// shaped for it: bytes are read 8 at a time into a uint64 and classified
// with arithmetic (digits, brackets, quotes), numbers are parsed by
// parseNumber rather than strconv (see number.go), a mesh's arrays are
// parsed in one loop each (fastmesh.go), and ParseDocument parses them while
// it validates them, in one pass over the input. AppendFloatFixed formats
// coordinates as strconv does, for the same reasons. Each of them gives the
// same results as the general code it stands for, which the tests check
// against strconv and encoding/json.
package docjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
)

// Check reports whether data is one valid JSON value: nil when it is, else
// encoding/json's error, prefixed with the byte offset for a syntax error.
func Check(data []byte) error {
	if Valid(data) {
		return nil
	}
	return invalid(data)
}

// invalid returns Check's error for data, which is not valid JSON.
func invalid(data []byte) error {
	var v json.RawMessage
	err := json.Unmarshal(data, &v)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return fmt.Errorf("at byte %d: %w", syntax.Offset, err)
	}
	if err != nil {
		return err
	}
	return errors.New("invalid JSON")
}

// maxDepth bounds the nesting of arrays and objects, as encoding/json does.
const maxDepth = 10000

// Valid reports whether data is exactly one JSON value (RFC 8259) with
// optional surrounding spaces: the same answer as json.Valid, without its
// per-byte state machine, which is slow in WebAssembly.
//
// Natively, with more than one processor, a document of a MiB or more is
// checked by two goroutines: one checks the arrays of arrays of numbers
// (a mesh's vertices and triangles) of its second half while the other
// checks the document from the start, taking those results when it gets
// there (rowMemo). The host checks every plugin's output with Valid, on the
// path of every run: 12 MB of plugin output took 7.2-7.6 ms on one
// goroutine.
func Valid(data []byte) bool {
	if len(data) < parallelMin || runtime.GOARCH == "wasm" || runtime.GOMAXPROCS(0) < 2 {
		return validate(data, nil)
	}
	m := &rowMemo{from: len(data) / 2, ready: make(chan struct{})}
	go m.fill(data)
	ok := validateWith(data, nil, m)
	// Done with data before returning: the caller may change it next.
	m.stop.Store(true)
	<-m.ready
	return ok
}

// preparsed holds the mesh arrays validate parsed, by their offset in the
// input, for the Scanner that reads the input next.
type preparsed struct {
	arrays map[int]preArray
	// rawTriangles leaves "triangles" arrays to the general check (see
	// ParseOptions).
	rawTriangles bool
	// The arrays are parsed into these, which grow as the parse needs
	// (growTriples) and are kept from one array to the next, and copied out
	// at their exact size: in WebAssembly, growing each array's result by
	// doubling, with its garbage and fresh memory, cost about a fifth of
	// the triangles' parse.
	vertexScratch   [][3]float64
	triangleScratch [][3]int64
}

// preArray is one array parsed ahead: the index just past it, and its
// elements (vertices or triangles, as kind says).
type preArray struct {
	end       int
	kind      byte // 'v' or 't'
	vertices  [][3]float64
	triangles [][3]int64
}

func (p *preparsed) add(start int, a preArray) {
	if p.arrays == nil {
		p.arrays = map[int]preArray{}
	}
	p.arrays[start] = a
}

// take returns the array of kind parsed at start, if any.
func (p *preparsed) take(start int, kind byte) (preArray, bool) {
	if p == nil {
		return preArray{}, false
	}
	a, ok := p.arrays[start]
	return a, ok && a.kind == kind
}
