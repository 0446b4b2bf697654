package stage

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAppendReportMatchesMarshal holds the report writer to json.Marshal,
// byte for byte.
func TestAppendReportMatchesMarshal(t *testing.T) {
	for _, r := range []report{
		{},
		{Hash: "61db1900819da6f7", Vertices: 8, Edges: 18, Faces: 12, Components: 1, EulerCharacteristic: 2, Genus: intp(0), Watertight: true, ConsistentlyOriented: true, Problems: []string{}, ExportOK: true},
		{Hash: "x", Vertices: -3, EulerCharacteristic: -40, Genus: intp(-2), DegenerateFaces: 7, Problems: []string{"plain", `quote " and \ back`, "<html> & more", "tab\tnew\nline", "é ü", "\u2028", "bad \xff utf-8", "ctl \x01"}},
	} {
		want, err := json.Marshal(r)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendReport(nil, &r)))
	}
}
