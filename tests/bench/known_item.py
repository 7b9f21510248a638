#!/usr/bin/python3
"""Known-item search: does the search find the one thing a lawyer is looking for?

Tasks, built from the data at hand (nothing is labelled by hand):

  mail        a message's subject -> that message (or one of its attachments).
              Messages whose subject is unique in the collection and has a
              content word. Ranked units: foldback's passages (a message
              counts at its first passage); FTS5's rows are messages.
  agreements  a clause's heading -> that clause, within its contract (the
              search is filtered to the document). The headings are the
              section labels foldback's chunker gives the chunks
              (`foldback extract --json --chunks`), numbering stripped
              ("3.2. Termination." -> "Termination"); a hit is relevant when
              its section is that label. Labels repeated within a document
              are skipped. FTS5 indexes the same chunks.
  cuad        the same on the first N CUAD contracts (plain text).

Systems: foldback's default search (hybrid), `--mode bm25`, and SQLite FTS5
(python's sqlite3: porter tokenizer, foldback's stopword list removed from
documents and queries, query terms OR'ed, ranked by bm25()).

Metrics: MRR@10 and nDCG@10 (one relevant item: 1/log2(1 + rank) of its
first appearance in the top 10).

Also prints, on the agreements, the top 5 of "who can terminate the
agreement and with how much notice?" in both modes and how many passages
an offline `ask` returns.

usage: known_item.py --foldback build/bin/foldback [--lib build/bindings/c/libfoldback.so]
                     --data DATA_DIR
                     [--work /tmp/known_item] [--tasks mail,agreements,cuad]
                     [--cuad-docs 60] [--json]

DATA_DIR holds the development data: mail fixtures (the mikel/mail spec
fixtures, MIT; SpamScope/mail-parser tests, Apache-2.0), the Common Paper
(CC BY 4.0) and Bonterms (CC0) agreement templates as .docx, and CUAD v1
(CC BY 4.0, The Atticus Project) — a benchmark, never a test.
"""
import argparse
import ctypes
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def stopwords():
    """foldback's default stopword list, read from its source."""
    src = open(os.path.join(ROOT, "core/src/text/analyzer.cc"), encoding="utf-8").read()
    body = src[src.index("DefaultStopwords()"):]
    body = body[body.index("{", body.index("kWords")) + 1:body.index("};")]
    return set(re.findall(r'"([^"]+)"', body))


QUESTION_WORDS = {"any", "can", "could", "did", "do", "does", "find", "how", "i", "is", "me", "my",
                  "our", "please", "show", "tell", "there", "we", "what", "when", "where",
                  "whether", "which", "who", "why", "would", "you"}
STOP = stopwords()
WORD = re.compile(r"\w+", re.UNICODE)


def words(text):
    return [w for w in WORD.findall(text.lower()) if w not in STOP]


def run(cmd, ok=(0,), **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode not in ok:
        raise SystemExit("failed: %s\n%s" % (" ".join(cmd), r.stderr[-2000:]))
    return r.stdout


def extract(tool, root):
    # Exit status 3: some files were unreadable (reported per file, skipped).
    out = json.loads(run([tool, "extract", "--json", "--chunks", root], ok=(0, 3)))
    docs = []
    for f in out:
        for d in f.get("documents", []):
            docs.append(d)
    return docs


def ingest(tool, root, index):
    shutil.rmtree(index, ignore_errors=True)
    run([tool, "ingest", "--quiet", "--index", index, root], ok=(0, 3))


class Hit(ctypes.Structure):
    _fields_ = [("chunk_id", ctypes.c_char_p), ("doc_id", ctypes.c_char_p), ("text", ctypes.c_char_p),
                ("title", ctypes.c_char_p), ("section", ctypes.c_char_p), ("matter", ctypes.c_char_p),
                ("score", ctypes.c_double)]


class SearchParams(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("top_k", ctypes.c_uint32),
                ("filters", ctypes.POINTER(ctypes.c_char_p)), ("filter_count", ctypes.c_size_t),
                ("restrict_matters", ctypes.c_int),
                ("allowed_matters", ctypes.POINTER(ctypes.c_char_p)),
                ("allowed_matter_count", ctypes.c_size_t), ("use_feedback", ctypes.c_int)]


LIB = None
OPEN = {}


def load_lib(path):
    global LIB
    LIB = ctypes.CDLL(path)
    LIB.fb_index_open.restype = ctypes.c_void_p
    LIB.fb_index_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    LIB.fb_index_free.argtypes = [ctypes.c_void_p]
    LIB.fb_index_last_error.restype = ctypes.c_char_p
    LIB.fb_index_last_error.argtypes = [ctypes.c_void_p]
    LIB.fb_search_default_params.restype = SearchParams
    LIB.fb_index_search.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(SearchParams),
                                    ctypes.POINTER(ctypes.c_void_p)]
    LIB.fb_results_count.restype = ctypes.c_size_t
    LIB.fb_results_count.argtypes = [ctypes.c_void_p]
    LIB.fb_results_get.restype = ctypes.POINTER(Hit)
    LIB.fb_results_get.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    LIB.fb_results_free.argtypes = [ctypes.c_void_p]


