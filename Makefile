# umc-invite: a Fluent Bit output plugin (Go, c-shared) sending UMC invitations.
GO       ?= go
PLUGIN   := build/out_umc_invite.so
CMD      := build/umc-invite
GOFILES  := $(shell find . -name '*.go' -not -path './build/*')
# HTTP/1.1 only: the calls take Concurrency connections, UMC's Apache speaks
# it, and the library is 0.6 MB smaller. TAGS='nethttpomithttp2 pprof' builds
# in the profiler of docs/performance.md.
TAGS     ?= nethttpomithttp2
# Stripped, relocations packed where this host can (plugin/ldflags.sh).
PLUGIN_LDFLAGS := $(shell sh plugin/ldflags.sh)

.PHONY: build test fuzz run lint bench bench-e2e e2e image image-test clean manifests helm

build: $(PLUGIN) $(CMD)

$(PLUGIN): $(GOFILES) go.mod go.sum
	CGO_ENABLED=1 $(GO) build -tags '$(TAGS)' -buildmode=c-shared -trimpath -ldflags='$(PLUGIN_LDFLAGS)' -o $@ ./plugin

# The operator's command, static (the runtime image is distroless, and it
# needs no C): check, probe, dead-letters, requeue.
$(CMD): $(GOFILES) go.mod go.sum
	CGO_ENABLED=0 $(GO) build -tags '$(TAGS)' -trimpath -ldflags='-s -w' -o $@ ./cmd/umc-invite

# go vet, the unit tests of every package with the race detector, and one
# end-to-end test of each kind (E2E_SMOKE: delivery, refusal, outage, crash,
# hostile queue, two processes on one queue) with the real fluent-bit; a
# few minutes in all. The end-to-end tests skip themselves without a
# fluent-bit binary (FLUENT_BIT or PATH). `make e2e` runs all of them.
# UMC_INVITE_DEFECTS=1 also runs tests of known defects. The alert rules
# (promtool test rules, skipped without promtool) and the dashboard's
# queries are checked against the rendered chart here too (CHART_RULES).
CHART_RULES := ^(TestAlert|TestEveryAlert|TestPromQL|TestDashboard)
E2E_SMOKE := ^(TestShippedConfigDeliversEveryQueueFile|TestLoneRefusedUserEndsAsRefusal|TestOutageForEveryoneChargesNoOne|TestKillDuringBulkLosesNothing|TestHostileQueueAndIntake|TestTwoFluentBitsOnOneQueueInviteOnce)$$
test:
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 10m $$($(GO) list ./... | grep -v '/tests/e2e$$')
	$(GO) test -count=1 -timeout 10m -run '$(E2E_SMOKE)' ./tests/e2e/
	$(GO) -C tests/helm test -count=1 -run '$(CHART_RULES)' .

# Each fuzz target briefly, from its seed corpus in testdata/fuzz/ on; a
# failing input is written there, and only a finding fails the run
# (tests/fuzz.sh says why). FUZZTIME=2m for a longer run.
FUZZTIME ?= 5s
FUZZ     := ./plugin/chunkdec:FuzzDecode \
            ./umc/config:FuzzLoad ./umc/config:FuzzLoadTOML ./umc/config:FuzzTOMLPasswordNeverInErrors \
            ./umc/record:FuzzUsername
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) tests/fuzz.sh $(FUZZ)

# The main job on an embedded default: a local UMC stand-in, a few queue
# files, the shipped fluent-bit.conf (or the C test host without fluent-bit).
run: build
	$(GO) run ./tests/localrun -plugin $(PLUGIN) -config fluent-bit.conf

lint:
	@test -z "$$(gofmt -l $(GOFILES))" || { gofmt -l $(GOFILES); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	staticcheck ./...
	$(GO) -C tests/helm vet ./...
	cd tests/helm && staticcheck ./...

# Go benchmarks: a flush of 100 records against a loopback UMC stand-in
# answering at once (BENCH; each level between slashes is matched on its
# own, and anchored, or records=1 would match records=100 and 10000), then
# the plugin's own work per record and one send_token call.
BENCH ?= ^BenchmarkFlush$$/^latency=0s$$/^records=100$$/^concurrency=(1|4)$$
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count 4 -benchtime 30x ./umc/invite/
	$(GO) test -run '^$$' -bench '^BenchmarkOverhead$$' -benchmem -count 2 -benchtime 3x ./umc/invite/
	$(GO) test -run '^$$' -bench '^BenchmarkSendToken$$' -benchmem -count 2 -benchtime 2000x ./umc/
	$(GO) test -run '^$$' -bench '^BenchmarkBacklogFlush$$' -count 2 -benchtime 3x ./umc/invite/

# End-to-end figures with a real fluent-bit (skipped without one), first
# the footprint: peak RSS and CPU of Fluent Bit with its null output (no
# Go plugin loaded), with an empty Go output (tests/floor) and with the
# plugin, side by side, the median of UMC_INVITE_ROUNDS rounds (5).
# BENCH_E2E picks some of them: make bench-e2e BENCH_E2E=TestFootprintFigures
BENCH_E2E ?= TestFootprintFigures|TestBulkLatency|TestIdleCPU|TestBacklogFigures|TestRateLimitFigures|TestBigImportFigures|TestOutageFigures
bench-e2e: build
	UMC_INVITE_BENCH=1 $(GO) test -count=1 -timeout 60m -run '^($(BENCH_E2E))$$' -v ./tests/e2e/

# The full end-to-end suite with the real fluent-bit, run by CI after
# `make test`. Most tests wait (for retries, an outage's end) and run side
# by side (-parallel 4); those that measure time or memory run alone first.
e2e: build
	$(GO) test -count=1 -timeout 30m -parallel 4 -v ./tests/e2e/

# The image on the official bases (the Dockerfile's defaults, pinned by
# digest), labelled with this checkout's version and revision.
DOCKER   ?= docker
IMAGE    ?= umc-invite:latest
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
image:
	$(DOCKER) build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t $(IMAGE) .

# The image built with podman on local stand-in bases (../shared/images)
# and run as the chart and `docker run` run it; as root only, else it
# says so and skips (tests/image/run.sh).
image-test:
	tests/image/run.sh

clean:
	rm -f build/out_umc_invite.so build/out_umc_invite.h $(CMD)

# build/kubernetes/*.yaml from the Helm chart (Helm's Go packages, no helm
# binary); tests/helm keeps them in sync.
manifests:
	$(GO) -C tests/helm run ./cmd/render -manifests

# The chart: helm lint, helm template of every values set decoded strictly
# into the Kubernetes types, the manifests in sync, the config checked.
helm:
	$(GO) -C tests/helm vet ./...
	$(GO) -C tests/helm test -count=1 ./...
