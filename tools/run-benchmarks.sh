#!/usr/bin/env bash
# Runs every benchmark tool (build/bin/chord-bench-*) in turn; each prints its own table.
# Usage: tools/run-benchmarks.sh [BUILD_DIR] [-- extra args for every tool]
set -euo pipefail
build=${1:-build}
shift || true
found=0
for bench in "$build"/bin/chord-bench-*; do
  [[ -x "$bench" ]] || continue
  found=1
  echo "== $(basename "$bench")"
  "$bench" "$@"
  echo
done
if [[ $found -eq 0 ]]; then
  echo "no benchmark tools in $build/bin (build first: make build)" >&2
  exit 1
fi
