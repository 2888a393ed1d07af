# netlab: `make run` runs the scenario suite and writes reports/out;
# `make test` runs vet and every test. Both install what is missing first.

GO       ?= go
BIN      := $(CURDIR)/bin
OUT      := $(CURDIR)/reports/out
# Test binaries run in a loopback-only network namespace where one can be
# made (README, "Two commands"); the script warns and runs them as they are
# where it cannot.
NETNS    := $(CURDIR)/scripts/loopback-only
FUZZTIME ?= 10s
# go test's default 10 min limit is too tight for the scenario suite under
# the race detector (its real-time Chrome families alone take minutes).
TESTTIMEOUT ?= 30m
BENCHTIME ?= 1s
STATICCHECK_VERSION := v0.8.2

export GOFLAGS := -buildvcs=false

.PHONY: all gomod deps test vet run bench fuzz lint clean

all: test

# Go and its modules: all that vet, lint and fuzz need.
gomod:
	@command -v $(GO) >/dev/null || { echo "netlab: Go is not installed (want Go 1.26: https://go.dev/dl/)"; exit 1; }
	$(GO) mod download

# What the tests need beyond Go, from Debian when missing: chromium (the
# Chrome endpoints' browser, at /usr/bin/chromium), a C compiler (go test
# -race needs cgo, and Go turns cgo off without one) and iproute2 (the
# loopback-only namespace, scripts/loopback-only). Installed with apt-get
# as root; otherwise a message says what to run. Without iproute2 the
# tests still run, outside a namespace, with a warning.
CHROMIUM := /usr/bin/chromium
deps: gomod
	@need=""; \
	[ -x $(CHROMIUM) ] || need="$$need chromium"; \
	command -v "$$($(GO) env CC)" >/dev/null 2>&1 || need="$$need gcc libc6-dev"; \
	want="$$need"; command -v ip >/dev/null 2>&1 || want="$$want iproute2"; \
	[ -n "$$want" ] || exit 0; \
	if [ "$$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then \
		[ -z "$$need" ] && { echo "netlab: warning: iproute2 is missing: tests run outside the loopback-only namespace"; exit 0; }; \
		echo "netlab: missing:$$need (chromium: the Chrome endpoints; gcc: go test -race)"; \
		echo "  install Debian's packages as root: apt-get update && apt-get install -y --no-install-recommends$$want"; \
		echo "  (or run 'make deps' as root; elsewhere: Chromium at $(CHROMIUM) and a C compiler)"; \
		exit 1; \
	fi; \
	echo "netlab: installing Debian's$$want"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update && apt-get install -y --no-install-recommends $$want || exit 1; \
	[ -x $(CHROMIUM) ] || { echo "netlab: apt-get installed chromium but $(CHROMIUM) is still missing"; exit 1; }

vet: gomod
	$(GO) vet ./...

# Every test, the scenario suite included, with the race detector; the
# TestStat* tests (millions of packets through one goroutine, nothing for
# the race detector to find) are skipped there and run once without it,
# ten times faster.
# The scenario suite runs on its own, after the other packages: its
# real-time specs (Chrome, the virtual/real agreement sample) hold the
# wall clock to bounds, and go test would otherwise run it beside another
# package's tests on the machine's two cores.
test: deps vet
	$(GO) test -race -count=1 -timeout $(TESTTIMEOUT) -skip '^TestStat' -exec $(NETNS) $$($(GO) list ./... | grep -v '/scenarios$$')
	$(GO) test -race -count=1 -timeout $(TESTTIMEOUT) -skip '^TestStat' -exec $(NETNS) ./scenarios
	$(GO) test -count=1 -run '^TestStat' -exec $(NETNS) ./...

# The main job: the scenario suite, writing run.json and the JUnit report.
run: deps
	mkdir -p $(OUT)
	$(GO) test -count=1 -timeout $(TESTTIMEOUT) -exec $(NETNS) ./scenarios -run TestScenarios -args \
		-netlab.out=$(OUT) -ginkgo.junit-report=$(OUT)/junit.xml

# Benchmarks (figures in README.md); the proxy benchmarks do a fixed
# workload per iteration and report their own figures.
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime=$(BENCHTIME) -count=1 -exec $(NETNS) ./...
	@# The virtual-time speedup per family: the go-go suite once, without
	@# the race detector, and its speedup table.
	mkdir -p $(OUT)/bench
	$(GO) test -count=1 -timeout $(TESTTIMEOUT) -exec $(NETNS) ./scenarios -run TestScenarios -args \
		-ginkgo.label-filter=go-go -netlab.out=$(OUT)/bench
	@awk '/Virtual-time speedup/{p=1} p&&/^#/&&!/Virtual-time speedup/{exit} p' $(OUT)/bench/summary.md

# Each fuzz target (package:target) for FUZZTIME.
FUZZ_TARGETS := netem:FuzzParseProfileYAML netem:FuzzParseProfileJSON netem:FuzzShaper \
	peer/signaling:FuzzDecode peer/signaling:FuzzSSEReader reports:FuzzRead
fuzz: gomod
	@set -e; for pt in $(FUZZ_TARGETS); do \
		p=$${pt%%:*}; t=$${pt#*:}; \
		echo "== $$p $$t"; \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -exec $(NETNS) ./$$p; \
	done

# staticcheck at its pin, in ./bin: installed when missing or of another
# version (it prints "staticcheck 2026.2.2 (0.8.2)").
lint: vet
	@case "$$($(BIN)/staticcheck -version 2>/dev/null)" in \
		*"($(STATICCHECK_VERSION:v%=%))") ;; \
		*) echo "GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)"; \
		   GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) || exit 1;; \
	esac
	$(BIN)/staticcheck ./...

clean:
	rm -rf $(OUT) $(BIN)
