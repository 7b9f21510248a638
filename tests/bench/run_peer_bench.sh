#!/bin/sh
# foldback vs Xapian (C++, in-memory and glass) vs SQLite FTS5, on ContractNLI
# dev and CUAD (clause and collection level): speed, build, bytes, nDCG@10.
#
#   tests/bench/run_peer_bench.sh DATA_DIR [extra peer_bench arguments]
#
# DATA_DIR holds ContractNLI dev reshaped for span retrieval
# (contractnli/derived; CC BY 4.0, Koreeda & Manning 2021) and CUAD v1
# (cuad/full_contract_txt and cuad/derived; CC BY 4.0, The Atticus Project);
# see docs/benchmarks.md for their layout. Builds
# peer_bench (needs libxapian-dev, libsqlite3-dev), prints the tables and
# writes build/peer_bench.json. The machine is shared: compare the ratios of
# one run, not absolute times across runs.
set -eu
cd "$(dirname "$0")/../.."
if [ $# -lt 1 ]; then
  echo "usage: tests/bench/run_peer_bench.sh DATA_DIR [peer_bench arguments]" >&2
  exit 2
fi
DATA=$1
shift
if [ ! -d "$DATA/contractnli/derived" ] || [ ! -d "$DATA/cuad/derived" ]; then
  echo "run_peer_bench.sh: $DATA has no contractnli/derived or cuad/derived" >&2
  exit 1
fi
cmake --build build --target peer_bench >/dev/null
WORK=$(mktemp -d "${TMPDIR:-/tmp}/peer_bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
nice build/bin/peer_bench --contractnli "$DATA/contractnli/derived" --cuad "$DATA/cuad" \
  --work-dir "$WORK" --json build/peer_bench.json "$@"
