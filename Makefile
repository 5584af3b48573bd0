# The two commands of the README, plus developer conveniences. Everything real lives in CMake;
# this file only orders the steps (install deps if missing, configure, build, run).

BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps configure build test test-fast quickstart experiments bench format format-check chart-files clean

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
