# umc-invite: a Fluent Bit output plugin (Go, c-shared) sending UMC invitations.
GO       ?= go
PLUGIN   := build/out_umc_invite.so
GOFILES  := $(shell find . -name '*.go' -not -path './build/*')

.PHONY: build test run lint bench bench-e2e e2e image clean

build: $(PLUGIN)

$(PLUGIN): $(GOFILES) go.mod go.sum
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -trimpath -ldflags='-s -w' -o $@ ./plugin

# go vet and every test with the race detector; the end-to-end tests skip
# themselves without a fluent-bit binary (FLUENT_BIT or PATH). They wait
# out outages longer than a chunk's retries (about 2 minutes in all), hence
# the longer timeout. UMC_INVITE_DEFECTS=1 also runs tests of known defects.
test:
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

# The main job on an embedded default: a local UMC stand-in, a few queue
# files, the shipped fluent-bit.conf (or the C test host without fluent-bit).
run: build
	$(GO) run ./tests/localrun -plugin $(PLUGIN) -config fluent-bit.conf

lint:
	@test -z "$$(gofmt -l $(GOFILES))" || { gofmt -l $(GOFILES); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	staticcheck ./...

# Go benchmarks of the flush path against a loopback UMC stand-in.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x ./umc/invite/

# End-to-end figures with a real fluent-bit (skipped without one).
bench-e2e: build
	UMC_INVITE_BENCH=1 $(GO) test -count=1 -run 'TestBulkLatency|TestIdleCPU' -v ./tests/e2e/

e2e: build
	$(GO) test -count=1 -timeout 20m -v ./tests/e2e/

image:
	docker build -t umc-invite:latest .

clean:
	rm -f build/out_umc_invite.so build/out_umc_invite.h
