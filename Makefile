# wgbpfd — see README.md. Every target here does real work.
GO       ?= go
BIN      := bin/wgbpfd
PREFIX   ?= /usr/local
# Root-only tests fail (never skip) under CI=true; see internal/testenv.
TESTFLAGS ?= -count=1 -timeout 15m

# bench-crypto: ns per packet and MB/s of each suite in BPF (BPF_PROG_TEST_RUN),
# beside keystore's Go suites and the bare bpf_crypto cbc(aes) cipher.
.PHONY: all build deps demo bench bench-crypto bench-restart bench-tunnel test test-unit lint generate check-generate fuzz install clean examples vmtest module checkpatch

all: build

# The version wgbpfd reports (--version, the start-up log): the commit.
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/wgbpfd

# Debian packages the tests and the demo use (clang-19, bpftool, iproute2,
# iperf3, wireguard-tools); a no-op when they are installed.
deps:
	bash scripts/deps.sh

# Two namespaces, two daemons, ping, a transfer, `wg show`, drop counters.
demo: deps build
	bash scripts/demo.sh

# Everything: unit tests (no root), BPF tests and namespace tests (root).
test: lint
	$(GO) test $(TESTFLAGS) -p 1 ./...

# Unit tests that need neither root nor BPF.
test-unit:
	$(GO) test -count=1 ./config/... ./handshake/... ./keystore/... ./timers/... ./daemon/...

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Rebuild the BPF objects (clang-19) and their Go bindings: the daemon's
# (bpf/wgbpfd.c) and the tests' (bpf/wgbpfd_test.c).
generate:
	$(GO) generate ./dataplane/...

# Proves the committed objects (the daemon's and the tests') come from the
# committed sources; an output that is not committed at all counts too.
check-generate: generate
	@git diff --exit-code --stat -- dataplane/ || \
	  (echo "committed BPF objects differ from a fresh 'make generate'"; exit 1)
	@out="$$(git status --porcelain --untracked-files=all -- dataplane/)"; \
	if [ -n "$$out" ]; then echo "$$out"; echo "'make generate' wrote files that are not committed"; exit 1; fi

# bench: plain veth, wgbpfd (both suites) and wireguard-go side by side in one
# run; a markdown table and a PNG chart in results/.
bench: deps
	$(GO) run ./bench -out results

# bench-tunnel: the kernel tunnel alone (keys installed by hand, no daemon)
# against plain veth: iperf3 TCP 1 and 4 streams, ping RTT.
bench-tunnel: deps
	$(GO) test ./dataplane -run '^$$' -bench Tunnel -benchtime 1x -v

# examples: the policy examples (examples/*.c, docs/policy.md) as BPF objects
# in bin/examples, and flowtop. steering.c needs its two exits' public keys
# as C byte lists: make examples PEER_A='{0x12,...}' PEER_B='{...}' (zero
# keys by default: it builds, but steers nothing).
BPF_CC      ?= clang-19
BPF_CFLAGS  := -O2 -g -target bpf -mcpu=v3 -Wall -Werror -Iinclude \
               -I/usr/include/$(shell uname -m)-linux-gnu
PEER_A      ?= {0}
PEER_B      ?= {0}
EXAMPLES    := $(patsubst examples/%.c,bin/examples/%.o,$(wildcard examples/*.c))

examples: $(EXAMPLES)
	$(GO) build -o bin/flowtop ./examples/flowtop

bin/examples/%.o: examples/%.c include/wgbpfd/policy.h
	@mkdir -p $(@D)
	$(BPF_CC) $(BPF_CFLAGS) -DPEER_A='$(PEER_A)' -DPEER_B='$(PEER_B)' -c $< -o $@

bench-crypto:
	$(GO) test ./dataplane -run '^$$' -bench Crypto -benchtime 20000x

# bench-restart: pings lost and the longest gap of a ping every 10 ms across
# kill -9 + restart, a planned restart (SIGUSR2), an upgrade to a new binary,
# an upgrade to another map layout (a clean restart), and wireguard-go's
# kill -9 + restart. Root; the namespace tests that measure it, summarised.
bench-restart:
	CI=true $(GO) test ./test $(TESTFLAGS) -p 1 -v \
		-run 'TestCrashKeepsForwarding|TestPlannedRestartAndUpgrade|TestRestartLossWireguardGo' \
		| grep -E 'pings every 10 ms|^(--- |ok|FAIL)'

# Brief fuzzing of every parser (seed corpora live in testdata/fuzz). The
# budget is a count of runs, not a duration: with a duration, Go 1.26's fuzz
# coordinator can report "context deadline exceeded" as a failure when the
# time runs out mid-run (golang/go#75804, fixed in Go 1.27), and a count has
# no deadline to race.
FUZZTIME ?= 40000x
fuzz:
	$(GO) test ./config -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./handshake -run '^$$' -fuzz '^FuzzConsume$$' -fuzztime $(FUZZTIME)
	$(GO) test ./keystore -run '^$$' -fuzz '^FuzzOpenPayload$$' -fuzztime $(FUZZTIME)
	$(GO) test ./uapi -run '^$$' -fuzz '^FuzzParseSet$$' -fuzztime $(FUZZTIME)

# The bpf_crypto "aead" module (kernel/bpf_crypto_aead) for a kernel tree:
#   make module KDIR=/usr/src/linux-headers-6.12.118+deb12-cloud-amd64
module:
	$(MAKE) -C kernel/bpf_crypto_aead $(if $(KDIR),KDIR=$(KDIR))

# checkpatch.pl on the kernel C and the upstream patches (from Debian's
# linux-source-6.12, unpacked once into a cache).
checkpatch:
	bash scripts/checkpatch.sh

# The tests on Debian's 6.12 LTS kernel under QEMU, with and without the
# aead module (root; installs the kernel, headers and QEMU from apt once).
vmtest:
	bash scripts/vmtest.sh

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/wgbpfd
	install -D -m 0644 dist/wgbpfd@.service $(DESTDIR)/etc/systemd/system/wgbpfd@.service

clean:
	rm -rf bin results
