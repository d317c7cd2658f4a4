# Stevedore: the two commands a newcomer needs are `make dev` and `make test`.
SWIFT ?= swift
SHELL := /bin/bash
BIN := .build/debug

.PHONY: build deps dev test test-deps unit integration bench release fuzz clean

# SwiftPM can fail to emit ArgumentParser's module when it builds it for argument-parser's plugin
# tools and for our targets at the same time ("emit-module command failed", no diagnostic);
# building that module alone first avoids the race.
build:
	$(SWIFT) build --target ArgumentParser
	$(SWIFT) build

# Installs what building and a local cluster need (libraries, a Docker engine), asking for root
# only when not root; then a local control plane with state under ./.ecsd-dev (Ctrl-C stops it).
dev: deps build
	$(BIN)/ecsd --dev

deps:
	scripts/install-build-deps.sh

# Installs test prerequisites (apt packages, aws CLI, boto3, a Docker engine), then runs every test.
test: test-deps
	$(SWIFT) build --target ArgumentParser
	$(SWIFT) build --build-tests
	$(SWIFT) test
	STEVEDORE_ALLOW_DOCKERD_RESTART=1 python3 -m pytest -q Tests/integration
	$(MAKE) fuzz

test-deps:
	scripts/install-test-deps.sh

unit:
	$(SWIFT) test

integration: build
	python3 -m pytest -q Tests/integration

# Packed relative relocations (DT_RELR, glibc 2.36 and newer) shrink the static binaries'
# relocation table, which every start reads whole: the agent's idle memory drops by ~2 MiB.
RELR := $(shell ldd --version 2>/dev/null | awk 'NR == 1 { split($$NF, v, "."); if (v[1] > 2 || (v[1] == 2 && v[2] >= 36)) print "-Xlinker -z -Xlinker pack-relative-relocs" }')

release:
	$(SWIFT) build -c release --static-swift-stdlib $(RELR)

# Benchmarks print figures and ratios against baselines measured in the same run.
bench: release
	.build/release/stevedore-bench api
	.build/release/stevedore-bench placement
	.build/release/stevedore-bench runtask
	.build/release/stevedore-bench agent
	.build/release/stevedore-bench functions
	.build/release/stevedore-bench scaling
	.build/release/stevedore-bench console

# libFuzzer over every wire decoder (Sources/FuzzSurface) from the committed corpus
# (Fuzz/corpus/<target>). By default each target runs FUZZ_RUNS inputs from a fixed seed, so a
# run is the same on every machine and CI is green exactly when it was green here; explore with
# e.g. `make fuzz FUZZ_SEED=0 FUZZ_RUNS=-1 FUZZ_SECONDS=600` (a random seed, bounded by time).
# Any crash, hang (over 10 s on one input) or memory error fails it, leaving the input in Fuzz/.build/.
FUZZ_SEED ?= 1
FUZZ_RUNS ?= 40000
FUZZ_SECONDS ?= 120
FUZZ_TARGETS := aws-json query sigv4 cluster-query ecs-config zip yaml gateway s3 cloudformation athena
fuzz:
	cd Fuzz && $(SWIFT) build --product stevedore-fuzz -Xswiftc -sanitize=fuzzer,address
	@for target in $(FUZZ_TARGETS); do \
	    rm -rf Fuzz/.build/corpus/$$target && mkdir -p Fuzz/.build/corpus/$$target && \
	    cp Fuzz/corpus/$$target/* Fuzz/.build/corpus/$$target/ && \
	    echo "fuzzing $$target: $(FUZZ_RUNS) runs from seed $(FUZZ_SEED), at most $(FUZZ_SECONDS) s" && \
	    (cd Fuzz/.build && SWIFT_BACKTRACE=enable=no FUZZ_TARGET=$$target ./debug/stevedore-fuzz \
	        -seed=$(FUZZ_SEED) -runs=$(FUZZ_RUNS) -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	        -rss_limit_mb=2048 -print_final_stats=1 corpus/$$target 2>&1 \
	        | grep -E "stat::number_of_executed_units|ERROR|Fatal error|crash|timeout|Done" ; \
	        exit $${PIPESTATUS[0]}) || exit 1; \
	done

clean:
	rm -rf .build .ecsd-dev Fuzz/.build
