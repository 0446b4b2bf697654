module github.com/phasehost/phasehost/plugins/assembly4

go 1.26

require github.com/phasehost/phasehost/sdk/go v0.0.0

require (
	github.com/stretchr/testify v1.12.1
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)

replace github.com/phasehost/phasehost/sdk/go => ../../sdk/go
