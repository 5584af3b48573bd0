#!/usr/bin/env bash
# Runs the libFuzzer targets of a fuzz build (make fuzz; docs/testing.md).
#
#   tests/fuzz/run_fuzzers.sh BUILD_DIR SECONDS [TARGET ...]
#
# Each target (default: every BUILD_DIR/bin/fuzz_*) runs for SECONDS from its committed corpus
# (tests/fuzz/corpus/<target>/, read only) with its dictionary (tests/fuzz/dict/<target>.dict)
# when there is one. New inputs go to BUILD_DIR/fuzz/corpus/<target>/ (kept between runs, so a
# longer campaign continues where the last one stopped), crashes to BUILD_DIR/fuzz/crashes/.
# FUZZ_JOBS targets run at once (default: the number of cores). Prints one line per target with
# libFuzzer's final stats (executions, executions per second, new inputs, peak memory) and exits
# non-zero when a target crashed, timed out or ran out of memory, naming the input and how to
# replay it.
set -euo pipefail

if (($# < 2)); then
  echo "usage: $0 BUILD_DIR SECONDS [TARGET ...]" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
seconds=$2
shift 2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
jobs=${FUZZ_JOBS:-$(nproc)}

targets=("$@")
if ((${#targets[@]} == 0)); then
  for bin in "$build"/bin/fuzz_*; do
    [[ -x "$bin" ]] && targets+=("$(basename "$bin" | sed 's/^fuzz_//')")
  done
fi
if ((${#targets[@]} == 0)); then
  echo "run_fuzzers: no fuzz_* programs in $build/bin (configure with -DCHORD_BUILD_FUZZERS=ON)" >&2
  exit 2
fi

work="$build/fuzz"
mkdir -p "$work/logs" "$work/crashes"

# LibTorch's OpenMP threads only slow a one-input-at-a-time fuzzer down.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_stack_use_after_return=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0}"

run_one() {
  local target=$1
  local bin="$build/bin/fuzz_$target"
  local corpus="$work/corpus/$target"
  local log="$work/logs/$target.log"
  mkdir -p "$corpus"
  local args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
              -max_len=8192 -artifact_prefix="$work/crashes/$target-")
  [[ -f "$root/tests/fuzz/dict/$target.dict" ]] && args+=(-dict="$root/tests/fuzz/dict/$target.dict")
  local rc=0
  "$bin" "${args[@]}" "$corpus" "$root/tests/fuzz/corpus/$target" >"$log" 2>&1 || rc=$?
  local execs rate units rss
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  units=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  if ((rc == 0)); then
    printf '%-24s %12s %10s %8s %8s  ok\n' "$target" "${execs:-?}" "${rate:-?}" "${units:-?}" \
      "${rss:-?}"
  else
    local input
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    printf '%-24s %12s %10s %8s %8s  FAILED (exit %d)\n' "$target" "${execs:-?}" "${rate:-?}" \
      "${units:-?}" "${rss:-?}" "$rc"
    echo "  log: $log" >&2
    grep -m3 -E "ERROR: |FUZZ_CHECK|runtime error:|==ERROR" "$log" | sed 's/^/  /' >&2 || true
    [[ -n "$input" ]] && echo "  input: $input (replay: $bin $input)" >&2
    return 1
  fi
}
export -f run_one
export build work seconds root

printf '%-24s %12s %10s %8s %8s\n' target executions "exec/s" "new" "rss_mb"
status=0
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} || status=$?
if ((status != 0)); then
  echo "run_fuzzers: a target failed (logs in $work/logs)" >&2
  exit 1
fi