def search(tool, index, query, mode, doc_filter=None, k=10):
    """Through libfoldback (one index load per index, not one per query)."""
    if index not in OPEN:
        err = ctypes.c_int(0)
        h = LIB.fb_index_open(index.encode(), ctypes.byref(err))
        if not h:
            raise SystemExit("cannot open %s (error %d)" % (index, err.value))
        OPEN[index] = h
    ix = OPEN[index]
    p = LIB.fb_search_default_params()
    p.mode = {"bm25": 0, "dense": 1, "hybrid": 2}[mode]
    p.top_k = k
    keep = None
    if doc_filter:
        keep = (ctypes.c_char_p * 1)(("id=" + doc_filter).encode())
        p.filters = keep
        p.filter_count = 1
    res = ctypes.c_void_p()
    if LIB.fb_index_search(ix, query.encode(), ctypes.byref(p), ctypes.byref(res)) != 0:
        raise SystemExit("search failed: %s" % LIB.fb_index_last_error(ix))
    hits = []
    for i in range(LIB.fb_results_count(res)):
        h = LIB.fb_results_get(res, i).contents
        hits.append({"doc_id": h.doc_id.decode(), "section": h.section.decode(errors="replace"),
                     "text": h.text.decode(errors="replace"), "score": h.score})
    LIB.fb_results_free(res)
    return hits


def search_cli(tool, index, query, mode, k=5):
    cmd = [tool, "search", "--index", index, "--top-k", str(k), "--json"]
    if mode != "hybrid":
        cmd += ["--mode", mode]
    cmd += ["--", query]
    return json.loads(run(cmd))


def rank_of(hits, relevant):
    """1-based rank of the first relevant hit in the top 10, or None."""
    for i, h in enumerate(hits[:10]):
        if relevant(h):
            return i + 1
    return None


class Score:
    def __init__(self):
        self.mrr = self.ndcg = 0.0
        self.n = 0
        self.found = 0

    def add(self, rank):
        self.n += 1
        if rank:
            self.found += 1
            self.mrr += 1.0 / rank
            self.ndcg += 1.0 / math.log2(1 + rank)

    def row(self):
        n = max(self.n, 1)
        return {"mrr@10": round(self.mrr / n, 4), "ndcg@10": round(self.ndcg / n, 4),
                "found@10": self.found, "queries": self.n}


def fts_query(text):
    terms = [w for w in words(text) if w not in QUESTION_WORDS] or words(text)
    return " OR ".join('"%s"' % t.replace('"', '') for t in terms)


# ------------------------------------------------------------------ mail

