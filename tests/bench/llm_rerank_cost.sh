#!/bin/sh
# Cost of `--rerank llm`: requests per query and the latency it adds, with
# the loopback test server (foldback_llm_test_server --echo) answering every
# request after DELAY ms. There is no real model here: the server ranks by
# word overlap, so the nDCG printed says nothing about an LLM's quality.
#
# usage: tests/bench/llm_rerank_cost.sh DATA_DIR [BUILD_DIR] [LIMIT] [DELAYS]
#   DATA_DIR: a BEIR folder (corpus.jsonl, queries.jsonl, qrels/dev.tsv),
#             ContractNLI (CC BY 4.0) in BEIR form: corpus.jsonl, queries.jsonl, qrels/ (queries scoped by doc_id)
#   DELAYS:   server delays in ms, default "0 50"
set -eu
D=$1
B=${2:-build}
LIMIT=${3:-100}
DELAYS=${4:-"0 50"}
FB=$B/bin/foldback
SRV=$B/bin/foldback_llm_test_server
COMMON="eval --corpus $D/corpus.jsonl --queries $D/queries.jsonl --qrels $D/qrels/dev.tsv --scope-field doc_id --limit $LIMIT --json"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

summary() {  # label json
  python3 -c '
import json, sys
j = json.load(open(sys.argv[2]))
r = j.get("rerank", {})
print("%-34s nDCG@10 %.4f  p50 %7.2f ms  p95 %7.2f ms  requests/query %5.2f  rerank ms/query %7.2f  failed %s" % (
    sys.argv[1], j["ndcg@10"], j["query_p50_ms"], j["query_p95_ms"], r.get("requests_per_query", 0),
    r.get("rerank_ms_per_query", 0), r.get("failed", "-")))' "$1" "$2"
}

$FB $COMMON > "$OUT/none.json"
summary "none" "$OUT/none.json"
for delay in $DELAYS; do
  $SRV --echo --quiet --delay-ms "$delay" > "$OUT/srv.log" 2>&1 &
  SRV_PID=$!
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    grep -q listening "$OUT/srv.log" && break
    sleep 0.2
  done
  URL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$OUT/srv.log")
  for depth in 20 50; do
    $FB $COMMON --rerank llm --rerank-depth $depth --endpoint "$URL" --model test > "$OUT/llm.json"
    summary "llm depth $depth, server +${delay} ms" "$OUT/llm.json"
  done
  kill "$SRV_PID"
  wait "$SRV_PID" 2>/dev/null || true
done
