#!/usr/bin/env bash
# The load and abuse run of `foldback serve` (docs/benchmarks.md, section
# "foldback serve"): 200 keep-alive clients mixing search, ask (against the
# loopback LLM test server) and feedback for SECONDS, a wall check on every
# search hit; then the same load again with a kill -9 of the server 5 s in,
# a restart, and a check that every feedback record acknowledged with 200
# (in both runs) is in the log.
#
#   tests/bench/serve_load.sh INDEX_DIR QUERIES.jsonl [SECONDS] [CLIENTS]
#
# INDEX_DIR must hold documents of two matters, matter-a and matter-b (see
# docs/benchmarks.md for the CUAD split used); it is copied, never changed.
set -euo pipefail
index=${1:?INDEX_DIR}
queries=${2:?QUERIES.jsonl}
seconds=${3:-60}
clients=${4:-200}
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${FOLDBACK_BIN:-$here/build/bin}
work=$(mktemp -d /tmp/foldback-serve-load.XXXXXX)
trap 'kill $llm_pid $serve_pid 2>/dev/null || true; rm -rf "$work"' EXIT
cp -r "$index" "$work/idx"
rm -f "$work/idx/feedback.log" "$work/idx/audit.log"
tok() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
cat > "$work/users.toml" <<TOML
[[user]]
name = "alice"
token_sha256 = "$(tok tok-alice)"
matters = ["matter-a"]
[[user]]
name = "bob"
token_sha256 = "$(tok tok-bob)"
matters = ["matter-b"]
[[user]]
name = "carol"
token_sha256 = "$(tok tok-carol)"
matters = ["*"]
TOML
echo '{"echo": true, "default_delay_ms": 20}' > "$work/llm.json"
"$bin/foldback_llm_test_server" --port 18181 --script "$work/llm.json" > "$work/llm.out" 2>&1 &
llm_pid=$!
start_serve() {
  SERVE_LOAD_KEY=sk-load "$bin/foldback" serve --index "$work/idx" --users "$work/users.toml" \
    --listen 127.0.0.1:18180 --rate-limit 0 --threads 2 --workers 64 \
    --endpoint http://127.0.0.1:18181/v1 --model test --api-key-env SERVE_LOAD_KEY >> "$work/serve.out" 2>&1 &
  serve_pid=$!
  for _ in $(seq 1 600); do grep -q listening "$work/serve.out" 2>/dev/null && return; sleep 0.1; done
  echo "serve did not start"; cat "$work/serve.out"; exit 1
}
start_serve
users="alice:tok-alice:matter-a,bob:tok-bob:matter-b,carol:tok-carol:*"
load() {  # SECONDS ACKED_FILE
  "$bin/serve_load" --port 18180 --users "$users" --queries "$queries" --connections "$clients" \
    --seconds "$1" --mix search:80,ask:10,feedback:10 --mode bm25 --check-walls --acked "$2"
}
echo "== $clients clients, $seconds s"
load "$seconds" "$work/acked1.txt"
echo "== $clients clients again, kill -9 of the server 5 s in"
load 10 "$work/acked2.txt" > "$work/load2.out" 2>&1 &
load_pid=$!
sleep 5
kill -9 "$serve_pid"
wait "$load_pid" || true
head -1 "$work/load2.out"
grep acknowledged "$work/load2.out"
cat "$work/acked1.txt" "$work/acked2.txt" > "$work/acked.txt"
: > "$work/serve.out"
start_serve
"$bin/foldback" feedback --index "$work/idx" --list --json > "$work/list.json"
python3 - "$work/acked.txt" "$work/list.json" <<'PY'
import json, sys
acked = [l.strip() for l in open(sys.argv[1]) if l.strip()]
stored = {r["record_id"] for r in json.load(open(sys.argv[2]))}
lost = [a for a in acked if a not in stored]
print(f"feedback: {len(acked)} acknowledged, {len(stored)} in the log after restart, {len(lost)} lost")
sys.exit(1 if lost else 0)
PY
