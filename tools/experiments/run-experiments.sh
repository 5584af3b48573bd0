#!/usr/bin/env bash
# The paper's comparison at small scale (docs/experiments.md): a base model trained on the
# quickstart's arithmetic, then every arm of tools/experiments/arms.txt on the target task
# (2-3 digit addition with long-form expert demonstrations) for every seed, each a job of the
# real services (`chordctl up`, `chordctl submit`); then the table and the curves.
#
#   tools/experiments/run-experiments.sh [BUILD_DIR]      (`make experiments` runs it)
#
# Environment (all optional; the profile sets the defaults, a variable set here wins):
#   CHORD_EXPERIMENTS_PROFILE   full (default) or smoke (tools/experiments/<profile>.env)
#   CHORD_EXPERIMENTS_DIR       scratch folder (default .chord/experiments)
#   CHORD_EXPERIMENTS_SEEDS     seeds of the arms, e.g. "1 2 3"
#   CHORD_EXPERIMENTS_ARMS      arm names of arms.txt to run, e.g. "grpo chord-phi"
#   CHORD_EXPERIMENTS_DOC       a page whose results block the report replaces (make experiments:
#                               docs/experiments.md, with its PNGs in docs/experiments/)
#   CHORD_EXPERIMENTS_RESUME=1  keep the runs (and the base model) an earlier call finished
# Sizes (steps, rows, evaluation) are the profile's variables; see full.env.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tools/experiments"
BUILD_DIR="${1:-build}"
BIN="$(cd "$BUILD_DIR" 2>/dev/null && pwd)/bin" || { echo "no build folder $BUILD_DIR" >&2; exit 1; }
PROFILE="${CHORD_EXPERIMENTS_PROFILE:-full}"
[[ -f "$HERE/$PROFILE.env" ]] || { echo "unknown profile $PROFILE (no $HERE/$PROFILE.env)" >&2; exit 2; }
# shellcheck source=tools/experiments/full.env
source "$HERE/$PROFILE.env"
SEEDS="${CHORD_EXPERIMENTS_SEEDS:-$SEEDS}"
ARMS="${CHORD_EXPERIMENTS_ARMS:-$ARMS}"
CHORDCTL="$BIN/chordctl"
EXPERIMENTS="$BIN/chord-experiments"
for binary in chordctl chord-learner chord-expert-buffer chord-reward chord-rollout-worker \
  chord-experiments; do
  [[ -x "$BIN/$binary" ]] || { echo "missing $BIN/$binary (build it first)" >&2; exit 1; }
done

