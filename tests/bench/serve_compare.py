#!/usr/bin/env python3
"""Sends the same searches to two `foldback serve` instances on one index
(say, before and after a change) and checks that every response body is
byte for byte the same: the CUAD category descriptions plus a few phrase,
prefix and connector queries, bm25 and hybrid, for each user (each wall).

  tests/bench/serve_compare.py PORT_A PORT_B QUERIES.jsonl TOKEN [TOKEN...]

docs/benchmarks.md, "foldback serve: where a search's time went".
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    ports = [int(sys.argv[1]), int(sys.argv[2])]
    queries = [json.loads(l)["text"] for l in open(sys.argv[3]) if l.strip()]
    queries += ['"termination for convenience"', 'indemnif* /10 "third party"',
                '"insurance" coverage', "terminat* /s convenience"]
    tokens = sys.argv[4:]
    same = differ = 0
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
                if bodies[0] == bodies[1]:
                    same += 1
                else:
                    differ += 1
                    print("differs:", mode, q[:60])
    print(f"{same} identical responses, {differ} different")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
