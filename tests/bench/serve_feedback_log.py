#!/usr/bin/env python3
"""Fills a running `foldback serve`'s feedback log through its API, for
measuring fold-back (docs/benchmarks.md, "Fold-back on the serve routes"):
for ROUNDS rounds, each query of QUERIES.jsonl is asked by each USER in
their matter (one hop, no rewrite, 10 passages) and labelled: two passages
relevant (ranks that move with the round), the top three others not.

  tests/bench/serve_feedback_log.py PORT QUERIES.jsonl ROUNDS alice:tok-alice:matter-a ...
"""
import json
import sys
import time
import urllib.request

port, queries_path, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
users = [u.split(':') for u in sys.argv[4:]]
queries = [json.loads(line)['text'] for line in open(queries_path) if line.strip()]


def call(path, token, body):
    req = urllib.request.Request(f'http://127.0.0.1:{port}{path}', method='POST',
                                 data=json.dumps(body).encode(),
                                 headers={'Authorization': 'Bearer ' + token,
                                          'Content-Type': 'application/json'})
    return json.load(urllib.request.urlopen(req))


records = 0
t0 = time.time()
for r in range(rounds):
    for q in queries:
        for name, token, matter in users:
            a = call('/v1/ask', token, {'question': q, 'hops': 1, 'top_k': 10, 'depth': 10,
                                        'rewrite': 'none', 'matter': matter, 'mode': 'bm25'})
            ids = [h['chunk_id'] for h in a['results']]
            if len(ids) < 10:
                continue
            relevant = [ids[(r + 4) % 10], ids[(r + 7) % 10]]
            irrelevant = [c for c in ids[:3] if c not in relevant]
            call('/v1/feedback', token, {'trace_id': a['trace_id'], 'rating': 'up',
                                         'relevant': relevant, 'irrelevant': irrelevant,
                                         'consent': True})
            records += 1
print(f'{records} records in {time.time() - t0:.1f} s')
