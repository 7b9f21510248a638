#!/usr/bin/env bash
# scan_secrets.sh DIR...          scan built artifacts for API keys
# scan_secrets.sh --canary        print the canary key run.sh exports while building
#
# Fails (exit 1, naming file and match) when any file under a DIR holds:
#   - the canary key, or any 12-character piece of it: ./run.sh test builds
#     the wasm package and the plugins with the canary in the usual API-key
#     environment variables, so a build step that inlined the environment
#     (an esbuild `define`, a generated config) is caught;
#   - anything shaped like a real key: OpenAI / Anthropic style sk-...,
#     AWS access key ids, a literal "Bearer <token>" or an Azure api-key
#     header with a 32-hex value, a "-----BEGIN ... PRIVATE KEY-----" block.
# A DIR that does not exist is reported and makes the scan exit 77 (CTest
# counts that as skipped, never as passed).
set -euo pipefail
CANARY="sk-canary-BUILD-7Gq2Lw9Xe4Rt6Yu1Io3Pa5SdK8"
if [ "${1:-}" = "--canary" ]; then echo "$CANARY"; exit 0; fi
[ $# -gt 0 ] || { echo "usage: scan_secrets.sh DIR... | --canary" >&2; exit 2; }

patterns=()
for ((i = 0; i + 12 <= ${#CANARY}; i++)); do patterns+=(-e "${CANARY:i:12}"); done
shapes='(^|[^A-Za-z0-9_-])(sk-(ant-|proj-)?[A-Za-z0-9_-]{32,}|AKIA[0-9A-Z]{16}|Bearer [A-Za-z0-9._~+/-]{24,}=*|api-key["'"'"']?[:=] ?["'"'"']?[0-9a-f]{32})|-----BEGIN [A-Z ]*PRIVATE KEY-----'

status=0
missing=0
files=0
for dir in "$@"; do
  if [ ! -d "$dir" ]; then
    echo "scan_secrets: $dir does not exist (not built?)" >&2
    missing=1
    continue
  fi
  n=$(find "$dir" -type f | wc -l)
  files=$((files + n))
  if hits=$(grep -rIl -F "${patterns[@]}" "$dir"); then
    echo "scan_secrets: the build canary key (or a piece of it) is in:" >&2
    echo "$hits" >&2
    status=1
  fi
  # Binary files too (the .wasm): grep -a.
  if hits=$(grep -rlaE "$shapes" "$dir" | grep -v '\.map$' || true) && [ -n "$hits" ]; then
    echo "scan_secrets: key-shaped strings in:" >&2
    for f in $hits; do
      echo "  $f: $(grep -oaE "$shapes" "$f" 2>/dev/null | tr -d '\0' | head -3 | tr '\n' ' ')" >&2
    done
    status=1
  fi
done
[ $status = 0 ] || exit 1
[ $missing = 0 ] || exit 77
echo "scan_secrets: $files files in $* — no key, no piece of the build canary"
