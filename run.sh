#!/usr/bin/env bash
# foldback's one entry point.
#
#   ./run.sh demo    install what is missing, build, run `foldback demo`
#   ./run.sh test    install what is missing, build native + wasm (+ sanitizers),
#                    run every test suite, end with "N passed, N failed"
#   ./run.sh build   build; the CLI lands at build/bin/foldback
#   ./run.sh install install what is missing only
#
# Install steps are idempotent and say what they do: Debian packages by name,
# npm packages from package-lock.json, and the C/C++ the wasm build needs
# compiled from Debian source packages into build/third_party/wasm.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
JOBS=$(nproc 2>/dev/null || echo 2)
export NODE_PATH=/usr/share/nodejs  # Emscripten's JS optimizer needs Debian's acorn

T0=$(date +%s)
log() { printf '\033[1m==> [%4ds] %s\033[0m\n' $(( $(date +%s) - T0 )) "$*" >&2; }

# Debian packages the build, the tests and the benchmarks use.
APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git dpkg-dev clang libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libprotobuf-dev protobuf-compiler libhnswlib-dev robin-map-dev libstemmer-dev libutf8proc-dev libeigen3-dev
  nlohmann-json3-dev libfmt-dev libcli11-dev libcurl4-openssl-dev libcpp-httplib-dev
  libgmime-3.0-dev libpoppler-cpp-dev libzip-dev libpugixml-dev libgumbo-dev zlib1g-dev libsqlite3-dev libxapian-dev
  postgresql libpq-dev  # foldback jobs: the PostgreSQL store (libpq) and the server its tests start
  libboost-dev libtomlplusplus-dev  # foldback serve: Boost.Beast/Asio (header-only), the users file
  emscripten chromium chromium-driver python3
  fonts-noto-color-emoji  # the plugins' screenshots (thumbs) in headless Chromium
)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; exit 1; fi
}