def mail_task(tool, tools, data, work, modes):
    roots = [os.path.join(data, "fixtures", d) for d in sorted(os.listdir(os.path.join(data, "fixtures")))
             if d.startswith("mail-")]
    # One folder holding every mail fixture, so ids are unique paths.
    src = os.path.join(work, "mail")
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    for r in roots:
        shutil.copytree(r, os.path.join(src, os.path.basename(r)))
    docs = extract(tools, src)
    index = os.path.join(work, "mail-index")
    ingest(tool, src, index)
    parent = {d["id"]: d.get("parent_id", "") for d in docs}
    subjects = {}
    for d in docs:
        if d["kind"] == "email" and not d.get("parent_id"):
            subjects.setdefault(" ".join(d["title"].lower().split()), []).append(d["id"])
    tasks = []
    for d in docs:
        if d["kind"] != "email" or d.get("parent_id"):
            continue
        key = " ".join(d["title"].lower().split())
        if not words(key) or len(subjects[key]) != 1:
            continue
        tasks.append((d["title"], d["id"]))
    scores = {m: Score() for m in modes}
    misses = {m: [] for m in modes}
    for q, target in tasks:
        rel = lambda h, t=target: h["doc_id"] == t or parent.get(h["doc_id"]) == t
        for m in modes:
            r = rank_of(search(tool, index, q, m), rel)
            scores[m].add(r)
            if r != 1:
                misses[m].append((q, r))
    # FTS5 over messages (and attachments), fields subject / sender / body.
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE m USING fts5(id UNINDEXED, subject, sender, body, "
               "tokenize='porter unicode61')")
    for d in docs:
        md = d.get("metadata", {})
        sender = " ".join(md.get("from", []) + md.get("from_name", []) + md.get("to", []))
        db.execute("INSERT INTO m VALUES (?, ?, ?, ?)",
                   (d["id"], " ".join(words(d["title"])), " ".join(words(sender)),
                    " ".join(words(d["text"]))))
    fts = Score()
    for q, target in tasks:
        rows = db.execute("SELECT id FROM m WHERE m MATCH ? ORDER BY bm25(m) LIMIT 10",
                          (fts_query(q),)).fetchall()
        hits = [{"doc_id": r[0]} for r in rows]
        fts.add(rank_of(hits, lambda h, t=target: h["doc_id"] == t or parent.get(h["doc_id"]) == t))
    out = {m: scores[m].row() for m in modes}
    out["fts5"] = fts.row()
    return out, misses


# ------------------------------------------------------------------ clauses

NUMBERING = re.compile(r"^\s*(?:(?:section|article|clause)\s+[\w.]+[.:\-]?\s*|[\dIVXivx]+(?:\.\d+)*\.?\s+|"
                       r"\(?[a-z0-9]{1,3}\)\s+)", re.IGNORECASE)


def heading_query(label):
    q = NUMBERING.sub("", label).strip()
    q = q.rstrip(".:;-– ").strip()
    if q.endswith("..."):
        return None
    return q if words(q) and len(q.split()) <= 8 else None


def clause_task(tool, tools, root, work, name, modes):
    docs = extract(tools, root)
    index = os.path.join(work, name + "-index")
    ingest(tool, root, index)
    tasks = []
    for d in docs:
        labels = {}
        for c in d.get("chunks", []):
            if c["section"]:
                labels.setdefault(c["section"], 0)
        queries = {}
        for label in labels:
            q = heading_query(label)
            if q:
                queries.setdefault(q.lower(), []).append((q, label))
        for key, items in queries.items():
            if len(items) == 1:
                tasks.append((items[0][0], items[0][1], d["id"]))
    scores = {m: Score() for m in modes}
    misses = {m: [] for m in modes}
    for q, label, doc in tasks:
        rel = lambda h, l=label, d=doc: h["doc_id"] == d and h["section"] == l
        for m in modes:
            r = rank_of(search(tool, index, q, m, doc_filter=doc), rel)
            scores[m].add(r)
            if r != 1:
                misses[m].append((q, r))
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE c USING fts5(doc UNINDEXED, section UNINDEXED, title, body, "
               "tokenize='porter unicode61')")
    for d in docs:
        for c in d.get("chunks", []):
            db.execute("INSERT INTO c VALUES (?, ?, ?, ?)",
                       (d["id"], c["section"], " ".join(words(d["title"])), " ".join(words(c["text"]))))
    fts = Score()
    for q, label, doc in tasks:
        rows = db.execute("SELECT doc, section FROM c WHERE c MATCH ? AND doc = ? ORDER BY bm25(c) LIMIT 10",
                          (fts_query(q), doc)).fetchall()
        hits = [{"doc_id": r[0], "section": r[1]} for r in rows]
        fts.add(rank_of(hits, lambda h, l=label, d=doc: h["doc_id"] == d and h["section"] == l))
    out = {m: scores[m].row() for m in modes}
    out["fts5"] = fts.row()
    return out, misses


