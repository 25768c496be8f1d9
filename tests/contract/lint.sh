#!/usr/bin/env bash
# Lints openapi.yaml with Redocly's "recommended" ruleset (redocly.yaml at the repository root).
# Usage: lint.sh [TOOLS_DIR]; the pinned @redocly/cli is installed there first if needed
# (default: build-tools/contract, which .gitignore's /build*/ covers). Any error or warning
# fails: a contract that lints only with warnings still has something to fix.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tools=${1:-$root/build-tools/contract}
"$here/install-tools.sh" "$tools"
cd "$root"
# No usage telemetry or update check: CI reaches only the package registries.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
status=0
out=$("$tools/node_modules/.bin/redocly" lint --config redocly.yaml --max-problems 200 \
  --format stylish openapi.yaml 2>&1) || status=$?
echo "$out"
# redocly exits 0 on warnings alone; they fail here.
if grep -Eq '^ +[0-9]+:[0-9]+ +warning ' <<<"$out"; then
  echo "openapi.yaml: redocly reported warnings" >&2
  status=1
fi
exit "$status"
