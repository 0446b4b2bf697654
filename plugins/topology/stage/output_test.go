package stage

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/sdk/go/docjson"
)

// TestAppendWithArrayMatchesDocjson holds the output writer to docjson's
// Object.AppendWithArray, byte for byte, on keys that encoding/json
// escapes and keys it does not.
func TestAppendWithArrayMatchesDocjson(t *testing.T) {
	top, err := docjson.ParseObject([]byte(`{"a":1,"parts":[],"x<y":true,"q\"uote":"v","back\\slash":null,"tab\t":2,"é":3,"amp&":4,"gt>":5,"\u2028":6,"\u007f":7,"~ok~":[1,2]}`))
	require.NoError(t, err)
	var elems []*docjson.Object
	for _, raw := range []string{`{}`, `{"name":"p","mesh":{"vertices":[]},"<k>":0}`, `{"\u00e9t\u00e9":"x","plain":{"a":[1]}}`} {
		o, err := docjson.ParseObject([]byte(raw))
		require.NoError(t, err)
		o.Set("topology", []byte(`{"hash":"h"}`))
		elems = append(elems, o)
	}
	want := top.AppendWithArray([]byte("prefix"), "parts", elems)
	got := appendWithArray([]byte("prefix"), top, "parts", elems)
	require.Equal(t, string(want), string(got))
}