DIR="${CHORD_EXPERIMENTS_DIR:-$ROOT/.chord/experiments}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
STATE="$DIR/state"
RUNS="$DIR/runs"
START=$SECONDS
elapsed() { local s=$((SECONDS - START)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
step() { printf '\n==> [%s] %s\n' "$(elapsed)" "$*"; }
# Values of `chordctl get --json` fields that are strings ("output_model") or string lists
# ("checkpoints").
json_string() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
json_list() { sed -n "s/.*\"$1\":\\[\\([^]]*\\)\\].*/\\1/p" | tr ',' '\n' | tr -d '"' | sed '/^$/d'; }

if [[ "${CHORD_EXPERIMENTS_RESUME:-0}" != 1 ]]; then rm -rf "$RUNS" "$DIR/base"; fi
mkdir -p "$RUNS" "$DIR/base" "$DIR/data"
{
  echo "profile: $PROFILE"
  echo "seeds: $SEEDS"
  echo "arms: $ARMS"
  echo "started: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo)"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$DIR/run-info.txt"

# 1. The tiny model and the datasets: the base task (the quickstart's arithmetic) and the target.
step "model and datasets -> $DIR/data"
"$CHORDCTL" init-model --preset tiny --seed 1 --out "$DIR/model" --force >/dev/null
# shellcheck disable=SC2086
"$CHORDCTL" datasets make arithmetic --out "$DIR/data/base" $BASE_DATASET
# shellcheck disable=SC2086
"$EXPERIMENTS" datasets --out "$DIR/data/target" $TARGET_DATASET

# 2. The services, fresh, with this folder as the data and model root.
step "services: expert buffer, reward, $WORKERS rollout workers, learner"
"$CHORDCTL" down --state-dir "$STATE" >/dev/null 2>&1 || true
rm -rf "$STATE"
trap '"$CHORDCTL" down --state-dir "$STATE" >/dev/null 2>&1 || true' EXIT
"$CHORDCTL" up --detach --state-dir "$STATE" --model "$DIR/model" --data-root "$DIR/data" \
  --model-root "$DIR" --rollout-workers "$WORKERS" >/dev/null
export CHORD_STATE_DIR="$STATE"

# Scores a model folder on an evaluation set: one JSON object (chordctl eval --json).
score() {  # MODEL DATA [EXAMPLES]
  "$CHORDCTL" eval --model "$1" --data "$2" --verifier arithmetic --max-samples "$EVAL_SAMPLES" \
    --max-new-tokens "$MAX_NEW_TOKENS" --examples "${3:-0}" --torch-threads 1 --json 2>/dev/null
}

# "--set K=V" for every word of a profile's override list.
set_args() { local o; for o in $1; do printf '%s\n' --set "$o"; done; }

# Submits SPEC with the overrides, follows the job to its end and records it in OUT:
# job.txt, events.jsonl (chordctl logs --json), curves.png (chordctl plot), job.json.
run_job() {  # OUT SPEC OVERRIDES...
  local out="$1" spec="$2"
  shift 2
  local job status=0
  job="$("$CHORDCTL" submit "$spec" "$@")"
  echo "$job" > "$out/job.txt"
  "$CHORDCTL" watch "$job" > "$out/watch.log" 2>&1 || status=$?
  "$CHORDCTL" logs "$job" --json > "$out/events.jsonl"
  "$CHORDCTL" get "$job" --json > "$out/job.json"
  "$CHORDCTL" plot "$job" --out "$out/curves.png" >/dev/null 2>&1 || true
  if ((status != 0)); then
    echo "job $job ($out) did not succeed (chordctl watch exit $status):" >&2
    tail -n 5 "$out/watch.log" >&2
    return 1
  fi
}

# 3. The base model, once (kept with CHORD_EXPERIMENTS_RESUME=1).
BASE_MODEL="$DIR/base/model"
if [[ ! -f "$DIR/base/done" ]]; then
  step "base model: SFT on the base task ($BASE_STEPS steps)"
  mapfile -t base_sets < <(set_args "$BASE_SET")
  run_job "$DIR/base" "$HERE/base.yaml" --set "model=$DIR/model" \
    --set "datasets.expert.path=$DIR/data/base/expert.jsonl" \
    --set "datasets.eval.path=$DIR/data/base/eval.jsonl" --set "steps=$BASE_STEPS" \
    "${base_sets[@]}"
  rm -rf "$BASE_MODEL"
  cp -r "$(json_string output_model < "$DIR/base/job.json")" "$BASE_MODEL"
  score "$BASE_MODEL" "$DIR/data/base/eval.jsonl" "$EVAL_SAMPLES" > "$DIR/base/base-final.json"
  score "$BASE_MODEL" "$DIR/data/target/eval.jsonl" "$EVAL_SAMPLES" > "$DIR/base/target-final.json"
  touch "$DIR/base/done"
fi
echo "base model $BASE_MODEL: base task $(sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p' \
  "$DIR/base/base-final.json"), target task $(sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p' \
  "$DIR/base/target-final.json") (held-out accuracy)"

# 4. Every arm for every seed.
DECAY="${CHORD_EXPERIMENTS_MU_DECAY:-$((ARM_STEPS * 2 / 5))}"
total=0
for seed in $SEEDS; do for arm in $ARMS; do total=$((total + 1)); done; done
n=0
for seed in $SEEDS; do
  for arm in $ARMS; do
    n=$((n + 1))
    line="$(grep -v '^#' "$HERE/arms.txt" | awk -F'|' -v a="$arm" '$1 == a' || true)"
    [[ -n "$line" ]] || { echo "arm $arm is not in $HERE/arms.txt" >&2; exit 2; }
    IFS='|' read -r _ label overrides <<< "$line"
    out="$RUNS/$arm/seed-$seed"
    if [[ -f "$out/done" ]]; then continue; fi
    rm -rf "$out"
    mkdir -p "$out"
    step "run $n/$total: $label, seed $seed"
    mapfile -t sets < <(set_args "$ARM_SET ${overrides//\{decay\}/$DECAY}")
    run_start=$SECONDS
    run_job "$out" "$HERE/target.yaml" --set "name=$arm-seed-$seed" --set "seed=$seed" \
      --set "model=$BASE_MODEL" --set "steps=$ARM_STEPS" \
      --set "datasets.tasks.path=$DIR/data/target/tasks.jsonl" \
      --set "datasets.expert.path=$DIR/data/target/expert.jsonl" \
      --set "datasets.eval.path=$DIR/data/target/eval.jsonl" "${sets[@]}"
    # Retention: the base task on every checkpoint and on the final model.
    : > "$out/base-eval.jsonl"
    while read -r checkpoint; do
      checkpoint_step=$((10#${checkpoint##*step-}))
      printf '{"step":%d,"eval":%s}\n' "$checkpoint_step" \
        "$(score "$checkpoint/model" "$DIR/data/base/eval.jsonl")" >> "$out/base-eval.jsonl"
    done < <(json_list checkpoints < "$out/job.json")
    final="$(json_string output_model < "$out/job.json")"
    score "$final" "$DIR/data/base/eval.jsonl" "$EVAL_SAMPLES" > "$out/base-final.json"
    score "$final" "$DIR/data/target/eval.jsonl" "$EVAL_SAMPLES" > "$out/target-final.json"
    echo "seconds: $((SECONDS - run_start))" > "$out/done"
    tail -n 1 "$out/watch.log"
  done
done

{
  echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "elapsed: $(elapsed)"
} >> "$DIR/run-info.txt"

# 5. The table and the curves.
step "report -> $DIR/report"
report_args=(report --runs "$RUNS" --base "$DIR/base" --arms "$HERE/arms.txt" --out "$DIR/report"
  --run-info "$DIR/run-info.txt")
if [[ -n "${CHORD_EXPERIMENTS_DOC:-}" ]]; then
  report_args+=(--doc "$CHORD_EXPERIMENTS_DOC" --doc-images "${CHORD_EXPERIMENTS_DOC_IMAGES:-$(dirname "$CHORD_EXPERIMENTS_DOC")/experiments}")
fi
"$EXPERIMENTS" "${report_args[@]}"
echo "elapsed $(elapsed)"
