#!/usr/bin/env bash
# Installs every Debian package that Chord's build, tests and tools need.
# Idempotent: when everything is already installed it only checks and exits (well under a second).
# Usage: tools/install-deps.sh [--check]   (--check: report what is missing, install nothing)
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git clang-format
  # tensors: Debian's CPU LibTorch and the OpenMP build of OpenBLAS (the reference BLAS is 3-14x slower;
  # the pthread build fights LibTorch's threads)
  libtorch-dev libopenblas0-openmp libgloo-dev
  # RPC and base libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  # metrics, logging, config, data, storage, tokenizer regex, CLI
  prometheus-cpp-dev libspdlog-dev libyaml-cpp-dev nlohmann-json3-dev libsqlite3-dev libpcre2-dev
  libcli11-dev
  # computer algebra for the math_boxed verifier (GiNaC, with CLN)
  libginac-dev
  # tests and benchmarks; `prometheus` provides promtool for /metrics validation
  libgtest-dev libgmock-dev googletest libbenchmark-dev prometheus
  # tools used by tests and scripts; openssl makes the TLS tests' certificates at test time
  procps curl openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ "${1:-}" == "--check" ]]; then
  if ((${#missing[@]})); then
    echo "missing packages: ${missing[*]}"
    exit 1
  fi
  echo "all ${#PACKAGES[@]} packages installed"
  exit 0
fi

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package index only when it is missing or stale (older than a day).
  if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mmin -1440 2>/dev/null | head -1)" ]]; then
    apt-get update -q
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# LibTorch resolves BLAS through libblas.so.3: make sure that is OpenBLAS's OpenMP build.
alt=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
if [[ -e "$alt" ]] && command -v update-alternatives >/dev/null; then
  current=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 || true)
  if [[ "$current" != "$(readlink -f "$alt")" ]]; then
    if [[ $(id -u) -eq 0 ]]; then
      update-alternatives --set libblas.so.3-x86_64-linux-gnu "$alt" >/dev/null
      lapack=/usr/lib/x86_64-linux-gnu/openblas-openmp/liblapack.so.3
      [[ -e "$lapack" ]] && update-alternatives --set liblapack.so.3-x86_64-linux-gnu "$lapack" >/dev/null || true
      echo "install-deps: libblas.so.3 now points at OpenBLAS (OpenMP)"
    else
      echo "install-deps: warning: libblas.so.3 is $current, not OpenBLAS OpenMP (run as root to fix)" >&2
    fi
  fi
fi
