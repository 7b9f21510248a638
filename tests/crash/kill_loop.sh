#!/usr/bin/env bash
# kill_loop.sh N [WRITER] [WORKDIR]
#
# Crash safety of the feedback log: N times, start feedback_writer (which
# prints a record id only after the record is fsync'ed), kill -9 it at a
# random moment, and check the log:
#   - every acknowledged record is there (zero lost),
#   - no record id appears twice in the log (zero duplicated), even though
#     each new writer first retries the last record the previous one
#     acknowledged,
#   - nothing is damaged before the tail; a torn tail (a write cut by the
#     kill) is skipped, and the next writer cuts it off and carries on.
# Writers vary the batch size (group commit) and the write size; one run
# in three tears an entry in half before it is killed (what a crash in the
# middle of a write leaves), one in ten is a compaction killed mid-way
# (the log is replaced atomically or not at all). The log starts afresh
# every 50 runs, to keep its size (and the checks) bounded.
#
# WRITER defaults to build/bin/feedback_writer; WORKDIR to a fresh temp
# folder (removed afterwards unless KEEP=1).
set -euo pipefail

N=${1:?usage: kill_loop.sh N [WRITER] [WORKDIR]}
WRITER=${2:-build/bin/feedback_writer}
WORK=${3:-}
if [ -z "$WORK" ]; then
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/foldback-kill-loop.XXXXXX")
  [ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"
LOG="$WORK/log"
ACKED="$WORK/acked"
: >"$ACKED"
torn=0
killed=0
last=""

fail() {
  echo "kill_loop: FAILED at iteration $i: $*" >&2
  echo "kill_loop: work folder $WORK" >&2
  trap - EXIT
  exit 1
}

compactions=0
total=0
for i in $(seq 1 "$N"); do
  out="$WORK/out"
  if [ $((i % 50)) = 0 ]; then
    rm -rf "$LOG"
    : >"$ACKED"
    last=""
  fi
  if [ $((RANDOM % 10)) = 0 ] && [ -s "$LOG/feedback.log" ]; then
    rm -f "$WORK/err"
    "$WRITER" compact "$LOG" 2>"$WORK/err" &
    pid=$!
    sleep "0.$(printf '%03d' $((RANDOM % 30)))"
    kill -9 "$pid" 2>/dev/null && killed=$((killed + 1))
    wait "$pid" 2>/dev/null || true
    [ -s "$WORK/err" ] && fail "compaction reported: $(cat "$WORK/err")"
    compactions=$((compactions + 1))
  fi
  batch=$((RANDOM % 8 + 1))
  chunk=$(((RANDOM % 4) * 200)) # 0: one write per entry
  args=(write "$LOG" --batch "$batch" --chunk "$chunk" --count 3000)
  [ -n "$last" ] && args+=(--retry "$last")
  # One run in three "crashes" in the middle of a write after a few batches.
  [ $((RANDOM % 3)) = 0 ] && args+=(--tear-after $((RANDOM % 4 + 1)))
  # A kill can land before the shell has even redirected the writer's
  # output: start from no file, never from the last run's.
  rm -f "$out" "$WORK/err"
  "$WRITER" "${args[@]}" >"$out" 2>"$WORK/err" &
  pid=$!
  sleep "0.$(printf '%03d' $((RANDOM % 60 + 2)))"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2>/dev/null || true
  [ -s "$WORK/err" ] && fail "the writer reported: $(cat "$WORK/err")"
  touch "$out"
  # Only complete lines were acknowledged.
  if [ -s "$out" ] && [ -n "$(tail -c 1 "$out")" ]; then sed -i '$d' "$out"; fi
  cat "$out" >>"$ACKED"
  total=$((total + $(wc -l <"$out")))
  [ -s "$out" ] && last=$(tail -n 1 "$out")

  "$WRITER" check "$LOG" >"$WORK/present" 2>"$WORK/check" || fail "check: $(cat "$WORK/check")"
  grep -q 'torn_tail=[1-9]' "$WORK/check" && torn=$((torn + 1))
  sort -u "$WORK/present" >"$WORK/present.sorted"
  [ "$(wc -l <"$WORK/present")" = "$(wc -l <"$WORK/present.sorted")" ] ||
    fail "a record appears twice"
  sort "$ACKED" >"$WORK/acked.sorted"
  [ -z "$(uniq -d "$WORK/acked.sorted")" ] || fail "a record id was acknowledged twice"
  lost=$(comm -23 "$WORK/acked.sorted" "$WORK/present.sorted" | wc -l)
  [ "$lost" = 0 ] || fail "$lost acknowledged record(s) lost: $(comm -23 "$WORK/acked.sorted" "$WORK/present.sorted" | head -3)"
done

echo "kill_loop: $N runs ($killed kills), $total acknowledged records checked," \
  "0 lost, 0 duplicated; torn tails skipped after $torn kills; $compactions compactions"
