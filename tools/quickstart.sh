#!/usr/bin/env bash
# The quickstart (docs/quickstart.md): the tiny model, a synthetic arithmetic dataset, all four
# services on this machine, one CHORD-phi job with 2 rollout workers, progress while it trains,
# a table of held-out accuracy before and after training, and the training curves as a picture.
#
#   tools/quickstart.sh [BUILD_DIR]        (`make quickstart` runs it after the build)
#
# Environment (all optional):
#   CHORD_QUICKSTART_DIR       scratch folder (default .chord/quickstart; wiped state each run)
#   CHORD_QUICKSTART_WORKERS   rollout workers (default 2)
#   CHORD_QUICKSTART_JOB       job spec (default deploy/quickstart/job.yaml)
#   CHORD_QUICKSTART_DATASET   extra `chordctl datasets make arithmetic` flags (default none)
#   CHORD_QUICKSTART_KEEP=1    leave the services running at the end (stop: chordctl down)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="${1:-build}"
BIN="$(cd "$BUILD_DIR" 2>/dev/null && pwd)/bin" || BIN="$ROOT/$BUILD_DIR/bin"
QS="${CHORD_QUICKSTART_DIR:-.chord/quickstart}"
mkdir -p "$QS"
QS="$(cd "$QS" && pwd)"
WORKERS="${CHORD_QUICKSTART_WORKERS:-2}"
JOB_SPEC="${CHORD_QUICKSTART_JOB:-deploy/quickstart/job.yaml}"
STATE="$QS/state"
SERVICES=(chordctl chord-model-tool chord-learner chord-expert-buffer chord-reward chord-rollout-worker)
START=$SECONDS

