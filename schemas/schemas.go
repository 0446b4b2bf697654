// Package schemas embeds the JSON Schemas of Phasehost's documents: the plugin
// manifest, the job event and the job state. The files beside this one are the
// published form; tests validate real output against them.
package schemas

import _ "embed"

//go:embed manifest.schema.json
var manifest []byte

// Manifest returns schemas/manifest.schema.json.
func Manifest() []byte { return append([]byte(nil), manifest...) }

//go:embed event.schema.json
var event []byte

// Event returns schemas/event.schema.json.
func Event() []byte { return append([]byte(nil), event...) }

//go:embed job.schema.json
var job []byte

// Job returns schemas/job.schema.json.
func Job() []byte { return append([]byte(nil), job...) }
