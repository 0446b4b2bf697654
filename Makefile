# Phasehost build. `make run` and `make test` are the two commands a new
# machine needs; both build everything first.

GO        ?= go
PLUGINS   := assembly4 material topology
PKGS      := ./... ./sdk/go/... $(addsuffix /...,$(addprefix ./plugins/,$(PLUGINS)))
ADDR      ?= 127.0.0.1:8080
BENCHTIME ?= 3x
GOFLAGS_WASM := GOOS=wasip1 GOARCH=wasm

export GOTOOLCHAIN := local

.PHONY: all build plugins deps test test-race lint gen gen-check bench bench-stages run testdata clean help

all: build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: bin/phasectl bin/phasehost plugins ## build bin/phasehost, bin/phasectl and bin/plugins/*.wasm

bin/phasectl: FORCE
	$(GO) build -o $@ ./cmd/phasectl

bin/phasehost: FORCE
	$(GO) build -o $@ ./cmd/phasehost

# Each reference plugin: a wasip1 reactor module, then its manifest packed in
# (pack also validates it exactly as the server will).
plugins: bin/phasectl $(addprefix bin/plugins/,$(addsuffix .wasm,$(PLUGINS)))

bin/plugins/%.wasm: FORCE bin/phasectl
	@mkdir -p bin/raw bin/plugins
	cd plugins/$* && $(GOFLAGS_WASM) $(GO) build -buildmode=c-shared -trimpath -o ../../bin/raw/$*.wasm .
	bin/phasectl plugin pack --manifest plugins/$*/plugin.yaml --module bin/raw/$*.wasm -o $@

gen: bin/phasectl ## regenerate the reference plugins' phase constants
	for p in $(PLUGINS); do bin/phasectl plugin gen --manifest plugins/$$p/plugin.yaml -o plugins/$$p/phases/phases_gen.go || exit 1; done

gen-check: bin/phasectl
	@for p in $(PLUGINS); do \
		bin/phasectl plugin gen --manifest plugins/$$p/plugin.yaml -o - | diff -u plugins/$$p/phases/phases_gen.go - \
		|| { echo "plugins/$$p/phases/phases_gen.go is stale: run make gen"; exit 1; }; done

lint: ## gofmt and go vet, every module, native and wasip1
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet $(PKGS)
	$(GOFLAGS_WASM) $(GO) vet ./sdk/go/... $(addsuffix /...,$(addprefix ./plugins/,$(PLUGINS)))

# Tests start their own redis-server on a free port and drive the dashboard in
# headless Chromium; these install them when missing (as root with apt-get) or
# say the exact install line.
deps:
	@scripts/ensure-redis.sh
	@scripts/ensure-chromium.sh

test: deps build lint gen-check ## build everything, then run every test (with -race for the host)
	$(GO) test -count=1 $(PKGS)
	$(GO) test -count=1 -race ./host/...

bench: build ## benchmarks; figures go to BENCHMARKS.md
	$(GO) test -run '^$$' -bench . -benchmem ./host/plugin/ | tee bin/bench.txt
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 60m ./bench/ | tee -a bin/bench.txt

# wazero's CLI runs Go test binaries built for wasip1 (go test -exec), so the
# plugins' own benchmarks can be compared native against wasm, function by
# function. sdk/PERFORMANCE.md explains what is slow in Go's wasm and why.
bin/wazero: FORCE
	$(GO) build -o $@ github.com/tetratelabs/wazero/cmd/wazero

WASM_EXEC = $(CURDIR)/bin/wazero run -mount /:/ -env-inherit

# 2s, not 1s: a stage's first wasm run also grows the guest heap from nothing,
# and at 1s a benchmark of a second-long stage reports only that run.
bench-stages: bin/wazero ## Go's wasm costs and the plugins' own benchmarks, native then under wasm
	@for m in sdk/go/internal/wasmcost sdk/go/docjson $(addprefix plugins/,$(PLUGINS)); do \
		echo "== $$m native"; (cd $$m && $(GO) test -run '^$$' -bench . -benchtime 2s ./...) || exit 1; \
		echo "== $$m wasm"; (cd $$m && $(GOFLAGS_WASM) $(GO) test -exec '$(WASM_EXEC)' -run '^$$' -bench . -benchtime 2s ./...) || exit 1; \
	done

run: build ## start phasehost on $(ADDR) with the memory engine and the reference plugins
	bin/phasehost --addr $(ADDR) --plugins bin/plugins --cache-dir .cache/wazero

# The hand-written test modules are committed; rebuilding them needs wabt,
# clang, lld and wasi-libc (apt-get install -y wabt clang lld wasi-libc).
testdata:
	testdata/modules/build.sh

clean:
	rm -rf bin

FORCE:
