module github.com/phasehost/phasehost/sdk/go

go 1.26
