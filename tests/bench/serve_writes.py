#!/usr/bin/env python3
"""Write latency of `foldback serve`: POST /v1/documents and DELETE, one
document per request, on one keep-alive connection, against a running
server. Prints one line per write and the median/max.

  tests/bench/serve_writes.py --port 18090 --token tok-carol --matter matter-a --writes 10

The token's user must be allowed to write to the matter. Each document is a
short clause with a unique word, so the next search can check it is there.
"""
import argparse
import http.client
import json
import statistics
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--matter", required=True)
    ap.add_argument("--writes", type=int, default=10)
    ap.add_argument("--prefix", default="bench")
    a = ap.parse_args()
    conn = http.client.HTTPConnection(a.host, a.port, timeout=600)
    auth = {"Authorization": "Bearer " + a.token}
    adds, deletes = [], []
    for i in range(a.writes):
        doc_id = f"{a.prefix}-{i}"
        body = json.dumps({"matter": a.matter, "id": doc_id, "title": f"Bench {i}",
                           "text": f"Either party may terminate on notice. benchword{a.prefix}{i} applies."})
        t0 = time.perf_counter()
        conn.request("POST", "/v1/documents", body, {**auth, "Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        adds.append(time.perf_counter() - t0)
        assert r.status == 201, r.status
        conn.request("GET", f"/v1/search?mode=bm25&top_k=1&q=benchword{a.prefix}{i}", headers=auth)
        s = conn.getresponse()
        hits = json.loads(s.read())["results"]
        assert hits and hits[0]["doc_id"] == doc_id, hits
        print(f"add {doc_id}: {adds[-1] * 1000:.1f} ms", flush=True)
    for i in range(a.writes):
        doc_id = f"{a.prefix}-{i}"
        t0 = time.perf_counter()
        conn.request("DELETE", f"/v1/documents/{doc_id}", headers=auth)
        r = conn.getresponse()
        r.read()
        deletes.append(time.perf_counter() - t0)
        assert r.status == 200, r.status
        print(f"delete {doc_id}: {deletes[-1] * 1000:.1f} ms", flush=True)
    for name, xs in (("add", adds), ("delete", deletes)):
        print(f"{name}: n={len(xs)} median {statistics.median(xs) * 1000:.1f} ms, "
              f"max {max(xs) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
