package bench

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phasehost/phasehost/host/plugin"
	"github.com/phasehost/phasehost/internal/example"
	"github.com/phasehost/phasehost/internal/refplugins"
)

// event is what both runs report of an emit.
type event struct {
	Phase       string
	Done, Total int64
	Message     string
}

// TestWasmMatchesNative holds each reference plugin, compiled to wasm and run
// by the host, to the same bytes of output and the same events as its Go code
// run natively: the plugins' hand-tuned parsing and arithmetic must not
// depend on the target. Each stage's input is the previous one's output, as
// in a pipeline, on examples/bracket.json and on a generated assembly.
func TestWasmMatchesNative(t *testing.T) {
	ctx := context.Background()
	bracket, err := os.ReadFile("../examples/bracket.json")
	require.NoError(t, err)
	generated, err := example.Generate(12, 6)
	require.NoError(t, err)

	e, err := plugin.NewEngine(plugin.Options{Policy: plugin.Policy{MaxMemoryMB: 1024}})
	require.NoError(t, err)
	defer e.Close(ctx)
	mods := refplugins.Modules(t)
	loaded := map[string]*plugin.Plugin{}
	for _, name := range refplugins.Names() {
		loaded[name], err = e.Load(ctx, mods[name])
		require.NoError(t, err)
	}

	for _, input := range []struct {
		name string
		doc  []byte
	}{{"bracket", bracket}, {"generated", generated}} {
		t.Run(input.name, func(t *testing.T) {
			in := input.doc
			for _, name := range refplugins.Names() {
				n := natives[name]
				h := n.phases(in)
				require.Equal(t, int32(0), h.Run(n.stage), "%s native: %s", name, h.Failure())
				var want []event
				for _, ev := range h.Events() {
					want = append(want, event{ev.Phase, ev.Done, ev.Total, ev.Message})
				}

				var got []event
				res, err := loaded[name].Run(ctx, plugin.RunRequest{JobID: "match", Input: in, OnEmit: func(e plugin.Emit) {
					got = append(got, event{e.Phase.Name, e.Done, e.Total, string(e.Message)})
				}})
				require.NoError(t, err, name)
				assert.Equal(t, want, got, "%s: events", name)
				require.True(t, string(h.Output()) == string(res.Output), "%s: wasm output (%d bytes) differs from native (%d bytes)", name, len(res.Output), len(h.Output()))
				in = res.Output
			}
		})
	}
}
