# The two commands of the README, plus developer conveniences. Everything real lives in CMake;
# this file only orders the steps (install deps if missing, configure, build, run).

BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps configure build test test-fast quickstart experiments bench format format-check chart-files clean \
        test-asan test-tsan fuzz

all: build

deps:
	@tools/install-deps.sh

configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS); \
	fi

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# The whole suite (unit, integration, slow end-to-end). GPU tests are skipped without CUDA.
test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900

# Everything except tests labelled `slow`.
test-fast: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -LE slow

# Sanitizer and fuzz builds (clang; docs/testing.md). Each has its own build folder; the lists of
# tests each sanitizer runs are in cmake/ChordSanitizers.cmake. SCOPE=ci runs only the part CI
# runs (.ci/run).
ASAN_BUILD_DIR ?= build-asan
TSAN_BUILD_DIR ?= build-tsan
FUZZ_BUILD_DIR ?= build-fuzz
SANITIZER_CMAKE_ARGS = -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DCHORD_BUILD_BENCHMARKS=OFF
ASAN_CMAKE_ARGS ?=
SCOPE ?= all
SECONDS ?= 60
sanitizer_target = $(if $(filter ci,$(SCOPE)),$(1)_ci_tests,$(1)_tests)
sanitizer_label = $(if $(filter ci,$(SCOPE)),'^$(1)-ci$$','^$(1)$$')

# AddressSanitizer + UndefinedBehaviorSanitizer on the tests of CHORD_ASAN_TESTS.
test-asan: deps
	@mkdir -p $(ASAN_BUILD_DIR) && cmake -S . -B $(ASAN_BUILD_DIR) $(SANITIZER_CMAKE_ARGS) -DCHORD_SANITIZE=address \
	  $(ASAN_CMAKE_ARGS) > $(ASAN_BUILD_DIR)/configure.log || (cat $(ASAN_BUILD_DIR)/configure.log; false)
	@cmake --build $(ASAN_BUILD_DIR) -j $(JOBS) --target $(call sanitizer_target,asan)
	@cd $(ASAN_BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 1800 \
	  -L $(call sanitizer_label,asan)

# ThreadSanitizer on the concurrent parts (CHORD_TSAN_TESTS).
test-tsan: deps
	@mkdir -p $(TSAN_BUILD_DIR) && cmake -S . -B $(TSAN_BUILD_DIR) $(SANITIZER_CMAKE_ARGS) -DCHORD_SANITIZE=thread \
	  > $(TSAN_BUILD_DIR)/configure.log || (cat $(TSAN_BUILD_DIR)/configure.log; false)
	@cmake --build $(TSAN_BUILD_DIR) -j $(JOBS) --target $(call sanitizer_target,tsan)
	@cd $(TSAN_BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 1800 \
	  -L $(call sanitizer_label,tsan)

# Builds the fuzz targets (libFuzzer + ASan + UBSan) and runs each for SECONDS seconds
# (tests/fuzz/run_fuzzers.sh; FUZZ_TARGETS="json_line job_spec" runs only those). SCOPE=ci: only
# the targets whose code needs no LibTorch (tests/fuzz/CMakeLists.txt, `fuzzers_ci`).
FUZZ_TARGETS ?=
fuzz: deps
	@mkdir -p $(FUZZ_BUILD_DIR) && cmake -S . -B $(FUZZ_BUILD_DIR) $(SANITIZER_CMAKE_ARGS) -DCHORD_BUILD_FUZZERS=ON \
	  $(if $(wildcard $(FUZZ_BUILD_DIR)/CMakeCache.txt),,-DCHORD_BUILD_TESTS=OFF) \
	  > $(FUZZ_BUILD_DIR)/configure.log || (cat $(FUZZ_BUILD_DIR)/configure.log; false)
	@cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target $(if $(filter ci,$(SCOPE)),fuzzers_ci,fuzzers)
	@tests/fuzz/run_fuzzers.sh $(FUZZ_BUILD_DIR) $(SECONDS) \
	  $(or $(FUZZ_TARGETS),$(if $(filter ci,$(SCOPE)),$$(cat $(FUZZ_BUILD_DIR)/fuzz/ci_targets.txt)))

# The main job on the embedded default: all services locally, the tiny model, a short CHORD job.
# Builds only the binaries it runs (not the tests and benchmarks): the four services, chordctl and
# chord-model-tool (chordctl's `init-model` and `eval`).
QUICKSTART_BINARIES = chordctl chord-model-tool chord-learner chord-expert-buffer chord-reward \
                      chord-rollout-worker
quickstart: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target $(QUICKSTART_BINARIES)
	@tools/quickstart.sh $(BUILD_DIR)

# The paper's comparison at small scale (docs/experiments.md): a base model, then 7 arms x 3 seeds
# on the target task, each a job of the real services; about an hour on 2 quiet cores. Writes the
# table and the curves into docs/experiments.md and docs/experiments/ (CHORD_EXPERIMENTS_DOC= to
# leave docs/ alone; the report is also in .chord/experiments/report/).
EXPERIMENTS_BINARIES = $(QUICKSTART_BINARIES) chord-experiments
experiments: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target $(EXPERIMENTS_BINARIES)
	@CHORD_EXPERIMENTS_DOC="$${CHORD_EXPERIMENTS_DOC-docs/experiments.md}" tools/experiments/run-experiments.sh $(BUILD_DIR)

# Benchmarks: each prints a table (docs/benchmarks.md records the figures).
bench: build
	@tools/run-benchmarks.sh $(BUILD_DIR)

format:
	@git ls-files --cached --others --exclude-standard '*.cc' '*.h' | xargs -r clang-format -i

format-check:
	@git ls-files --cached --others --exclude-standard '*.cc' '*.h' | xargs -r clang-format --dry-run --Werror && echo "format: ok"

# The Helm chart ships copies of deploy/grafana and deploy/prometheus/rules.yml (Helm reads only
# files inside the chart); tests/deploy_test.cc checks that they are identical.
chart-files:
	@mkdir -p helm/chord/files/grafana helm/chord/files/prometheus
	@cp deploy/grafana/*.json helm/chord/files/grafana/
	@cp deploy/prometheus/rules.yml helm/chord/files/prometheus/rules.yml

clean:
	rm -rf $(BUILD_DIR)
