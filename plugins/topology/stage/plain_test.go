package stage

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/sdk/go/docjson"
)

// TestPlainStringMatchesNonEmptyString holds plainString to
// docjson.Object.NonEmptyString wherever it gives a value, and the part
// labels made from such names to %q.
func TestPlainStringMatchesNonEmptyString(t *testing.T) {
	for _, raw := range []string{`"a"`, `"box_1"`, `" x "`, `"   "`, `""`, `"a\"b"`, `"a\\b"`, `"tab\t"`, `"é"`, `"\u0041"`, `"it's <ok> & fine"`, `"~!@#$%^*()"`, `12`, `null`, `"\ud800"`} {
		obj, err := docjson.ParseObject([]byte(`{"k":` + raw + `}`))
		require.NoError(t, err, raw)
		r, _ := obj.Lookup("k")
		got, ok := plainString(r)
		want, err := obj.NonEmptyString("k")
		if ok {
			require.NoError(t, err, raw)
			require.Equal(t, want, got, raw)
			require.Equal(t, fmt.Sprintf("part %q", want), `part "`+got+`"`, raw)
		}
	}
	_, ok := plainString([]byte(`"box_1"`))
	require.True(t, ok)
}
