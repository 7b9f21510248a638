#!/usr/bin/env bash
# The issue's "done when": installs foldback from the native build into a
# private prefix, builds examples/c and examples/cpp through
# find_package(foldback) against that prefix (never the build tree) and the
# C example again by hand with pkg-config from a moved copy of the prefix
# (relocatable), then runs each against the OpenAI-compatible test server:
# ingest a folder of mail and documents, search, a 2-hop ask, feedback.
# Checks the hops, passages, answer, the trace file, the feedback record (read
# back with the installed `foldback` CLI) and that the HTTP calls were made.
# Usage: tests/install/run_examples.sh BUILD_DIR
set -euo pipefail
build=$(realpath "${1:?usage: run_examples.sh BUILD_DIR}")
root=$(cd "$(dirname "$0")/../.." && pwd)
work="$build/install-test"
prefix="$work/prefix"
rm -rf "$work"
mkdir -p "$work"

server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT

# ---- install
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/foldback.h include/foldback/index.h include/foldback/native/host/ingest_path.h \
         include/foldback/native/llm/llm_client.h include/foldback/native/ingest/extract.h \
         lib/libfoldback.so lib/libfoldback_core.a lib/libfoldback_native.a \
         lib/cmake/foldback/foldbackConfig.cmake lib/pkgconfig/foldback.pc bin/foldback; do
  test -e "$prefix/$f" || { echo "not installed: $f" >&2; exit 1; }
done
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --exists foldback

# ---- a folder of mail and documents: real .eml/raw mail, .docx, .pdf (one
# password-protected: reported and skipped) and three CUAD contracts
corpus="$work/corpus"
mkdir -p "$corpus/contracts"
cp -r "$root/tests/data/mail" "$root/tests/data/docx" "$root/tests/data/pdf" "$corpus/"
find "$root/examples/corpus/cuad" -name '*.txt' | sort | head -3 | while read -r f; do cp "$f" "$corpus/contracts/"; done
question="What notice is required to terminate the agreement?"

# ---- the LLM: the tests' OpenAI-compatible server on an ephemeral port. Hop
# 1 and hop 2 get scripted queries; the answer is echoed ("Echo: ... [1]").
cat > "$work/llm-script.json" <<'JSON'
{"echo": true, "replies": [
  {"path": "/chat/completions", "times": 1,
   "content": "[[ ## query ## ]]\ntermination notice period\n\n[[ ## completed ## ]]"},
  {"path": "/chat/completions", "times": 1,
   "content": "[[ ## query ## ]]\nsettlement agreement payment release\n\n[[ ## completed ## ]]"}]}
JSON
start_server() {  # sets $url; the server logs one line per request to $work/server-$1.log
  "$build/bin/foldback_llm_test_server" --port 0 --script "$work/llm-script.json" \
      >"$work/server-$1.out" 2>"$work/server-$1.log" &
  server_pid=$!
  for _ in $(seq 100); do
    grep -q '^listening on ' "$work/server-$1.out" 2>/dev/null && break
    sleep 0.1
  done
  url=$(sed -n 's/^listening on //p' "$work/server-$1.out")
  test -n "$url" || { echo "the test LLM server did not start" >&2; exit 1; }
}

# run_example NAME BINARY [LD_LIBRARY_PATH]: runs one example and checks it.
run_example() {
  local name=$1 bin=$2 libs=${3:-$prefix/lib} index="$work/$1-index" out
  start_server "$name"
  out=$(LD_LIBRARY_PATH="$libs" "$bin" "$url" "$index" "$question" "$corpus")
  stop_server
  echo "$out"
  grep -q "^  skipped .*settlement-password.pdf" <<<"$out"
  grep -Eq "^ingested .*: [0-9]+ files, [0-9]+ indexed, 1 failed" <<<"$out"
  grep -q "^hop 1 (llm): termination notice period - [1-9]" <<<"$out"
  grep -Eq "^hop 2 \(llm\): settlement agreement payment release - [0-9]+ passages, [1-9][0-9]* new" <<<"$out"
  grep -Eq "^passages: [1-9]" <<<"$out"
  grep -q "^answer: Echo: ${question} \[1\]" <<<"$out"
  local trace record
  trace=$(sed -n 's/^trace: //p' <<<"$out")
  record=$(sed -n 's/^feedback record: //p' <<<"$out")
  [[ "$record" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] || {
    echo "$name: no feedback record id" >&2; exit 1; }
  python3 - "$trace" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
assert [h["source"] for h in t["hops"]] == ["llm", "llm"], t["hops"]
assert t["fused"] and t["trace_id"] and t["question"], t
PY
  # The record is where the CLI reads feedback, with the trace's question.
  "$prefix/bin/foldback" feedback --index "$index" --list --json | python3 -c "
import json, sys
records = json.load(sys.stdin)
assert [r['record_id'] for r in records] == ['$record'], records
assert records[0]['question'] == '$question' and records[0]['rating'] == 'up', records[0]"
  # Three chat completions went over HTTP: hop 1, hop 2, the answer.
  test "$(grep -c 'POST /v1/chat/completions -> 200' "$work/server-$name.log")" -eq 3
}

for lang in c cpp; do
  cmake -S "$root/examples/$lang" -B "$work/$lang" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
  cmake --build "$work/$lang" >/dev/null
  run_example "$lang" "$work/$lang/foldback_example_$lang"
done

# The C example compiled by hand with pkg-config, as a Makefile would, from a
# moved copy of the prefix (the .pc file finds its prefix itself).
cp -a "$prefix" "$work/moved"
moved_pc="$work/moved/lib/pkgconfig"
cc -std=c99 -o "$work/c-pkgconfig" "$root/examples/c/main.c" \
   $(PKG_CONFIG_PATH="$moved_pc" pkg-config --cflags --libs foldback libcurl)
run_example c-pkgconfig "$work/c-pkgconfig" "$work/moved/lib"
echo "install + find_package + pkg-config examples (ingest, search, 2-hop ask, feedback): ok"
