# rohrpost developer tasks; `make help` lists them.
.PHONY: help build run test test-race test-postgres fuzz bench lint fmt sytest

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

test-race: ## every package with the race detector, SQLite only
	go test -race ./...

test-postgres: ## every package against a throwaway PostgreSQL
	@uri=$$(./scripts/postgres.sh start $(PG_DIR)); ROHRPOST_TEST_POSTGRES=$$uri go test -count=1 ./...; rc=$$?; ./scripts/postgres.sh stop $(PG_DIR); exit $$rc

fuzz: ## run each fuzz target for 30 seconds
	go test -run '^$$' -fuzz FuzzParseToken -fuzztime 30s ./syncapi/
	go test -run '^$$' -fuzz FuzzParseFilter -fuzztime 30s ./syncapi/
	go test -run '^$$' -fuzz FuzzUnmarshal -fuzztime 30s ./internal/mxhttp/
	go test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./config/
	go test -run '^$$' -fuzz FuzzValidateLocalpart -fuzztime 30s ./userapi/

bench: ## load test a fresh server: send throughput, sync delivery latency, memory
	./scripts/bench.sh

lint: ## go vet and gofmt
	go vet ./...
	@test -z "$$(gofmt -l .)" || (gofmt -l .; exit 1)

fmt: ## format the code
	gofmt -w .

sytest: build ## run SyTest against ./bin/rohrpost (needs a SyTest checkout in $(SYTEST))
	../shared/sytest/run.sh --sytest $(SYTEST) --out /tmp/sytest-out --rohrpost $(CURDIR)/bin/rohrpost
