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

.PHONY: all deps test vet run bench fuzz lint clean

all: test

# Go modules, and Debian's chromium (the Chrome endpoints' browser) when
# /usr/bin/chromium is missing: installed with apt-get as root, otherwise a
# message saying what to run.
CHROMIUM := /usr/bin/chromium
deps:
	@command -v $(GO) >/dev/null || { echo "netlab: Go is not installed (want Go 1.26: https://go.dev/dl/)"; exit 1; }
	$(GO) mod download
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" -ne 0 ]; then \
			echo "netlab: $(CHROMIUM) is missing; install Debian's chromium as root:"; \
			echo "  apt-get update && apt-get install -y --no-install-recommends chromium"; \
			echo "(or run 'make deps' as root)"; \
			exit 1; \
		fi; \
		command -v apt-get >/dev/null || { echo "netlab: $(CHROMIUM) is missing and there is no apt-get: install Chromium at $(CHROMIUM) (Debian package chromium)"; exit 1; }; \
		echo "netlab: installing Debian's chromium"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update && apt-get install -y --no-install-recommends chromium || exit 1; \
		[ -x $(CHROMIUM) ] || { echo "netlab: apt-get installed chromium but $(CHROMIUM) is still missing"; exit 1; }; \
	fi

vet: deps
	$(GO) vet ./...

# Every test, the scenario suite included, with the race detector; the
# TestStat* tests (millions of packets through one goroutine, nothing for
# the race detector to find) are skipped there and run once without it,
# ten times faster.
# The scenario suite runs on its own, after the other packages: its
# real-time specs (Chrome, the virtual/real agreement sample) hold the
# wall clock to bounds, and go test would otherwise run it beside another
# package's tests on the machine's two cores.
test: vet
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
fuzz: deps
	@set -e; for pt in $(FUZZ_TARGETS); do \
		p=$${pt%%:*}; t=$${pt#*:}; \
		echo "== $$p $$t"; \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./$$p; \
	done

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: vet $(BIN)/staticcheck
	$(BIN)/staticcheck ./...

clean:
	rm -rf $(OUT) $(BIN)
