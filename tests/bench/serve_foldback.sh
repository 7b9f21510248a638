#!/usr/bin/env bash
# What fold-back costs `foldback serve`'s searches, for one or more builds
# of the server in one run (docs/benchmarks.md, "Feedback folded in record
# by record"). For each FOLDBACK binary in turn: a copy of INDEX_DIR (two
# matters, matter-a and matter-b), the server on it (--threads 2, no rate
# limit), a feedback log made through the API (serve_feedback_log.py: the
# QUERIES asked and labelled by alice and bob in their matter, ROUNDS
# rounds), then bm25 searches by alice, bob and carol ("*"), 16 keep-alive
# connections, SECONDS each, fold-back off (feedback=false) and on: QUERIES
# twice, NEW_QUERIES (never asked), then 90 % search + 10 % feedback
# (serve_load's feedback: a record on each user's first query).
#
#   tests/bench/serve_foldback.sh INDEX_DIR QUERIES.jsonl NEW_QUERIES.jsonl FOLDBACK...
#   (env: ROUNDS=3 SECONDS_EACH=8 SERVE_LOAD=build/bin/serve_load PORT=18290)
set -euo pipefail
index=${1:?INDEX_DIR}
queries=${2:?QUERIES.jsonl}
fresh=${3:?NEW_QUERIES.jsonl}
shift 3
here=$(cd "$(dirname "$0")/../.." && pwd)
load=${SERVE_LOAD:-$here/build/bin/serve_load}
rounds=${ROUNDS:-3}
secs=${SECONDS_EACH:-8}
port=${PORT:-18290}
tok() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
users="alice:tok-alice:matter-a,bob:tok-bob:matter-b,carol:tok-carol:*"
for bin in "$@"; do
  work=$(mktemp -d /tmp/foldback-serve-foldback.XXXXXX)
  cp -r "$index" "$work/idx"
  rm -f "$work/idx/feedback.log" "$work/idx/audit.log"
  cat > "$work/users.toml" <<TOML
[[user]]
name = "alice"
token_sha256 = "$(tok tok-alice)"
matters = ["matter-a"]
[[user]]
name = "bob"
token_sha256 = "$(tok tok-bob)"
matters = ["matter-b"]
[[user]]
name = "carol"
token_sha256 = "$(tok tok-carol)"
matters = ["*"]
TOML
  "$bin" serve --index "$work/idx" --users "$work/users.toml" --listen 127.0.0.1:$port \
    --rate-limit 0 --threads 2 > "$work/serve.out" 2>&1 &
  serve_pid=$!
  for _ in $(seq 1 600); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
  sleep 5  # the server's spare copy of the index is made in the background at start
  echo "== $bin ($(uptime | sed 's/.*load/load/'))"
  python3 "$here/tests/bench/serve_feedback_log.py" $port "$queries" "$rounds" \
    alice:tok-alice:matter-a bob:tok-bob:matter-b
  run() {  # LABEL QUERIES MIX SEARCH_PARAMS
    local out
    out=$("$load" --port $port --users "$users" --queries "$2" --connections 16 --seconds "$secs" \
      --mode bm25 --check-walls --mix "$3" ${4:+--search-params "$4"})
    printf '%-34s %s\n' "$1" "$(echo "$out" | head -1 | sed 's/.*requests, //')"
    echo "$out" | grep -E '^  (search|feedback) ' | sed 's/^/    /'
  }
  # The first search of each wall builds its fold-back from the log.
  for u in alice bob carol; do
    curl -s -o /dev/null -w "    first search of $u's wall (its build): %{time_total} s\n" \
      -H "Authorization: Bearer tok-$u" "http://127.0.0.1:$port/v1/search?mode=bm25&q=insurance"
  done
  run "asked questions, off" "$queries" search:1 feedback=false
  run "asked questions, on" "$queries" search:1
  run "asked questions again, off" "$queries" search:1 feedback=false
  run "asked questions again, on" "$queries" search:1
  run "never asked, off" "$fresh" search:1 feedback=false
  run "never asked, on" "$fresh" search:1
  run "90/10 feedback mix, off" "$queries" search:90,feedback:10 feedback=false
  run "90/10 feedback mix, on" "$queries" search:90,feedback:10
  # The lag of what is retrained in the background (servers that count
  # it): one labelled record by alice, then the time until her learned
  # reranker and her wall's adapter are retrained (`rerank=learned` asked
  # once before, so that her wall has a reranker to retrain).
  python3 - $port "$queries" <<'PY' || true
import json, re, sys, time, urllib.request
port, queries = sys.argv[1], [json.loads(l)['text'] for l in open(sys.argv[2]) if l.strip()]
def req(path, body=None):
    r = urllib.request.Request(f'http://127.0.0.1:{port}{path}', method='POST' if body else 'GET',
                               data=json.dumps(body).encode() if body else None,
                               headers={'Authorization': 'Bearer tok-alice',
                                        'Content-Type': 'application/json'})
    return urllib.request.urlopen(r).read().decode()
def counter(name, kind):
    m = re.search(name + r'\{kind="' + kind + r'"\} (\d+)', req('/metrics'))
    return int(m.group(1)) if m else None
if counter('foldback_model_updates_total', 'adapter') is None:
    sys.exit(0)
t = time.time(); req('/v1/search?mode=bm25&rerank=learned&q=' + urllib.parse.quote(queries[5]))
print(f'    first rerank=learned search of alice (its training): {time.time() - t:.2f} s')
a = json.loads(req('/v1/ask', {'question': queries[5], 'hops': 1, 'top_k': 10, 'depth': 10,
                               'rewrite': 'none', 'matter': 'matter-a', 'mode': 'bm25'}))
ids = [h['chunk_id'] for h in a['results']]
learned, adapters = counter('foldback_model_builds_total', 'learned_reranker'), counter('foldback_model_updates_total', 'adapter')
t = time.time()
req('/v1/feedback', {'trace_id': a['trace_id'], 'rating': 'up', 'relevant': ids[4:6], 'irrelevant': ids[:3]})
acked = time.time()
done = {}
while len(done) < 2 and time.time() - acked < 60:
    if 'learned' not in done and counter('foldback_model_builds_total', 'learned_reranker') > learned:
        done['learned'] = time.time() - acked
    if 'adapter' not in done and counter('foldback_model_updates_total', 'adapter') > adapters:
        done['adapter'] = time.time() - acked
    time.sleep(0.005)
print(f'    one record: acknowledged in {acked - t:.3f} s; learned reranker retrained '
      f'{done.get("learned", -1):.2f} s later, adapter {done.get("adapter", -1):.2f} s later')
PY
  kill "$serve_pid"
  wait "$serve_pid" 2>/dev/null || true
  rm -rf "$work"
done
