#!/usr/bin/env bash
# snapshot_kill_loop.sh N [WRITER] [WORKDIR]
#
# Crash safety of snapshot replacement (index.fbsnap, host::SaveIndex over
# WriteFileAtomic): N times, start a writer that saves generation after
# generation of an index, kill -9 it at a random moment, and check
#   - the snapshot on disk loads and is one whole generation, at least the
#     last one the writer acknowledged (printed after the save returned);
# while a reader in the background loads the snapshot over and over: every
# load must succeed and be one whole generation — the old or the new
# snapshot, never a mix, never a torn file. At the end one more save must
# leave no temp file behind (killed writers' temp files are cleaned up).
#
# WRITER defaults to build/bin/snapshot_writer; WORKDIR to a fresh temp
# folder (removed afterwards unless KEEP=1).
set -euo pipefail

N=${1:?usage: snapshot_kill_loop.sh N [WRITER] [WORKDIR]}
WRITER=${2:-build/bin/snapshot_writer}
WORK=${3:-}
remove_work=0
if [ -z "$WORK" ]; then
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/foldback-snapshot-loop.XXXXXX")
  [ "${KEEP:-0}" = 1 ] || remove_work=1
fi
mkdir -p "$WORK"
DIR="$WORK/idx"
STOP="$WORK/stop"
rm -f "$STOP"
reader=

# However the script ends, no reader or writer outlives it.
cleanup() {
  touch "$STOP" 2>/dev/null || true
  [ -z "$reader" ] || kill -9 "$reader" 2>/dev/null || true
  [ -z "${pid:-}" ] || kill -9 "$pid" 2>/dev/null || true
  [ "$remove_work" = 0 ] || rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "snapshot_kill_loop: FAILED at iteration ${i:-0}: $*" >&2
  echo "snapshot_kill_loop: work folder $WORK" >&2
  remove_work=0
  exit 1
}

# Generation 1 first, timed: kills then land anywhere in the first few saves
# of each writer, however slow the build (sanitizers make it ~15x slower).
t0=$(date +%s%N)
"$WRITER" write "$DIR" 1 --once >/dev/null || fail "first save"
save_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
window_ms=$(( save_ms * 4 > 400 ? save_ms * 4 : 400 ))

"$WRITER" read "$DIR" "$STOP" >"$WORK/reader.out" 2>"$WORK/reader.err" &
reader=$!

gen=2
acked=1
killed=0
saves=0
temps=0  # temp files found right after a kill (the next save removes them)
for i in $(seq 1 "$N"); do
  rm -f "$WORK/out" "$WORK/err"
  "$WRITER" write "$DIR" "$gen" >"$WORK/out" 2>"$WORK/err" &
  pid=$!
  delay_ms=$(( (RANDOM * 32768 + RANDOM) % window_ms + 5 ))
  sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2>/dev/null || true
  [ -s "$WORK/err" ] && fail "the writer reported: $(cat "$WORK/err")"
  temps=$((temps + $({ find "$DIR" -name 'index.fbsnap.tmp-*' 2>/dev/null || true; } | wc -l)))
  touch "$WORK/out"
  # Only complete lines were acknowledged.
  if [ -s "$WORK/out" ] && [ -n "$(tail -c 1 "$WORK/out")" ]; then sed -i '$d' "$WORK/out"; fi
  if [ -s "$WORK/out" ]; then
    acked=$(tail -n 1 "$WORK/out")
    saves=$((saves + $(wc -l <"$WORK/out")))
    gen=$((acked + 1))
  fi
  "$WRITER" check "$DIR" "$acked" >"$WORK/check" 2>&1 || fail "$(cat "$WORK/check")"
  kill -0 "$reader" 2>/dev/null || { wait "$reader" || true; fail "the reader stopped: $(cat "$WORK/reader.err")"; }
done

touch "$STOP"
wait "$reader" || fail "the reader: $(cat "$WORK/reader.err")"
reads=$(cat "$WORK/reader.out")

"$WRITER" write "$DIR" "$gen" --once >/dev/null || fail "final save"
left=$(find "$DIR" -name 'index.fbsnap.tmp-*' | wc -l)
[ "$left" = 0 ] || fail "$left temp file(s) left after a save: $(ls "$DIR")"
# A loop in which no kill ever landed after a save, or the reader never read,
# proved nothing.
[ "$saves" -gt 0 ] || fail "no save was acknowledged in $N runs (a save takes ${save_ms} ms here)"
case "$reads" in reads=0\ *) fail "the reader never loaded a snapshot" ;; esac

echo "snapshot_kill_loop: $N runs ($killed kills, window ${window_ms} ms), $saves acknowledged saves, last acknowledged" \
  "generation $acked found whole after every kill; concurrent reader: $reads, never a mix;" \
  "$temps temp file(s) left by kills, all cleaned up"
