#!/usr/bin/env bash
# jobs_kill_loop.sh KILLS [DOCS] [FOLDBACK] [SERVER] [WORKDIR]
#
# Crash safety of `foldback jobs`: a map job over DOCS generated documents
# (default 200) against the standalone test LLM server (40 ms a reply);
# KILLS times a worker (--concurrency 4, leases of 1.5 s) is started and
# killed with kill -9 at a random moment (0.05 to 0.8 s in), sometimes two
# workers at once; then one last worker finishes the job. Afterwards:
#   - every document is done exactly once: one result line per document,
#     none missing, none twice, no failed item;
#   - the LLM was called again for a document only after its lease had
#     ended: two requests for the same document are at least the lease
#     apart (the server's arrival times), and re-issued requests are at most
#     kills x concurrency.
# FOLDBACK defaults to build/bin/foldback, SERVER to
# build/bin/foldback_llm_test_server; WORKDIR to a fresh temp folder
# (removed afterwards unless KEEP=1).
#
# STORE=postgresql runs the same on a PostgreSQL server of its own
# (PG_SERVER, default build/bin/foldback_pg_test_server; exit 77 when no
# PostgreSQL server is installed), and then restarts that server
# (immediate stop: crash recovery) while a worker runs: the worker
# reconnects, or fails with a clear error and the next one finishes; the
# checks are the same.
set -euo pipefail

KILLS=${1:?usage: jobs_kill_loop.sh KILLS [DOCS] [FOLDBACK] [SERVER] [WORKDIR]}
DOCS=${2:-200}
FB=${3:-build/bin/foldback}
SERVER=${4:-build/bin/foldback_llm_test_server}
WORK=${5:-}
LEASE_MS=1500
CONC=4
OWN_WORK=0
if [ -z "$WORK" ]; then
  OWN_WORK=1
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/foldback-jobs-kill.XXXXXX")
  [ "${KEEP:-0}" = 1 ] || trap 'kill $SPID 2>/dev/null || true; rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK/docs"
SPID=""

fail() {
  echo "jobs_kill_loop: FAILED: $*" >&2
  echo "jobs_kill_loop: work folder $WORK" >&2
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
  [ -n "${PGPID:-}" ] && kill "$PGPID" 2>/dev/null
  trap - EXIT
  exit 1
}

# ---- documents, each with a unique marker word the requests are told apart by
for i in $(seq 1 "$DOCS"); do
  printf 'Memo %d. The marker is docmark%05dz. Counsel reviewed clause %d of the agreement.\n' \
    "$i" "$i" "$i" >"$WORK/docs/memo$i.txt"
done
"$FB" ingest --index "$WORK/idx" --matter m "$WORK/docs" >/dev/null 2>&1 || fail "ingest"

# ---- the server
"$SERVER" --delay-ms 40 --quiet >"$WORK/server.out" 2>"$WORK/server.err" &
SPID=$!
for _ in $(seq 1 100); do
  grep -q listening "$WORK/server.out" 2>/dev/null && break
  sleep 0.05
done
URL=$(sed -n 's/^listening on //p' "$WORK/server.out")
[ -n "$URL" ] || fail "the test server did not start"
BASE=${URL%/v1}

export FOLDBACK_JOBS_KILL_KEY=sk-kill-loop-key
STORE_KIND=${STORE:-sqlite}
PGPID=""
if [ "$STORE_KIND" = postgresql ]; then
  PGS=${PG_SERVER:-build/bin/foldback_pg_test_server}
  "$PGS" >"$WORK/pg.out" 2>"$WORK/pg.err" &
  PGPID=$!
  trap 'kill $SPID $PGPID 2>/dev/null || true; wait $PGPID 2>/dev/null || true; [ "$OWN_WORK" = 1 ] && [ "${KEEP:-0}" != 1 ] && rm -rf "$WORK"' EXIT
  for _ in $(seq 1 600); do
    grep -q '^ready' "$WORK/pg.out" 2>/dev/null && break
    if ! kill -0 "$PGPID" 2>/dev/null; then
      wait "$PGPID" && rc=0 || rc=$?
      [ "$rc" = 77 ] && { echo "jobs_kill_loop: skipped: $(cat "$WORK/pg.err")"; exit 77; }
      fail "the PostgreSQL test server did not start: $(cat "$WORK/pg.err")"
    fi
    sleep 0.1
  done
  STORE=$(sed -n 's/^url //p' "$WORK/pg.out")
  [ -n "$STORE" ] || fail "the PostgreSQL test server did not start: $(cat "$WORK/pg.err")"
else
  STORE="sqlite:$WORK/jobs.sqlite"
fi
JOB=$("$FB" jobs submit --store "$STORE" --index "$WORK/idx" --kind map --instructions "Summarize." \
  --endpoint "$URL" --model m --api-key-env FOLDBACK_JOBS_KILL_KEY --lease-ms $LEASE_MS \
  --max-attempts 100 2>/dev/null) || fail "submit"

