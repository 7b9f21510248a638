#!/usr/bin/env python3
"""Split ContractNLI (span retrieval, BEIR form) by document for measuring
feedback: lawyers give feedback on half of the NDAs (train), and the other
half (test) is evaluated. The same 17 hypotheses recur in every NDA, as the
same questions recur across contracts in due diligence.

    tests/bench/split_contractnli.py DERIVED_DIR OUT_DIR [--seed 13] [--train-fraction 0.5]
        [--by nda|nda+hypothesis] [--train-hypotheses 9]

--by nda (the default): the same questions on other contracts.
--by nda+hypothesis: new questions. The hypotheses are split too
(--train-hypotheses of them, 9 of 17 by default, get feedback; the others
are evaluated), so that no evaluated question — not even its text — is ever
in the feedback set: train = train NDAs x train hypotheses, test = test NDAs
x test hypotheses.

DERIVED_DIR holds queries.jsonl (each query has the field doc_id, and
hypothesis_id for --by nda+hypothesis). OUT_DIR receives
train_queries.jsonl and test_queries.jsonl (lines copied verbatim) and
split.json (which NDAs and hypotheses went where). Deterministic for a given
seed.
"""
import argparse
import json
import os
import random
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("derived_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--train-fraction", type=float, default=0.5)
    ap.add_argument("--by", choices=("nda", "nda+hypothesis"), default="nda")
    ap.add_argument("--train-hypotheses", type=int, default=9)
    a = ap.parse_args()
    if not 0 < a.train_fraction < 1:
        print("--train-fraction must be in (0, 1)", file=sys.stderr)
        return 2
    path = os.path.join(a.derived_dir, "queries.jsonl")
    lines = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            q = json.loads(line)
            if "doc_id" not in q:
                print(f"{path}:{n}: query without doc_id", file=sys.stderr)
                return 1
            if a.by == "nda+hypothesis" and "hypothesis_id" not in q:
                print(f"{path}:{n}: query without hypothesis_id", file=sys.stderr)
                return 1
            lines.append((q["doc_id"], q.get("hypothesis_id", ""),
                          line if line.endswith("\n") else line + "\n"))
    docs = sorted({d for d, _, _ in lines})
    rng = random.Random(a.seed)
    rng.shuffle(docs)
    cut = int(round(len(docs) * a.train_fraction))
    train_docs, test_docs = set(docs[:cut]), set(docs[cut:])
    hyps = sorted({h for _, h, _ in lines})
    train_hyps, test_hyps = set(hyps), set(hyps)
    if a.by == "nda+hypothesis":
        if not 0 < a.train_hypotheses < len(hyps):
            print(f"--train-hypotheses must be in 1..{len(hyps) - 1}", file=sys.stderr)
            return 2
        rng.shuffle(hyps)
        train_hyps, test_hyps = set(hyps[:a.train_hypotheses]), set(hyps[a.train_hypotheses:])
    os.makedirs(a.out_dir, exist_ok=True)
    counts = {}
    for name, keep, keep_h in (("train", train_docs, train_hyps), ("test", test_docs, test_hyps)):
        out = os.path.join(a.out_dir, f"{name}_queries.jsonl")
        with open(out + ".tmp", "w", encoding="utf-8") as f:
            n = 0
            for d, h, line in lines:
                if d in keep and h in keep_h:
                    f.write(line)
                    n += 1
        os.replace(out + ".tmp", out)
        counts[name] = n
    with open(os.path.join(a.out_dir, "split.json"), "w", encoding="utf-8") as f:
        json.dump({"seed": a.seed, "by": a.by, "train_docs": sorted(train_docs),
                   "test_docs": sorted(test_docs), "train_hypotheses": sorted(train_hyps),
                   "test_hypotheses": sorted(test_hyps), "queries": counts}, f, indent=1)
        f.write("\n")
    print(f"{len(train_docs)} NDAs x {len(train_hyps)} hypotheses / {counts['train']} queries for "
          f"feedback, {len(test_docs)} NDAs x {len(test_hyps)} hypotheses / {counts['test']} "
          f"queries for evaluation -> {a.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
