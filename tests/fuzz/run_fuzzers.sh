#!/usr/bin/env bash
# Fuzzes every target with libFuzzer for MINUTES minutes each (default 2),
# starting from the seed corpora; new interesting inputs are kept in
# build/fuzz/corpus/<name>/ and crashes land in build/fuzz/crashes/.
#   tests/fuzz/run_fuzzers.sh [MINUTES] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:-2}
shift || true
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)" | sed -E '/^\[[0-9]+\/[0-9]+\] /d'
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$f" _fuzz.cc)"); done
fi
mkdir -p build/fuzz/crashes
status=0
for t in "${targets[@]}"; do
  mkdir -p "build/fuzz/corpus/$t"
  echo "== fuzzing $t for ${minutes} min"
  if ! build/fuzz/bin/${t}_fuzz "build/fuzz/corpus/$t" "tests/fuzz/corpus/$t" \
        -max_total_time=$((minutes * 60)) -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix="build/fuzz/crashes/${t}-" -print_final_stats=1 2>&1 | tail -n 12; then
    echo "!! $t found a problem: see build/fuzz/crashes/"
    status=1
  fi
done
exit $status
