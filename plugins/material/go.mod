module github.com/phasehost/phasehost/plugins/material

go 1.26

require github.com/phasehost/phasehost/sdk/go v0.0.0

replace github.com/phasehost/phasehost/sdk/go => ../../sdk/go
