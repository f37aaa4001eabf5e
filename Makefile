# The two commands of the README:
#   make up    set up, build and start `vigil up` (127.0.0.1:9090)
#   make test  set up, build and run every test: format, unit, integration, fuzz
SHELL := /bin/bash
BUILD ?= build
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc)
# Warnings are errors in CI (CI=true), warnings elsewhere.
WERROR := $(if $(filter true 1 yes,$(CI)),ON,OFF)
# How long each fuzz target runs in `make test`; run longer by hand with FUZZ_SECONDS=600.
FUZZ_SECONDS ?= 5
# ccache hits across clones of the repository (CI builds a fresh clone): paths relative to it.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_WERROR=$(WERROR) \
               -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache

.PHONY: setup build up test unit-test fuzz-build fuzz-test format format-check clean

setup:
	@scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

up: build
	./$(BUILD)/vigil up $(ARGS)

test: format-check build fuzz-build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	cd $(FUZZ_BUILD) && FUZZ_SECONDS=$(FUZZ_SECONDS) ctest --output-on-failure

fuzz-build: setup
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD) $(CMAKE_FLAGS) -DVIGIL_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j$(JOBS)

format-check: setup
	@scripts/check-format.sh

format: setup
	@git ls-files '*.cc' '*.h' | xargs clang-format-14 -i

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