install_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # Source packages (protobuf, snowball, utf8proc) for the wasm build.
  local src_list=/etc/apt/sources.list.d/foldback-deb-src.sources
  local need_src=0
  if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
    need_src=1
  fi
  if [ ${#missing[@]} -eq 0 ] && [ $need_src = 0 ]; then return; fi
  if [ $need_src = 1 ]; then
    log "adding a deb-src entry for bookworm ($src_list)"
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
      as_root tee "$src_list" >/dev/null
  fi
  log "apt-get update"
  as_root apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

install_npm() {
  command -v node >/dev/null && command -v npm >/dev/null ||
    { echo "Node.js and npm are needed (the machine image ships Node.js 20 and npm)" >&2; exit 1; }
  [ -f package-lock.json ] || return 0
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm ci (package-lock.json)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

install_wasm_deps() {
  local prefix=build/third_party/wasm
  if [ ! -f $prefix/.stamp-protobuf ] || [ ! -f $prefix/.stamp-snowball ] || [ ! -f $prefix/.stamp-utf8proc ]; then
    log "building protobuf-lite, libstemmer, utf8proc for wasm32 from Debian sources"
    wasm/build-deps.sh $prefix
  fi
}

install_all() {
  install_apt
  install_npm
  install_wasm_deps
}

configure() {  # configure PRESET DIR
  if [ ! -f "$2/build.ninja" ]; then
    log "cmake --preset $1"
    cmake --preset "$1" >/dev/null
  fi
}

build_native() {
  configure native build
  log "building native (build/)"
  cmake --build --preset native -j "$JOBS" 2>&1 | sed -E '/^\[[0-9]+\/[0-9]+\] /d'
}

build_wasm() {
  configure wasm build/wasm
  log "building wasm (build/wasm/package)"
  cmake --build --preset wasm -j "$JOBS" 2>&1 | sed -E '/^\[[0-9]+\/[0-9]+\] /d'
}

build_plugins() {
  log "building plugins (build/plugins: outlook, word, browser)"
  node plugins/build.mjs
}

build_asan() {
  configure native-asan build/asan
  log "building native with ASan + UBSan (build/asan)"
  cmake --build --preset native-asan -j "$JOBS" 2>&1 | sed -E '/^\[[0-9]+\/[0-9]+\] /d'
}

# Results of the suites, added up for the final line.
PASSED=0
FAILED=0
SKIPPED=0
FAILED_SUITES=()

run_ctest() {  # run_ctest NAME DIR [extra ctest args]
  local name=$1 dir=$2
  shift 2
  log "tests: $name"
  local out rc=0
  out=$(cd "$dir" && ctest -j "$JOBS" --output-on-failure "$@" 2>&1) || rc=$?
  echo "$out" | grep -vE '^ *(Start +[0-9]+:|[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed )' | sed '/^$/d' | tail -n 60
  local total failed skipped
  total=$(echo "$out" | sed -nE 's/.* tests? failed out of ([0-9]+).*/\1/p' | tail -n 1)
  failed=$(echo "$out" | sed -nE 's/.* ([0-9]+) tests? failed out of .*/\1/p' | tail -n 1)
  skipped=$(echo "$out" | grep -cE '\*\*\*(Not Run|Skipped)|Skipped +[0-9.]+ sec' || true)
  if [ -z "$total" ]; then
    FAILED=$((FAILED + 1)); FAILED_SUITES+=("$name (no ctest summary)"); return
  fi
  PASSED=$((PASSED + total - failed - skipped))
  FAILED=$((FAILED + failed))
  SKIPPED=$((SKIPPED + skipped))
  [ "$failed" = 0 ] && [ $rc = 0 ] || FAILED_SUITES+=("$name")
}

run_node_tests() {  # run_node_tests NAME FILES...
  local name=$1
  shift
  log "tests: $name"
  local out rc=0
  out=$(node --test --test-reporter=tap "$@" 2>&1) || rc=$?
  echo "$out" | grep -E '^(not ok|# (tests|pass|fail|skipped))' || true
  if [ $rc != 0 ]; then echo "$out" | grep -A 20 '^not ok' | head -n 80; fi
  local pass fail skip
  pass=$(echo "$out" | sed -nE 's/^# pass ([0-9]+)/\1/p' | tail -n 1)
  fail=$(echo "$out" | sed -nE 's/^# fail ([0-9]+)/\1/p' | tail -n 1)
  skip=$(echo "$out" | sed -nE 's/^# skipped ([0-9]+)/\1/p' | tail -n 1)
  if [ -z "$pass" ]; then
    FAILED=$((FAILED + 1)); FAILED_SUITES+=("$name (no summary)"); return
  fi
  PASSED=$((PASSED + pass)); FAILED=$((FAILED + fail)); SKIPPED=$((SKIPPED + ${skip:-0}))
  [ "$fail" = 0 ] && [ $rc = 0 ] || FAILED_SUITES+=("$name")
}

summary() {
  [ ${#FAILED_SUITES[@]} -eq 0 ] || echo "failing suites: ${FAILED_SUITES[*]}"
  local line="$PASSED passed, $FAILED failed"
  [ "$SKIPPED" = 0 ] || line="$line, $SKIPPED skipped"
  echo "$line"
  [ "$FAILED" = 0 ]
}

cmd=${1:-help}
case "$cmd" in
  install)
    install_all
    ;;
  build)
    install_all
    build_native
    build_wasm
    build_plugins
    ;;
  demo)
    install_all
    build_native
    log "foldback demo"
    build/bin/foldback demo
    ;;
  test)
    start=$(date +%s)
    # A canary in the usual API-key variables while everything is built:
    # the secret_scan test then checks no build output picked it up.
    canary=$(tests/security/scan_secrets.sh --canary)
    export OPENAI_API_KEY="$canary" AZURE_OPENAI_API_KEY="$canary" FOLDBACK_API_KEY="$canary"
    install_all
    build_native
    build_wasm
    build_plugins
    build_asan
    run_ctest "native (ctest)" build
    run_ctest "native ASan+UBSan (ctest)" build/asan
    run_node_tests "wasm (node:test)" wasm/test/*.test.mjs
    # One file at a time: each end-to-end file drives its own Chromium.
    run_node_tests "plugins (node:test + Chromium)" --test-concurrency=1 plugins/test/*.test.mjs
    log "test run took $(( $(date +%s) - start ))s"
    summary
    ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    [ "$cmd" = help ] || exit 2
    ;;
esac
