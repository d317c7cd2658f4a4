# Stevedore: the two commands a newcomer needs are `make dev` and `make test`.
SWIFT ?= swift
BIN := .build/debug

.PHONY: build dev test test-deps unit integration bench release clean

build:
	$(SWIFT) build

# A local control plane with state under ./.ecsd-dev (Ctrl-C stops it).
dev: build
	$(BIN)/ecsd --dev

# Installs test prerequisites (apt packages, aws CLI, boto3, a Docker engine), then runs every test.
test: test-deps
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
