#!/usr/bin/env bash
# Synthetic training questions at scale (issue 12 item 2, issue 15's
# `synthesize` kind): ingest a corpus, sample N passages, run a synthesize
# job against the standalone test LLM server (echo mode: deterministic
# questions, DELAY_MS per reply), export the pairs and train the embedder on
# structure + llm pairs vs structure alone. Measures throughput only: the
# test server's questions are word salad from the passage, so nothing here
# says whether real LLM questions improve retrieval.
#
#   tests/bench/synthesize_bench.sh CORPUS [N] [CONCURRENCY] [DELAY_MS] [FOLDBACK] [SERVER]
#
# CORPUS: a folder or a BEIR corpus.jsonl (e.g. ContractNLI dev's
# derived/corpus.jsonl). Prints one JSON line of figures.
set -euo pipefail
CORPUS=$1
N=${2:-2000}
CONC=${3:-16}
DELAY=${4:-200}
FB=${5:-build/bin/foldback}
SERVER=${6:-build/bin/foldback_llm_test_server}
W=$(mktemp -d /tmp/synth-bench.XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }

"$FB" ingest --index "$W/idx" --quiet "$CORPUS" >/dev/null
"$SERVER" --port 0 --echo --delay-ms "$DELAY" --quiet >"$W/server.out" 2>/dev/null &
SERVER_PID=$!
for _ in $(seq 100); do grep -q listening "$W/server.out" 2>/dev/null && break; sleep 0.05; done
URL=$(sed -n 's/^listening on //p' "$W/server.out")
export SYNTH_BENCH_KEY=sk-bench-not-a-secret

STORE="sqlite:$W/jobs.sqlite"
t0=$(now)
JOB=$("$FB" jobs submit --store "$STORE" --index "$W/idx" --kind synthesize --sample "$N" \
  --questions-per-passage 3 --endpoint "$URL" --model bench --api-key-env SYNTH_BENCH_KEY)
t1=$(now)
"$FB" jobs work --store "$STORE" --concurrency "$CONC" --until-idle >"$W/work.out"
t2=$(now)
"$FB" jobs results --store "$STORE" "$JOB" --out "$W/pairs.jsonl" >"$W/results.out"
ITEMS=$("$FB" jobs status --store "$STORE" "$JOB" --json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["done"], j["failed"], j["total"])')
PAIRS=$(wc -l <"$W/pairs.jsonl")

cp -r "$W/idx" "$W/idx-plain"
t3=$(now)
"$FB" train --index "$W/idx-plain" --json >"$W/train-plain.json" 2>/dev/null
t4=$(now)
"$FB" train --index "$W/idx" --pairs "$W/pairs.jsonl" --json >"$W/train-llm.json" 2>/dev/null
t5=$(now)

python3 - "$W" "$ITEMS" "$PAIRS" "$(secs $t0 $t1)" "$(secs $t1 $t2)" "$(secs $t3 $t4)" "$(secs $t4 $t5)" "$CONC" "$DELAY" <<'EOF'
import json, sys
w, items, pairs, submit_s, work_s, plain_s, llm_s, conc, delay = sys.argv[1:]
done, failed, total = map(int, items.split())
plain = json.load(open(w + "/train-plain.json"))
llm = json.load(open(w + "/train-llm.json"))
print(json.dumps({
    "passages": total, "done": done, "failed": failed, "pairs": int(pairs),
    "concurrency": int(conc), "server_delay_ms": float(delay),
    "submit_s": round(float(submit_s), 2), "work_s": round(float(work_s), 2),
    "items_per_s": round(done / float(work_s), 1),
    "bound_items_per_s": round(int(conc) / (float(delay) / 1000), 1) if float(delay) > 0 else None,
    "train_structure": {"pairs": plain["pairs_total"], "loss": [plain["loss_before"], plain["loss_after"]], "s": round(float(plain_s), 1)},
    "train_structure_llm": {"pairs": llm["pairs_total"], "llm_pairs": llm["pairs"].get("llm"), "loss": [llm["loss_before"], llm["loss_after"]], "s": round(float(llm_s), 1)},
}))
EOF
