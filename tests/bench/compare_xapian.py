#!/usr/bin/python3
"""Side-by-side retrieval comparison: Xapian 1.4 (BM25) vs `foldback eval --mode bm25`.

Run with Debian's python (python3-xapian lives there):

    /usr/bin/python3 tests/bench/compare_xapian.py \
        --corpus ../shared/data/contractnli/derived/corpus.jsonl \
        --queries ../shared/data/contractnli/derived/queries.jsonl \
        --qrels ../shared/data/contractnli/derived/qrels/dev.tsv --scope-field doc_id

    /usr/bin/python3 tests/bench/compare_xapian.py \
        --corpus ../shared/data/cuad/full_contract_txt \
        --queries ../shared/data/cuad/derived/queries_global.jsonl \
        --qrels ../shared/data/cuad/derived/qrels/doc_level.tsv

Xapian side, as xapian-omega indexes and searches by default:
  * TermGenerator with the English Snowball stemmer, STEM_SOME; the title
    (the file name for a folder of .txt files, as foldback uses it) then the
    text of each corpus entry, one Xapian document per entry (whole contracts
    for CUAD: Xapian has no chunker);
  * QueryParser with the same stemmer, STEM_SOME, FLAG_DEFAULT, default OR
    (a query that fails to parse is retried with no flags); BM25Weight() with
    its defaults (k1=1, k2=0, k3=1, b=0.5, min_normlen=0.5);
  * --scope-field F: every entry gets the boolean term "XS<value of F>" and
    each query is filtered (OP_FILTER) on its own value.

Metrics as pytrec_eval / trec_eval compute them: the run is sorted by score,
ties broken by descending document id; nDCG@10 with linear gains and the ideal
DCG over all relevant documents of the query; Recall@k over all relevant
documents; MRR@10 = 1/rank of the first relevant document within the top 10.
Queries are those of the qrels with at least one relevant document (a query
with no result scores 0 — as `foldback eval` counts it).

Timings: index build covers adding the documents and committing (corpus
reading excluded, as in foldback eval); query latency covers parsing, the
match (top 100) and reading the ids. Both sides run one after the other on
the same machine; foldback's numbers come from its own --json output.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import xapian
except ImportError:  # pragma: no cover - depends on the interpreter
    sys.exit("error: the xapian module is missing; run with /usr/bin/python3 "
             "(Debian package python3-xapian)")

DEPTH = 100


def fail(msg):
    sys.exit("error: " + msg)


def load_corpus(path):
    """Returns [(id, title, text, fields)] from corpus.jsonl or a folder of .txt/.md files."""
    docs = []
    if os.path.isdir(path):
        for name in sorted(os.listdir(path)):
            low = name.lower()
            ext = ".txt" if low.endswith(".txt") else ".md" if low.endswith(".md") else None
            if not ext:
                continue
            with open(os.path.join(path, name), "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
            docs.append((name[: -len(ext)], name, text, {}))
        if not docs:
            fail(f"{path}: no .txt or .md files")
        return docs
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                fail(f"{path}:{lineno}: not JSON ({e})")
            if "_id" not in rec:
                fail(f"{path}:{lineno}: no _id")
            fields = {k: v for k, v in rec.items() if k not in ("_id", "title", "text")}
            docs.append((str(rec["_id"]), rec.get("title") or "", rec.get("text") or "", fields))
    return docs


def load_queries(path):
    queries = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                fail(f"{path}:{lineno}: not JSON ({e})")
            queries.append((str(rec["_id"]), rec.get("text") or "", rec, lineno))
    return queries


def load_qrels(path):
    qrels = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if lineno == 1 and parts and parts[0] == "query-id":
                continue
            if not line.strip():
                continue
            if len(parts) != 3:
                fail(f"{path}:{lineno}: expected 3 tab-separated columns")
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def scope_value(fields, field, where):
    if field not in fields:
        fail(f"{where}: no field '{field}' (--scope-field)")
    v = fields[field]
    return v if isinstance(v, str) else json.dumps(v)


# --- metrics (trec_eval semantics) ------------------------------------------

def trec_order(scored):
    """[(doc_id, score)] -> ids by decreasing score, ties by decreasing id (trec_eval)."""
    return [d for d, _ in sorted(scored, key=lambda x: (x[1], x[0]), reverse=True)]


def score_query(ranked, rel):
    gains = sorted((g for g in rel.values() if g > 0), reverse=True)
    if not gains:
        return None
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:10]))
    dcg = 0.0
    hits = {5: 0, 10: 0, 100: 0}
    mrr = 0.0
    for rank, doc in enumerate(ranked[:DEPTH], 1):
        g = rel.get(doc, 0)
        if g <= 0:
            continue
        if rank <= 10:
            dcg += g / math.log2(rank + 1)
            if mrr == 0.0:
                mrr = 1.0 / rank
        for k in hits:
            if rank <= k:
                hits[k] += 1
    n = len(gains)
    return {"ndcg@10": dcg / idcg, "recall@5": hits[5] / n, "recall@10": hits[10] / n,
            "recall@100": hits[100] / n, "mrr@10": mrr}


def percentile(values, p):
    """Nearest rank on the sorted values, as foldback eval reports it."""
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]


# --- Xapian -----------------------------------------------------------------

def run_xapian(docs, queries, qrels, scope_field, backend):
    stemmer = xapian.Stem("english")
    tmpdir = None
    if backend == "inmemory":
        db = xapian.WritableDatabase("", xapian.DB_BACKEND_INMEMORY)
    else:
        tmpdir = tempfile.mkdtemp(prefix="foldback-xapian-")
        db = xapian.WritableDatabase(os.path.join(tmpdir, "db"), xapian.DB_CREATE_OR_OVERWRITE)
    try:
        tg = xapian.TermGenerator()
        tg.set_stemmer(stemmer)
        tg.set_stemming_strategy(xapian.TermGenerator.STEM_SOME)
        ids = [None]  # Xapian docids start at 1
        t0 = time.perf_counter()
        for doc_id, title, text, fields in docs:
            xdoc = xapian.Document()
            tg.set_document(xdoc)
            if title:
                tg.index_text(title)
                tg.increase_termpos()
            tg.index_text(text)
            if scope_field:
                xdoc.add_boolean_term("XS" + scope_value(fields, scope_field, f"corpus entry '{doc_id}'"))
            db.add_document(xdoc)
            ids.append(doc_id)
        db.commit()
        build_s = time.perf_counter() - t0
        index_bytes = 0
        if tmpdir:
            for root, _, files in os.walk(tmpdir):
                index_bytes += sum(os.path.getsize(os.path.join(root, f)) for f in files)

        qp = xapian.QueryParser()
        qp.set_stemmer(stemmer)
        qp.set_stemming_strategy(xapian.QueryParser.STEM_SOME)
        qp.set_database(db)
        qp.set_default_op(xapian.Query.OP_OR)
        enquire = xapian.Enquire(db)
        enquire.set_weighting_scheme(xapian.BM25Weight())

        per_query, latencies, parse_errors = [], [], 0
        for qid, text, rec, lineno in queries:
            rel = qrels.get(qid)
            if rel is None or not any(g > 0 for g in rel.values()):
                continue
            scope = scope_value(rec, scope_field, f"queries line {lineno}") if scope_field else None
            t = time.perf_counter()
            try:
                query = qp.parse_query(text, xapian.QueryParser.FLAG_DEFAULT)
            except xapian.QueryParserError:
                parse_errors += 1
                query = qp.parse_query(text, 0)
            if scope is not None:
                query = xapian.Query(xapian.Query.OP_FILTER, query, xapian.Query("XS" + scope))
            enquire.set_query(query)
            mset = enquire.get_mset(0, DEPTH)
            scored = [(ids[m.docid], m.weight) for m in mset]
            latencies.append((time.perf_counter() - t) * 1000)
            per_query.append(score_query(trec_order(scored), rel))
        return {"build_s": build_s, "latencies": latencies, "per_query": per_query,
                "index_bytes": index_bytes, "parse_errors": parse_errors}
    finally:
        db.close()
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


# --- foldback ---------------------------------------------------------------

def run_foldback(binary, args):
    cmd = [binary, "eval", "--corpus", args.corpus, "--queries", args.queries,
           "--qrels", args.qrels, "--mode", "bm25", "--json"]
    if args.scope_field:
        cmd += ["--scope-field", args.scope_field]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        fail(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    try:
        return json.loads(proc.stdout), cmd
    except json.JSONDecodeError:
        fail(f"foldback eval printed no JSON: {proc.stdout[:200]!r}")


def self_test():
    """Checks the metric code on hand-computed cases; `--self-test`."""
    # Ties: equal scores are ordered by decreasing id, as trec_eval does.
    assert trec_order([("a", 1.0), ("c", 2.0), ("b", 1.0)]) == ["c", "b", "a"]
    m = score_query(["a", "b", "c"], {"b": 1, "d": 1, "e": 0})
    ideal = 1 + 1 / math.log2(3)
    assert abs(m["ndcg@10"] - (1 / math.log2(3)) / ideal) < 1e-12
    assert m["recall@5"] == 0.5 and m["recall@100"] == 0.5 and m["mrr@10"] == 0.5
    # Graded gains are linear (trec_eval ndcg_cut), the ideal DCG uses every
    # relevant document even beyond the run.
    m = score_query(["x", "y"], {"x": 1, "y": 2, "z": 2})
    dcg = 1 + 2 / math.log2(3)
    idcg = 2 + 2 / math.log2(3) + 1 / math.log2(4)
    assert abs(m["ndcg@10"] - dcg / idcg) < 1e-12
    # A relevant document at rank 11 counts for Recall@100, not for MRR@10.
    ranked = [f"n{i}" for i in range(10)] + ["r"]
    m = score_query(ranked, {"r": 1})
    assert m["mrr@10"] == 0 and m["recall@10"] == 0 and m["recall@100"] == 1
    assert score_query(["a"], {"a": 0}) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    print("compare_xapian.py self-test: 6 passed, 0 failed")


def main():
    if "--self-test" in sys.argv[1:]:
        self_test()
        return
    here = os.path.dirname(os.path.abspath(__file__))
    default_bin = os.path.normpath(os.path.join(here, "..", "..", "build", "bin", "foldback"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, help="BEIR corpus.jsonl or a folder of .txt files")
    ap.add_argument("--queries", required=True, help="BEIR queries.jsonl")
    ap.add_argument("--qrels", required=True, help="qrels TSV with a header line")
    ap.add_argument("--scope-field", default="", help="restrict each query to entries whose FIELD equals the query's")
    ap.add_argument("--foldback", default=default_bin, help=f"foldback binary (default {default_bin})")
    ap.add_argument("--xapian-backend", choices=["glass", "inmemory"], default="glass",
                    help="glass: a database in a temp dir (default); inmemory: Xapian's InMemory backend")
    ap.add_argument("--skip-foldback", action="store_true", help="only run Xapian")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args()

    for p in (args.corpus, args.queries, args.qrels):
        if not os.path.exists(p):
            fail(f"{p}: no such file or directory")
    if not args.skip_foldback and not os.access(args.foldback, os.X_OK):
        fail(f"{args.foldback}: not an executable (build it: cmake --build build --target foldback)")

    docs = load_corpus(args.corpus)
    queries = load_queries(args.queries)
    qrels = load_qrels(args.qrels)

    x = run_xapian(docs, queries, qrels, args.scope_field, args.xapian_backend)
    n = len(x["per_query"])
    if n == 0:
        fail("no query of the queries file has a relevant document in the qrels")
    xm = {k: sum(q[k] for q in x["per_query"]) / n for k in x["per_query"][0]}
    total_ms = sum(x["latencies"])
    xapian_row = dict(xm, queries=n, index_build_s=x["build_s"],
                      query_p50_ms=percentile(x["latencies"], 0.5),
                      query_p95_ms=percentile(x["latencies"], 0.95),
                      qps=n / (total_ms / 1000) if total_ms else 0.0,
                      index_bytes=x["index_bytes"], documents=len(docs),
                      parse_errors=x["parse_errors"], backend=args.xapian_backend,
                      version=xapian.version_string())

    fb, cmd = (None, None) if args.skip_foldback else run_foldback(args.foldback, args)

    if args.json:
        print(json.dumps({"xapian": xapian_row, "foldback": fb, "foldback_command": cmd}, indent=2))
        return

    # (label, key, format, higher is better)
    rows = [("nDCG@10", "ndcg@10", "{:.4f}", True), ("Recall@5", "recall@5", "{:.4f}", True),
            ("Recall@10", "recall@10", "{:.4f}", True), ("Recall@100", "recall@100", "{:.4f}", True),
            ("MRR@10", "mrr@10", "{:.4f}", True), ("queries", "queries", "{:d}", None),
            ("index build s", "index_build_s", "{:.3f}", False),
            ("query p50 ms", "query_p50_ms", "{:.3f}", False),
            ("query p95 ms", "query_p95_ms", "{:.3f}", False), ("QPS", "qps", "{:.0f}", True),
            ("index bytes", "index_bytes", "{:d}", False)]
    print(f"corpus {args.corpus}: {len(docs)} entries; {n} judged queries"
          + (f"; scope {args.scope_field}" if args.scope_field else ""))
    print(f"Xapian {xapian.version_string()} ({args.xapian_backend}, BM25Weight defaults); "
          + (f"foldback bm25 k1={fb.get('bm25_k1')} b={fb.get('bm25_b')}, {fb.get('chunks')} chunks"
             if fb else "foldback skipped"))
    # The last column is foldback's advantage: > 1 means foldback does better
    # (higher quality or QPS, less time or fewer bytes).
    print(f"{'':16s}{'Xapian':>14s}{'foldback':>14s}{'foldback advantage':>20s}")
    for label, key, fmt, higher in rows:
        xv = xapian_row.get(key)
        fv = fb.get(key) if fb else None
        xs = fmt.format(xv) if xv is not None else "-"
        fs = fmt.format(fv) if fv is not None else "-"
        ratio = "-"
        if higher is not None and isinstance(xv, (int, float)) and isinstance(fv, (int, float)) \
                and xv and fv:
            ratio = f"{(fv / xv if higher else xv / fv):.2f}x"
        print(f"{label:16s}{xs:>14s}{fs:>14s}{ratio:>20s}")
    if x["parse_errors"]:
        print(f"({x['parse_errors']} queries failed FLAG_DEFAULT parsing and ran with no flags)")
    if fb:
        print("foldback: " + " ".join(cmd))


if __name__ == "__main__":
    main()