def termination(tool, work):
    index = os.path.join(work, "agreements-index")
    q = "who can terminate the agreement and with how much notice?"
    out = {}
    for m in ("hybrid", "bm25"):
        hits = search_cli(tool, index, q, m, k=5)
        out[m] = [{"doc": h["doc_id"],
                   "section": h["section"], "text": " ".join(h["text"].split())[:70],
                   "duplicates": len(h.get("duplicates", []))} for h in hits]
    ask = json.loads(run([tool, "ask", "--index", index, "--rewrite", "rm3", "--json", "--", q]))
    passages = ask.get("results", [])
    out["ask_passages"] = len(passages)
    out["ask"] = [{"section": p.get("section", ""), "text": " ".join(p.get("text", "").split())[:70]}
                  for p in passages]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--foldback", required=True, help="the foldback binary measured")
    ap.add_argument("--lib", help="its libfoldback.so (default: ../bindings/c/libfoldback.so beside "
                                  "the binary's folder)")
    ap.add_argument("--tools", help="binary for `extract --chunks` (default: --foldback)")
    ap.add_argument("--data", required=True, help="development data folder (see the docstring)")
    ap.add_argument("--work", default="/tmp/known_item")
    ap.add_argument("--tasks", default="mail,agreements,cuad")
    ap.add_argument("--cuad-docs", type=int, default=60)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--misses", action="store_true", help="list queries not ranked first")
    a = ap.parse_args()
    tool = os.path.abspath(a.foldback)
    tools = os.path.abspath(a.tools or a.foldback)
    load_lib(os.path.abspath(a.lib or os.path.join(os.path.dirname(tool), "..", "bindings", "c",
                                                    "libfoldback.so")))
    os.makedirs(a.work, exist_ok=True)
    modes = ["hybrid", "bm25"]
    report = {}
    t0 = time.time()
    for task in a.tasks.split(","):
        if task == "mail":
            res, misses = mail_task(tool, tools, a.data, a.work, modes)
        elif task == "agreements":
            # The templates only (template.docx of each folder), named after their folder.
            src = os.path.join(a.work, "agreements")
            shutil.rmtree(src, ignore_errors=True)
            os.makedirs(src)
            base = os.path.join(a.data, "fixtures", "docx-agreements")
            for lic in sorted(os.listdir(base)):
                for t in sorted(os.listdir(os.path.join(base, lic))):
                    f = os.path.join(base, lic, t, "template.docx")
                    if os.path.exists(f):
                        os.symlink(f, os.path.join(src, t + ".docx"))
            res, misses = clause_task(tool, tools, src, a.work, "agreements", modes)
            report["termination"] = termination(tool, a.work)
        elif task == "cuad":
            src = os.path.join(a.work, "cuad")
            shutil.rmtree(src, ignore_errors=True)
            os.makedirs(src)
            full = os.path.join(a.data, "cuad", "full_contract_txt")
            for f in sorted(os.listdir(full))[:a.cuad_docs]:
                os.symlink(os.path.join(full, f), os.path.join(src, f))
            res, misses = clause_task(tool, tools, src, a.work, "cuad", modes)
        else:
            raise SystemExit("unknown task " + task)
        report[task] = res
        if a.misses:
            report[task + "_misses"] = {m: v[:40] for m, v in misses.items()}
    report["seconds"] = round(time.time() - t0, 1)
    if a.json:
        print(json.dumps(report, indent=2))
        return
    print("%-11s %-7s %8s %8s %9s %8s" % ("task", "system", "MRR@10", "nDCG@10", "found@10", "queries"))
    for task in a.tasks.split(","):
        for sysname in modes + ["fts5"]:
            r = report[task][sysname]
            print("%-11s %-7s %8.4f %8.4f %9d %8d" % (task, sysname, r["mrr@10"], r["ndcg@10"],
                                                    r["found@10"], r["queries"]))
    if "termination" in report:
        t = report["termination"]
        print("\n\"who can terminate the agreement and with how much notice?\" (agreements)")
        for m in ("hybrid", "bm25"):
            print("  %s:" % m)
            for h in t[m]:
                dup = " (+%d duplicates)" % h["duplicates"] if h["duplicates"] else ""
                print("    %-45s %s%s" % (h["doc"][:45], h["text"], dup))
        print("  ask (offline, rm3): %d passages" % t["ask_passages"])
    if a.misses:
        for task in a.tasks.split(","):
            for m, v in report[task + "_misses"].items():
                for q, r in v:
                    print("miss %s %s: rank %s  %r" % (task, m, r, q))
    print("(%.0f s)" % report["seconds"])


if __name__ == "__main__":
    main()
