package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/phasehost/phasehost/schemas"
)

// MaxSize is the largest manifest accepted, in bytes.
const MaxSize = 1 << 20

// compiledSchema is schemas/manifest.schema.json, compiled once.
var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.Manifest()))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	const url = "manifest.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
})

// toJSON turns a YAML or JSON document into JSON bytes, or describes why it
// cannot be read.
func toJSON(data []byte) ([]byte, *Problem) {
	if len(data) > MaxSize {
		return nil, &Problem{Message: fmt.Sprintf("manifest is %d bytes, over the %d-byte limit", len(data), MaxSize)}
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, &Problem{Message: "manifest is empty"}
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		if err := checkJSON(trimmed); err != nil {
			return nil, &Problem{Message: err.Error()}
		}
		return trimmed, nil
	}
	var v any
	if err := yaml.Unmarshal(trimmed, &v); err != nil {
		return nil, &Problem{Message: "not valid YAML or JSON: " + err.Error()}
	}
	b, err := json.Marshal(yamlToJSONValue(v))
	if err != nil {
		return nil, &Problem{Message: "YAML cannot be expressed as JSON: " + err.Error()}
	}
	return b, nil
}

// checkJSON reports a syntax error with its line and column.
func checkJSON(b []byte) error {
	var v any
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := 1, 1
		for _, c := range b[:max(0, min(int(se.Offset)-1, len(b)))] {
			if c == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		return fmt.Errorf("not valid JSON: line %d, column %d: %v", line, col, se)
	}
	if err != nil {
		return fmt.Errorf("not valid JSON: %v", err)
	}
	return nil
}

// yamlToJSONValue turns map[any]any (YAML allows non-string keys) into
// map[string]any so the document can be checked as JSON.
func yamlToJSONValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = yamlToJSONValue(e)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = yamlToJSONValue(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = yamlToJSONValue(e)
		}
		return t
	}
	return v
}

// schemaProblems validates doc against the manifest schema and renders every
// leaf error as a Problem with a field path and the offending value.
func schemaProblems(doc []byte) []Problem {
	sch, err := compiledSchema()
	if err != nil {
		return []Problem{{Message: "internal: manifest schema: " + err.Error()}}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return []Problem{{Message: "not valid JSON: " + err.Error()}}
	}
	if _, ok := inst.(map[string]any); !ok {
		return []Problem{{Message: fmt.Sprintf("manifest must be an object, got %s", display(inst))}}
	}
	err = sch.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []Problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, render(inst, e)...)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

var printer = message.NewPrinter(language.English)

// render turns one schema error into problems with our wording.
func render(inst any, e *jsonschema.ValidationError) []Problem {
	path := fieldPath(e.InstanceLocation)
	val := lookup(inst, e.InstanceLocation)
	field := ""
	if n := len(e.InstanceLocation); n > 0 {
		field = e.InstanceLocation[n-1]
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		var ps []Problem
		for _, name := range k.Missing {
			ps = append(ps, Problem{Path: join(path, name), Message: "required field is missing"})
		}
		return ps
	case *kind.AdditionalProperties:
		var ps []Problem
		for _, name := range k.Properties {
			ps = append(ps, Problem{Path: join(path, name), Message: fmt.Sprintf("unknown field %q", name)})
		}
		return ps
	case *kind.Enum:
		if field == "maps_to" {
			return []Problem{{Path: path, Message: fmt.Sprintf("%s is not a unified phase (START, PROGRESS, END)", display(val))}}
		}
		return []Problem{{Path: path, Message: fmt.Sprintf("%s: %s", display(val), k.LocalizedString(printer))}}
	case *kind.Const:
		if path == "abi" {
			return []Problem{{Path: path, Message: fmt.Sprintf("%s is not supported: this host speaks ABI %d", display(val), 1)}}
		}
	case *kind.Pattern:
		return []Problem{{Path: path, Message: fmt.Sprintf("%s %s", display(val), patternHint(field, e.InstanceLocation, k.Want))}}
	case *kind.Type:
		return []Problem{{Path: path, Message: fmt.Sprintf("%s is %s, want %s", display(val), article(k.Got), strings.Join(k.Want, " or "))}}
	case *kind.Minimum:
		return []Problem{{Path: path, Message: fmt.Sprintf("%s is below the minimum %s", display(val), rat(k.Want))}}
	case *kind.ExclusiveMinimum:
		return []Problem{{Path: path, Message: fmt.Sprintf("%s must be greater than %s", display(val), rat(k.Want))}}
	case *kind.Maximum:
		return []Problem{{Path: path, Message: fmt.Sprintf("%s is above the maximum %s", display(val), rat(k.Want))}}
	case *kind.MinItems:
		return []Problem{{Path: path, Message: fmt.Sprintf("has %d items, needs at least %d", k.Got, k.Want)}}
	}
	return []Problem{{Path: path, Message: fmt.Sprintf("%s: %s", display(val), e.ErrorKind.LocalizedString(printer))}}
}

func patternHint(field string, loc []string, pattern string) string {
	inPhase := len(loc) == 3 && loc[0] == "phases"
	switch {
	case field == "version" && len(loc) == 1:
		return "is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.0)"
	case field == "name" && inPhase:
		return "is not a phase name (upper-case letters, digits and _, starting with a letter: " + pattern + ")"
	case field == "name" || field == "stage":
		return "is not a valid " + field + " (a lower-case letter, then up to 62 of a-z 0-9 _ -: " + pattern + ")"
	case field == "step":
		return "is not a lower_snake step name (" + pattern + ")"
	}
	return "does not match " + pattern
}

func article(t string) string {
	switch t {
	case "integer", "object", "array":
		return "an " + t
	case "null":
		return "null"
	}
	return "a " + t
}

func rat(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	return r.FloatString(3)
}

// fieldPath renders ["phases","4","maps_to"] as "phases[4].maps_to".
func fieldPath(loc []string) string {
	var b strings.Builder
	for _, s := range loc {
		if _, err := strconv.Atoi(s); err == nil {
			b.WriteString("[" + s + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteString(".")
		}
		b.WriteString(s)
	}
	return b.String()
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func lookup(v any, loc []string) any {
	for _, s := range loc {
		switch t := v.(type) {
		case map[string]any:
			v = t[s]
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}

// display renders a value as JSON, shortened for messages.
func display(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// sortProblems orders problems by field path, numerically within arrays.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return pathLess(ps[i].Path, ps[j].Path) })
}

// pathLess orders paths so that phases[2] comes before phases[10].
func pathLess(a, b string) bool {
	return naturalKey(a) < naturalKey(b)
}

func naturalKey(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); {
		if p[i] >= '0' && p[i] <= '9' {
			j := i
			for j < len(p) && p[j] >= '0' && p[j] <= '9' {
				j++
			}
			fmt.Fprintf(&b, "%08s", p[i:j])
			i = j
			continue
		}
		b.WriteByte(p[i])
		i++
	}
	return b.String()
}
