# eddy's build, run and test entry points. Everything builds under one cargo profile
# (release) in one target dir outside the clone, so RocksDB (~30 min to compile on 2
# cores) is compiled once per machine, not once per profile or per clone.

CARGO_TARGET_DIR ?= $(HOME)/.cache/eddy-target
export CARGO_TARGET_DIR
CARGO ?= cargo
# The virtualenv with awslambdaric that the tests run real Lambda handlers with.
EDDY_VENV ?= $(HOME)/.cache/eddy-venv
export EDDY_VENV
PROFILE := --release

.PHONY: help setup build run test bench fmt lint

help: ## List the targets.
	@awk -F':.*## ' '/^[a-z-]+:.*## / { printf "  %-8s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

setup: ## Install what a fresh Debian/Ubuntu machine lacks (libclang, a C++ compiler).
	@scripts/setup.sh

build: setup ## Build the eddy binary and the benchmarks.
	$(CARGO) build $(PROFILE) --workspace --bins

run: build ## Build and serve on ./eddy-data, gRPC on 127.0.0.1:50051.
	$(CARGO_TARGET_DIR)/release/eddy serve

test: setup ## Run the whole test suite (unit, property, end-to-end, crash).
	@scripts/setup-python.sh
	@scripts/setup-peers.sh
	$(CARGO) test $(PROFILE) --workspace --all-targets

bench: build ## Run the benchmarks and rewrite benches/report/ (EDDY_BEFORE_BIN=an older eddy adds before/after rows).
	@scripts/setup-peers.sh
	$(CARGO_TARGET_DIR)/release/eddy-bench compare --report benches/report/REPORT.md \
		$(if $(EDDY_BEFORE_BIN),--before-eddy-bin $(EDDY_BEFORE_BIN))
	$(CARGO_TARGET_DIR)/release/eddy-bench put --producers 8 --record-size 1024 --batch-size 500 --shards 4 --durability buffered
	$(CARGO_TARGET_DIR)/release/eddy-bench put --producers 64 --record-size 1024 --batch-size 1 --shards 4 --durability fsync
	@scripts/setup-python.sh
	$(CARGO_TARGET_DIR)/release/eddy-bench e2e --backlog 1000000 --record-size 100 --python $(EDDY_VENV)/bin/python
	$(CARGO_TARGET_DIR)/release/eddy-bench e2e --backlog 1000000 --record-size 100 --durability fsync --python $(EDDY_VENV)/bin/python

fmt: ## Format the code.
	$(CARGO) fmt --all

lint: setup ## Check formatting and clippy (warnings are errors).
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(PROFILE) --workspace --all-targets -- -D warnings