# ---- PostgreSQL: the server restarted (crash recovery) under a working worker,
# which then goes on (or fails with a clear error) and is killed a moment later
killed=0
if [ -n "$PGPID" ]; then
  "$FB" jobs work --store "$STORE" --concurrency $CONC >/dev/null 2>"$WORK/restart.err" &
  p1=$!
  # Mid-job: once the worker has recorded a result.
  for _ in $(seq 1 100); do
    "$FB" jobs status --store "$STORE" "$JOB" --json 2>/dev/null | grep -q '"done": *[1-9]' && break
    sleep 0.05
  done
  kill -USR1 "$PGPID"
  for _ in $(seq 1 300); do
    grep -q '^restarted' "$WORK/pg.out" && break
    sleep 0.1
  done
  grep -q '^restarted' "$WORK/pg.out" || fail "the PostgreSQL server did not come back: $(cat "$WORK/pg.out")"
  done_at() { "$FB" jobs status --store "$STORE" "$JOB" --json | sed -n 's/.*"done": *\([0-9]*\).*/\1/p'; }
  d0=$(done_at)
  # The worker goes on: more results recorded after the restart (or it
  # exited with an error, below). At most 10 s.
  for _ in $(seq 1 100); do
    kill -0 "$p1" 2>/dev/null || break
    [ "$(done_at)" -gt "$d0" ] && break
    sleep 0.1
  done
  if kill -9 "$p1" 2>/dev/null; then
    wait "$p1" 2>/dev/null || true
    grep -qi "error" "$WORK/restart.err" && fail "worker across the restart: $(cat "$WORK/restart.err")"
    d1=$(done_at)
    if [ "$d0" -ge "$DOCS" ]; then
      # A slow machine: the whole job was done before the server came back.
      # Reconnection itself is JobsPgStoreTest.ServerRestart…'s subject.
      echo "jobs_kill_loop: the job was finished before the server restart completed; nothing to resume"
    else
      [ "$d1" -gt "$d0" ] || fail "the worker recorded nothing in 10 s after the server restart ($d0 done)"
      echo "jobs_kill_loop: the worker reconnected after the server restart ($d0 -> $d1 done; then killed)"
    fi
  else
    wait "$p1" 2>/dev/null || true
    # A clean failure names the store; its items come back when their leases end.
    grep -q "job store" "$WORK/restart.err" || fail "worker after the restart: $(cat "$WORK/restart.err")"
    echo "jobs_kill_loop: the worker failed cleanly at the server restart: $(head -c 300 "$WORK/restart.err")"
  fi
  killed=1
  "$FB" jobs status --store "$STORE" "$JOB" --json >"$WORK/after_restart.json" || fail "status after the restart"
  echo "jobs_kill_loop: after the restart: $(tr -d '\n ' <"$WORK/after_restart.json")"
fi

# ---- kill -9 workers at random moments
for i in $(seq 1 "$KILLS"); do
  "$FB" jobs work --store "$STORE" --concurrency $CONC >/dev/null 2>"$WORK/worker.err" &
  p1=$!
  p2=""
  if [ $((RANDOM % 4)) = 0 ]; then
    "$FB" jobs work --store "$STORE" --concurrency $CONC >/dev/null 2>>"$WORK/worker.err" &
    p2=$!
  fi
  sleep "0.$(printf '%03d' $((RANDOM % 750 + 50)))"
  for p in $p1 $p2; do
    kill -9 "$p" 2>/dev/null && killed=$((killed + 1))
    wait "$p" 2>/dev/null || true
  done
  grep -qi "error" "$WORK/worker.err" && fail "a worker reported: $(cat "$WORK/worker.err")"
done

# ---- one worker finishes (leases of killed workers expire first)
"$FB" jobs work --store "$STORE" --concurrency $CONC --until-idle >"$WORK/last.out" 2>"$WORK/last.err" ||
  fail "last worker: $(cat "$WORK/last.err")"
"$FB" jobs status --store "$STORE" "$JOB" --json >"$WORK/status.json" || fail "status"
"$FB" jobs results --store "$STORE" "$JOB" --out "$WORK/results.jsonl" >/dev/null || fail "results"
command -v curl >/dev/null || fail "curl is needed to read the server's request log"
curl -s "$BASE/__test/requests" >"$WORK/requests.json" || fail "request log"

python3 - "$WORK" "$DOCS" "$LEASE_MS" "$killed" "$CONC" "$STORE_KIND" <<'EOF' || fail "checks (see above)"
import json, re, sys
work, docs, lease_ms, killed, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
st = json.load(open(f"{work}/status.json"))
assert st["total"] == docs and st["done"] == docs and st["failed"] == 0, f"status: {st}"
lines = [json.loads(l) for l in open(f"{work}/results.jsonl") if l.strip()]
ids = [l["doc_id"] for l in lines]
assert len(ids) == docs, f"{len(ids)} result lines for {docs} documents"
assert len(set(ids)) == docs, "a document has two results"
reqs = json.load(open(f"{work}/requests.json"))
by_doc = {}
for r in reqs:
    if "chat/completions" not in r["path"]:
        continue
    m = re.search(r"docmark(\d{5})z", r["body"])
    assert m, "a request without a document marker"
    by_doc.setdefault(m.group(1), []).append(r["arrival_ms"])
assert len(by_doc) == docs, f"requests for {len(by_doc)} of {docs} documents"
reissued = 0
for d, times in by_doc.items():
    times.sort()
    for a, b in zip(times, times[1:]):
        reissued += 1
        # a lease of lease_ms must have ended in between. The first request
        # arrives a little after its lease began (it may wait in the
        # worker's queue for a free slot; a loaded machine adds more): 400
        # ms of slack — a re-issue without the lease ending would come
        # within a few ms, not 1.1 s later.
        assert b - a >= lease_ms - 400, f"document {d} requested again after {b - a:.0f} ms (lease {lease_ms} ms)"
assert reissued <= killed * conc, f"{reissued} re-issued requests for {killed} kills x {conc}"
print(f"jobs_kill_loop ({sys.argv[6]}): {killed} kills, {docs} documents done exactly once, {len(reqs)} requests, "
      f"{reissued} re-issued (each after its lease ended; bound {killed * conc}), attempts {st['attempts']}")
EOF
kill "$SPID" 2>/dev/null || true
wait "$SPID" 2>/dev/null || true
if [ -n "$PGPID" ]; then
  kill "$PGPID" 2>/dev/null || true
  wait "$PGPID" 2>/dev/null || true
fi
