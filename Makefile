# rohrpost developer tasks; `make help` lists them.
.PHONY: help build run test test-race test-postgres test-services fuzz bench lint fmt sytest

PG_DIR ?= /tmp/rohrpost-pg
SYTEST ?= /tmp/sytest

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build the server and the load tool into ./bin
	go build -o bin/rohrpost ./cmd/rohrpost
	go build -o bin/rohrpost-load ./cmd/rohrpost-load

run: ## run the server on its embedded defaults
	go run ./cmd/rohrpost

test: ## the whole suite, as CI runs it (SQLite, then PostgreSQL)
	./scripts/test.sh

# As CI (scripts/test.sh): -tags goolm builds mautrix's pure-Go Olm, which
# the end-to-end encryption tests need; without it they are left out.
TAGS ?= goolm
FUZZTIME ?= 30s
STATICCHECK_VERSION ?= v0.8.2

test-race: ## every package with the race detector, SQLite only
	go test -race -tags $(TAGS) ./...

test-postgres: ## every package against a throwaway PostgreSQL
	@uri=$$(./scripts/postgres.sh start $(PG_DIR)); ROHRPOST_TEST_POSTGRES=$$uri go test -tags $(TAGS) -count=1 ./...; rc=$$?; ./scripts/postgres.sh stop $(PG_DIR); exit $$rc

test-services: ## the separate-services tests: a whole deployment by scripts/services.sh (deploy/rohrpost.yaml)
	ROHRPOST_TEST_SERVICES=1 go test -tags $(TAGS) -count=1 -run 'TestServices' ./cmd/rohrpost/

fuzz: ## run every fuzz target (each func Fuzz* in a _test.go) for FUZZTIME (30s) each
	@set -e; grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do \
		dir=$$(dirname "$$f"); \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f"); do \
			echo "== $$fn in $$dir"; \
			go test -tags $(TAGS) -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) "$$dir/"; \
		done; \
	done

bench: ## load test a fresh server: send throughput, sync delivery latency, memory
	./scripts/bench.sh

lint: ## go vet, staticcheck (installed at the version CI uses) and gofmt
	go vet -tags $(TAGS) ./...
	go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	bin=$$(go env GOBIN); "$${bin:-$$(go env GOPATH)/bin}/staticcheck" -tags $(TAGS) ./...
	@test -z "$$(gofmt -l .)" || (gofmt -l .; exit 1)

fmt: ## format the code
	gofmt -w .

sytest: build ## run SyTest against ./bin/rohrpost (needs a SyTest checkout in $(SYTEST))
	../shared/sytest/run.sh --sytest $(SYTEST) --out /tmp/sytest-out --rohrpost $(CURDIR)/bin/rohrpost
