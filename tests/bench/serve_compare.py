#!/usr/bin/env python3
"""Sends the same searches to two `foldback serve` instances on one index
(say, before and after a change) and checks that every response body is
byte for byte the same: the CUAD category descriptions plus a few phrase,
prefix and connector queries, bm25 and hybrid, for each user (each wall).

  tests/bench/serve_compare.py [--same-hits] PORT_A PORT_B QUERIES.jsonl TOKEN [TOKEN...]

With --same-hits, two bodies agree when they hold the same hits (chunk
ids) in the same order, and the largest relative score difference is
reported: for a change that sums BM25 in another float order.

docs/benchmarks.md, "foldback serve: where a search's time went" and
"Block-max MaxScore for served searches".
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def main():
    args = sys.argv[1:]
    same_hits = args[:1] == ["--same-hits"]
    if same_hits:
        args = args[1:]
    if len(args) < 4:
        sys.exit(__doc__)
    ports = [int(args[0]), int(args[1])]
    queries = [json.loads(l)["text"] for l in open(args[2]) if l.strip()]
    queries += ['"termination for convenience"', 'indemnif* /10 "third party"',
                '"insurance" coverage', "terminat* /s convenience"]
    tokens = args[3:]
    same = differ = 0
    largest = 0.0
    for mode in ["bm25", "hybrid"]:
        for tok in tokens:
            for q in queries:
                bodies = []
                for p in ports:
                    url = (f"http://127.0.0.1:{p}/v1/search?mode={mode}&top_k=10&q="
                           + urllib.parse.quote(q))
                    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + tok})
                    try:
                        bodies.append(urllib.request.urlopen(req).read())
                    except urllib.error.HTTPError as e:
                        bodies.append(b"%d " % e.code + e.read())
                if bodies[0] != bodies[1] and same_hits:
                    try:
                        hits = [json.loads(b)["results"] for b in bodies]
                    except (ValueError, KeyError):
                        hits = None
                    if hits and [h["chunk_id"] for h in hits[0]] == [h["chunk_id"] for h in hits[1]]:
                        for x, y in zip(hits[0], hits[1]):
                            if x["score"] != y["score"]:
                                largest = max(largest, abs(x["score"] - y["score"]) / abs(y["score"]))
                        bodies[1] = bodies[0]
                if bodies[0] == bodies[1]:
                    same += 1
                else:
                    differ += 1
                    print("differs:", mode, q[:60])
    if same_hits:
        print(f"{same} responses with the same hits, {differ} different; "
              f"largest relative score difference {largest:.2e}")
    else:
        print(f"{same} identical responses, {differ} different")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
