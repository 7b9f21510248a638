#!/usr/bin/env bash
# feedback_learning.sh CONTRACTNLI_DERIVED_DIR [FOLDBACK] [SEEDS...]
#
# What lawyers' feedback teaches, on ContractNLI (dev, span retrieval):
# split the NDAs in two (tests/bench/split_contractnli.py), simulate
# feedback on one half, evaluate the other, for each search mode and seed.
# Prints a Markdown table of nDCG@10 (baseline, Rocchio, adapter, all).
#
#   tests/bench/feedback_learning.sh $CONTRACTNLI_DERIVED build/bin/foldback 13 1 2 3
set -euo pipefail
DATA=${1:?usage: feedback_learning.sh CONTRACTNLI_DERIVED_DIR [FOLDBACK] [SEEDS...]}
FOLDBACK=${2:-build/bin/foldback}
shift $(($# >= 2 ? 2 : 1))
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(13)
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/foldback-learning.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "| mode | seed | baseline | rocchio | adapter | all | all vs baseline | adapter pairs, loss | build (all) |"
echo "|---|---|---|---|---|---|---|---|---|"
for seed in "${SEEDS[@]}"; do
  python3 "$HERE/split_contractnli.py" "$DATA" "$WORK/$seed" --seed "$seed" >/dev/null
  for mode in bm25 dense hybrid; do
    "$FOLDBACK" eval --corpus "$DATA/corpus.jsonl" --queries "$WORK/$seed/test_queries.jsonl" \
      --qrels "$DATA/qrels/dev.tsv" --scope-field doc_id --mode "$mode" \
      --feedback-queries "$WORK/$seed/train_queries.jsonl" --json >"$WORK/out.json"
    python3 - "$WORK/out.json" "$mode" "$seed" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
m = d["methods"]
a = m.get("adapter", {})
pairs = f'{a.get("adapter_pairs", 0)}, {a.get("adapter_loss_before", 0):.2f} → {a.get("adapter_loss_after", 0):.2f}' if a.get("adapter_trained") else "—"
print(f'| {sys.argv[2]} | {sys.argv[3]} | {d["baseline"]["ndcg@10"]:.4f} | {m["rocchio"]["ndcg@10"]:.4f} | '
      f'{a.get("ndcg@10", 0):.4f} | {d["with_feedback"]["ndcg@10"]:.4f} | '
      f'{100 * d["ndcg@10_relative_gain"]:+.1f}% | {pairs} | {d["with_feedback"]["build_s"]:.2f}s |')
EOF
  done
done
