# Stevedore: the two commands a newcomer needs are `make dev` and `make test`.
SWIFT ?= swift
BIN := .build/debug

.PHONY: build deps dev test test-deps unit integration bench release clean

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

test-deps:
	scripts/install-test-deps.sh

unit:
	$(SWIFT) test

integration: build
	python3 -m pytest -q Tests/integration

release:
	$(SWIFT) build -c release --static-swift-stdlib

# Benchmarks print figures and ratios against baselines measured in the same run.
bench: release
	.build/release/stevedore-bench api
	.build/release/stevedore-bench placement
	.build/release/stevedore-bench runtask
	.build/release/stevedore-bench agent
	.build/release/stevedore-bench functions
	.build/release/stevedore-bench scaling

clean:
	rm -rf .build .ecsd-dev
