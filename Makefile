# wgbpfd — see README.md. Every target here does real work.
GO       ?= go
BIN      := bin/wgbpfd
PREFIX   ?= /usr/local
# Root-only tests fail (never skip) under CI=true; see internal/testenv.
TESTFLAGS ?= -count=1 -timeout 15m

.PHONY: all build test test-unit lint generate check-generate fuzz install clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/wgbpfd

# Everything: unit tests (no root), BPF tests and namespace tests (root).
test: lint
	$(GO) test $(TESTFLAGS) -p 1 ./...

# Unit tests that need neither root nor BPF.
test-unit:
	$(GO) test -count=1 ./config/... ./handshake/... ./keystore/...

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Rebuild the BPF objects (clang-19) and their Go bindings.
generate:
	$(GO) generate ./dataplane/...

# Proves the committed objects come from the committed sources.
check-generate: generate
	@git diff --exit-code --stat -- dataplane/ || \
	  (echo "committed BPF objects differ from a fresh 'make generate'"; exit 1)

# Brief fuzzing of every parser (seed corpora live in testdata/fuzz).
FUZZTIME ?= 10s
fuzz:
	$(GO) test ./config -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/wgbpfd

clean:
	rm -rf bin results
