package docjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestObjectGetLookupSet(t *testing.T) {
	o, err := ParseObject([]byte(`{"a":1,"n":null,"s":"x"}`))
	require.NoError(t, err)
	r, ok := o.Get("a")
	assert.True(t, ok)
	assert.Equal(t, "1", string(r))
	_, ok = o.Get("n")
	assert.False(t, ok, "Get reports null as absent")
	r, ok = o.Lookup("n")
	assert.True(t, ok, "Lookup reports a null member")
	assert.Equal(t, "null", string(r))
	_, ok = o.Lookup("missing")
	assert.False(t, ok)

	o.Set("a", []byte(`[2]`))
	o.Set("new", []byte(`{}`))
	var keys []string
	for _, m := range o.Members() {
		keys = append(keys, m.Key)
	}
	assert.Equal(t, []string{"a", "n", "s", "new"}, keys)
	assert.Equal(t, `{"a":[2],"n":null,"s":"x","new":{}}`, string(o.AppendTo(nil, nil)))

	out := o.AppendTo([]byte("x="), func(buf []byte, key string) ([]byte, bool) {
		if key != "s" {
			return buf, false
		}
		return append(buf, `"written"`...), true
	})
	assert.Equal(t, `x={"a":[2],"n":null,"s":"written","new":{}}`, string(out))

	var zero Object
	zero.Set("k\"", []byte(`1`))
	assert.Equal(t, `{"k\"":1}`, string(zero.AppendTo(nil, nil)))
}

func TestNonEmptyString(t *testing.T) {
	o, err := ParseObject([]byte(`{"ok":" x ","num":12,"long":[1111111111,2222222222,3333333333,4444444444],"blank":" \t","null":null}`))
	require.NoError(t, err)
	s, err := o.NonEmptyString("ok")
	require.NoError(t, err)
	assert.Equal(t, " x ", s)
	for key, want := range map[string]string{
		"num":     "num: want a string, got 12",
		"long":    "long: want a string, got [1111111111,2222222222,3333333333,444444…",
		"blank":   "blank: empty",
		"null":    `missing "null"`,
		"missing": `missing "missing"`,
	} {
		_, err := o.NonEmptyString(key)
		assert.EqualError(t, err, want, key)
	}
}

// AppendString writes what json.Marshal writes, on strings it copies as they
// are and on strings it escapes.
func TestAppendStringMatchesMarshal(t *testing.T) {
	for _, s := range []string{"", "a", "plain key", "~ok~", "parts", "x<y", "gt>", "amp&", `q"uote`, `back\slash`,
		"tab\t", "nl\n", "é", "\u2028", "\u007f", "\x00", "\xff", "mixed é <b>"} {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		assert.Equal(t, "prefix"+string(want), string(AppendString([]byte("prefix"), s)), "%q", s)
	}
}

// PlainString gives what json.Unmarshal gives, where it gives anything.
func TestPlainStringMatchesUnmarshal(t *testing.T) {
	plain := 0
	for _, raw := range []string{`""`, `"a"`, `"box_1"`, `"   "`, `"é"`, `"a\"b"`, `"a\\b"`, `"\u0041"`, `"\ud800"`,
		"\"\xff\"", "\"\xed\xa0\x80\"", `"it's <ok> & fine"`, `12`, `null`, `[]`} {
		got, ok := PlainString([]byte(raw))
		if !ok {
			continue
		}
		plain++
		var want string
		require.NoError(t, json.Unmarshal([]byte(raw), &want), raw)
		assert.Equal(t, want, got, raw)
	}
	assert.Equal(t, 6, plain, "plain strings among the cases")
}

func TestHelpers(t *testing.T) {
	assert.True(t, IsNull([]byte("null")))
	assert.False(t, IsNull([]byte(" null")))
	assert.False(t, IsNull([]byte(`"null"`)))
	assert.Equal(t, `"a\"\u003c"`, string(AppendString(nil, `a"<`)), "escaped as encoding/json does")
	assert.Equal(t, "short", Abbreviate([]byte("short")))
	for c, want := range map[byte]string{'{': "an object", '[': "an array", '"': "a string", 't': "a boolean", 'f': "a boolean", 'n': "null", '-': "a number", '7': "a number", 0: "nothing"} {
		assert.Equal(t, want, Kind(c), "%q", c)
	}
	assert.EqualError(t, Check([]byte(`{"a":}`)), "at byte 6: invalid character '}' looking for beginning of value")
	_, err := ParseObject([]byte(` [1] `))
	assert.EqualError(t, err, "want an object, got an array")
}

func TestScannerMesh(t *testing.T) {
	m, err := NewScanner([]byte(` {"name":"m","vertices":[[0,0,0],[1,0,0],[0,1,0]],"triangles":[[0,1,2]],"extra":{"a":[1]}} `)).Mesh()
	require.NoError(t, err)
	assert.Equal(t, Mesh{Vertices: [][3]float64{{0, 0, 0}, {1, 0, 0}, {0, 1, 0}}, Triangles: [][3]int64{{0, 1, 2}}}, m)

	m, err = NewScanner([]byte(`{"vertices":[],"triangles":[]}`)).Mesh()
	require.NoError(t, err)
	assert.NotNil(t, m.Vertices)
	assert.NotNil(t, m.Triangles)

	for in, want := range map[string]string{
		`{"triangles":[]}`:                    `missing "vertices"`,
		`{"vertices":[],"triangles":null}`:    `missing "triangles"`,
		`{"vertices":[[1,2]],"triangles":[]}`: "vertices[0]: want 3 coordinates, got 2",
		`[]`:                                  "want an object, got an array",
	} {
		_, err := NewScanner([]byte(in)).Mesh()
		assert.EqualError(t, err, want, in)
	}
}

func TestObjectWithMesh(t *testing.T) {
	in := `[{"mesh":{"vertices":[[1,2]],"triangles":[]},"name":"late"},{"name":"b","mesh":"file.stl"},{"mesh":{"vertices":[[1,2,3]],"triangles":[[0,0,0]]}}]`
	type got struct {
		obj     string
		mesh    Mesh
		meshErr string
	}
	var gots []got
	n, err := NewScanner([]byte(in)).Array(func(i int, s *Scanner) error {
		obj, m, meshErr, err := s.ObjectWithMesh("mesh")
		if err != nil {
			return err
		}
		g := got{obj: string(obj.AppendTo(nil, nil)), mesh: m}
		if meshErr != nil {
			g.meshErr = meshErr.Error()
		}
		gots = append(gots, g)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, `{"mesh":{"vertices":[[1,2]],"triangles":[]},"name":"late"}`, gots[0].obj, "a bad mesh keeps its text and the parse goes on")
	assert.Equal(t, "vertices[0]: want 3 coordinates, got 2", gots[0].meshErr)
	assert.Equal(t, `{"name":"b","mesh":"file.stl"}`, gots[1].obj)
	assert.Empty(t, gots[1].meshErr, "a member that is not an object is left to the caller")
	assert.Equal(t, Mesh{Vertices: [][3]float64{{1, 2, 3}}, Triangles: [][3]int64{{0, 0, 0}}}, gots[2].mesh)

	stop := errors.New("stop")
	_, err = NewScanner([]byte(`[1,2]`)).Array(func(i int, s *Scanner) error { return stop })
	assert.ErrorIs(t, err, stop)
}

func TestParseDocument(t *testing.T) {
	malformed := errors.New("malformed document")
	name := func(i int, s *Scanner) (string, error) {
		o, err := s.Object(nil)
		if err != nil {
			return "", fmt.Errorf("parts[%d]: %w", i, err)
		}
		return o.NonEmptyString("name")
	}
	top, parts, err := ParseDocument([]byte(`{"units":"mm","parts":[{"name":"a"},{"name":"b","x":[1]}],"z":null}`), "parts", malformed, name)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, parts)
	assert.Equal(t, `{"units":"mm","parts":[{"name":"a"},{"name":"b","x":[1]}],"z":null}`, string(top.AppendTo(nil, nil)))

	_, parts, err = ParseDocument([]byte(`{"parts":{"name":"a"}}`), "parts", malformed, name)
	require.NoError(t, err)
	assert.Empty(t, parts, "a key that is not an array is left to the caller")

	// Triangles left as text: checked all the same, copied as they are.
	in := `{"parts":[{"name":"a","mesh":{"vertices":[[0,0,0]],"triangles":[[0,0,0],[0,0,0]]}}]}`
	top, parts, err = ParseDocumentWith([]byte(in), "parts", malformed, ParseOptions{RawTriangles: true}, name)
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, parts)
	assert.Equal(t, in, string(top.AppendTo(nil, nil)))
	_, _, err = ParseDocumentWith([]byte(`{"parts":[{"mesh":{"triangles":[[0,0,0],[0,0,0]}}]}`), "parts", malformed, ParseOptions{RawTriangles: true}, name)
	assert.EqualError(t, err, "malformed document: at byte 48: invalid character '}' after array element")

	for in, want := range map[string]string{
		`{"parts":[}`:            "malformed document: at byte 11: invalid character '}' looking for beginning of value",
		`[1]`:                    "malformed document: top level: want an object, got an array",
		` null `:                 "malformed document: top level: want an object, got null",
		`{"parts":[{"name":1}]}`: "name: want a string, got 1",
		`{"parts":[[]]}`:         "parts[0]: want an object, got an array",
	} {
		_, _, err := ParseDocument([]byte(in), "parts", malformed, name)
		assert.EqualError(t, err, want, in)
		if want[:9] == "malformed" {
			assert.ErrorIs(t, err, malformed, in)
		} else {
			assert.NotErrorIs(t, err, malformed, "an element's error is returned as is")
		}
	}
}

func TestAppendWithArray(t *testing.T) {
	doc, err := ParseObject([]byte(`{"a":1,"parts":[{"x":0}],"b":[2]}`))
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := ParseObject([]byte(`{"x":1}`))
	p2, _ := ParseObject([]byte(`{"y":"z"}`))
	got := string(doc.AppendWithArray(nil, "parts", []*Object{p1, p2}))
	if want := `{"a":1,"parts":[{"x":1},{"y":"z"}],"b":[2]}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// AppendStrings writes what json.Marshal writes for a []string.
func TestAppendStringsMatchesMarshal(t *testing.T) {
	for _, ss := range [][]string{nil, {}, {"a"}, {"a", `b"<`, "é", ""}} {
		want, err := json.Marshal(ss)
		require.NoError(t, err)
		assert.Equal(t, "x"+string(want), string(AppendStrings([]byte("x"), ss)), "%q", ss)
	}
}
