#!/usr/bin/env bash
# rerank_generalization.sh CONTRACTNLI_DERIVED_DIR [FOLDBACK] [SEEDS...]
#
# Does feedback on some questions help on new ones? On ContractNLI dev (span
# retrieval, hybrid), for each seed, two splits (tests/bench/split_contractnli.py):
#   same — by NDA: the feedback questions come back on other contracts;
#   new  — by NDA and hypothesis: feedback on 9 hypotheses, evaluation of
#          the other 8 on other NDAs (no evaluated question's text is ever
#          in the feedback).
# Prints a Markdown table of nDCG@10 per method (fold-back's Rocchio and
# adapter, the learned reranker, the embedder fine-tuned on the labels, all
# together — "all" over the fine-tuned embedder) and the relative gains; the
# gate column gives the reranker's gate, then (after "all:") the gate of the
# reranker "all" applies, trained within fold-back's lists.
# METHODS (environment) replaces the methods (default
# rocchio,adapter,rerank,finetune; rocchio, adapter and rerank are needed).
# EXTRA_ARGS (environment) is appended to every `foldback eval`, e.g.
# EXTRA_ARGS="--feedback-depth 5 --feedback-label-rate 0.6" for an imperfect lawyer.
#
#   tests/bench/rerank_generalization.sh $CONTRACTNLI_DERIVED build/bin/foldback 13 1 2
set -euo pipefail
DATA=${1:?usage: rerank_generalization.sh CONTRACTNLI_DERIVED_DIR [FOLDBACK] [SEEDS...]}
FOLDBACK=${2:-build/bin/foldback}
shift $(($# >= 2 ? 2 : 1))
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(13 1 2)
SPLITS=${SPLITS:-"new same"}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/foldback-rerank.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "| split | seed | baseline | rocchio | adapter | rerank | finetune | all | rocchio+adapter(+finetune) gain | rerank gain | finetune gain | all gain | rerank gate |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for split in $SPLITS; do
  for seed in "${SEEDS[@]}"; do
    by=nda
    [ "$split" = new ] && by=nda+hypothesis
    python3 "$HERE/split_contractnli.py" "$DATA" "$WORK/$split-$seed" --seed "$seed" --by "$by" >/dev/null
    # shellcheck disable=SC2086
    "$FOLDBACK" eval --corpus "$DATA/corpus.jsonl" --queries "$WORK/$split-$seed/test_queries.jsonl" \
      --qrels "$DATA/qrels/dev.tsv" --scope-field doc_id --mode hybrid \
      --feedback-queries "$WORK/$split-$seed/train_queries.jsonl" \
      --feedback-methods ${METHODS:-rocchio,adapter,rerank,finetune} ${EXTRA_ARGS:-} --json >"$WORK/out.json"
    python3 - "$WORK/out.json" "$split" "$seed" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m = d["methods"]
b = d["baseline"]["ndcg@10"]
g = lambda x: f'{100 * (x - b) / b:+.1f}%'
def gate(models):
    return "; ".join(("open" if x["gate_open"] else "closed") +
                     f' (held-out {x.get("validation_question_ndcg_gain", x["validation_ndcg_gain"]):+.3f}'
                     f' ± {x.get("validation_stderr", 0):.3f})' for x in models) or "no model"
# The reranker alone, and the one "all" applies (trained within fold-back's lists).
gates = gate(m["rerank"].get("models", []))
if "rerank_models" in d["with_feedback"]:
    gates += " / all: " + gate(d["with_feedback"]["rerank_models"])
ft = m.get("finetune")
print(f'| {sys.argv[2]} | {sys.argv[3]} | {b:.4f} | {m["rocchio"]["ndcg@10"]:.4f} | {m["adapter"]["ndcg@10"]:.4f} | '
      f'{m["rerank"]["ndcg@10"]:.4f} | {ft["ndcg@10"] if ft else float("nan"):.4f} | {d["with_feedback"]["ndcg@10"]:.4f} | '
      f'{g(m["all_without_rerank"]["ndcg@10"])} | {g(m["rerank"]["ndcg@10"])} | {g(ft["ndcg@10"]) if ft else "-"} | '
      f'{g(d["with_feedback"]["ndcg@10"])} | {gates} |')
PY
  done
done