step() { printf '\n==> %s\n' "$*"; }
elapsed() { local s=$((SECONDS - START)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# 0. Build what is missing (`make quickstart` has built them already).
missing=()
for binary in "${SERVICES[@]}"; do
  [[ -x "$BIN/$binary" ]] || missing+=("$binary")
done
if ((${#missing[@]} > 0)); then
  step "building ${missing[*]} in $BUILD_DIR"
  if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  cmake --build "$BUILD_DIR" --target "${missing[@]}"
  BIN="$(cd "$BUILD_DIR" && pwd)/bin"
fi
CHORDCTL="$BIN/chordctl"

# 1. The tiny model (a Qwen2-architecture model with a character vocabulary, random weights).
step "1/5 tiny model -> $QS/model"
"$CHORDCTL" init-model --preset tiny --out "$QS/model" --force

# 2. The dataset: RL tasks, expert demonstrations with worked solutions, held-out eval problems.
step "2/5 arithmetic dataset -> $QS/data"
# shellcheck disable=SC2086
"$CHORDCTL" datasets make arithmetic --out "$QS/data" ${CHORD_QUICKSTART_DATASET:-}

# 3. The services, on free ports, with a fresh state directory.
step "3/5 services: expert buffer, reward, $WORKERS rollout workers, learner"
"$CHORDCTL" down --state-dir "$STATE" >/dev/null
rm -rf "$STATE"
if [[ "${CHORD_QUICKSTART_KEEP:-0}" != 1 ]]; then
  trap '"$CHORDCTL" down --state-dir "$STATE" >/dev/null 2>&1 || true' EXIT
fi
"$CHORDCTL" up --detach --state-dir "$STATE" --model "$QS/model" --data-root "$QS/data" \
  --rollout-workers "$WORKERS"
export CHORD_STATE_DIR="$STATE"
METRICS_URL="http://127.0.0.1:$(tr -d '[:space:]' < "$STATE/run/learner.metrics_port")/metrics"

# 4. The job: the spec with this run's paths.
step "4/5 the job ($JOB_SPEC)"
JOB="$("$CHORDCTL" submit "$JOB_SPEC" \
  --set "model=$QS/model" \
  --set "datasets.tasks.path=$QS/data/tasks.jsonl" \
  --set "datasets.expert.path=$QS/data/expert.jsonl" \
  --set "datasets.eval.path=$QS/data/eval.jsonl")"
echo "job $JOB submitted; the learner's metrics: $METRICS_URL"

step "5/5 training (chordctl watch $JOB)"
status=0
"$CHORDCTL" watch "$JOB" || status=$?

# The job's events (every step's metrics, every evaluation) stay readable after the services stop.
"$CHORDCTL" logs "$JOB" --json > "$QS/events.jsonl"
# The training curves as a picture, next to the metrics (gnuplot; docs/observability.md).
if "$CHORDCTL" plot "$JOB" --out "$QS/curves.png" >/dev/null; then
  CURVES="$QS/curves.png (reward, held-out accuracy, mu, loss)"
else
  CURVES="(not drawn: chordctl plot failed; is gnuplot installed?)"
fi
OUTPUT_MODEL="$("$CHORDCTL" get "$JOB" --json | sed -n 's/.*"output_model":"\([^"]*\)".*/\1/p')"

# Held-out accuracy: the first evaluation (step 0, before any training), the evaluation where the
# SFT warm-up stage ends (the driver evaluates at every stage boundary) and the last one.
read -r FIRST_STEP FIRST_ACC WARM_STEP WARM_ACC LAST_STEP LAST_ACC SAMPLES < <(awk '
  /"type":"EVAL"/ {
    match($0, /"eval_accuracy":[^,}]*/); acc = substr($0, RSTART + 16, RLENGTH - 16)
    match($0, /"eval_samples":[^,}]*/); n = substr($0, RSTART + 15, RLENGTH - 15)
    match($0, /"step":[0-9]+/); s = substr($0, RSTART + 7, RLENGTH - 7)
    if (!seen) { fs = s; fa = acc; seen = 1 }
    at[s + 0] = acc
    ls = s; la = acc; ln = n + 0
  }
  /"type":"LOG"/ && /stage train starts at step/ {
    match($0, /starts at step [0-9]+/); ws = substr($0, RSTART + 15, RLENGTH - 15) - 1
  }
  END {
    if (!seen) { print "- - - - - - -"; exit }
    wa = (ws != "" && (ws + 0) in at) ? at[ws + 0] : "-"
    print fs, fa, (ws == "" ? "-" : ws), wa, ls, la, ln
  }' "$QS/events.jsonl")
pct() { awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else printf "%.1f%%", 100 * v }'; }

RULE="================================================================================"
LINE="--------------------------------------------------------------------------------"
echo
echo "$RULE"
echo " Chord quickstart: job $JOB"
echo "$LINE"
echo " held-out accuracy on $SAMPLES arithmetic problems that are in neither the tasks"
echo " nor the expert demonstrations:"
printf '   %-44s %7s\n' "before training (step $FIRST_STEP, random weights)" "$(pct "$FIRST_ACC")"
if [[ "$WARM_ACC" != "-" ]]; then
  printf '   %-44s %7s\n' "after the SFT warm-up stage (step $WARM_STEP)" "$(pct "$WARM_ACC")"
fi
# The variant, as the learner logged it when the job started ("... variant chord-phi").
VARIANT="$(sed -n 's/.*started: .* variant \([a-z-]*\).*/\1/p' "$QS/events.jsonl" | head -n 1)"
case "$VARIANT" in
  chord-phi) VARIANT=CHORD-phi ;;
  chord-mu | chord-mu-tools) VARIANT=CHORD-mu ;;
  sft | grpo) VARIANT="$(tr '[:lower:]' '[:upper:]' <<< "$VARIANT")" ;;
esac
printf '   %-44s %7s\n' "after training with ${VARIANT:-the job} (step $LAST_STEP)" "$(pct "$LAST_ACC")"
echo "$LINE"
printf ' %-15s %s\n' "trained model" "${OUTPUT_MODEL:-(none: the job did not succeed)}"
printf ' %-15s %s\n' "metrics" "$QS/events.jsonl (every step and evaluation, one JSON per line)"
printf ' %-15s %s\n' "" "$METRICS_URL (Prometheus, while the services run)"
printf ' %-15s %s\n' "curves" "$CURVES"
printf ' %-15s %s\n' "job events" "CHORD_STATE_DIR=$STATE chordctl logs $JOB"
printf ' %-15s %s\n' "" "(the job store is kept: chordctl up --state-dir $STATE serves it again)"
printf ' %-15s %s\n' "service logs" "$STATE/logs/"
printf ' %-15s %s\n' "elapsed" "$(elapsed)"
echo "$RULE"
if [[ "${CHORD_QUICKSTART_KEEP:-0}" == 1 ]]; then
  echo "the services keep running: export CHORD_STATE_DIR=$STATE; stop them with:"
  echo "  $CHORDCTL down --state-dir $STATE"
fi
exit "$status"
