#!/usr/bin/env bash
# Installs the contract tests' pinned node tools (tests/contract/package.json and its lock
# file) into DIR/node_modules, with npm's cache in DIR too. Does nothing when DIR already holds
# exactly this package.json and lock file, so a rebuild or a second test run costs no install.
# Fails (never skips) when node, npm or the registry is missing: the contract must be checked.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: install-tools.sh DIR}
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "$tool not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
mkdir -p "$dir"
# Two build trees testing at once must not install into the same directory together.
exec 9>"$dir/.lock"
flock 9
want=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ -x "$dir/node_modules/.bin/redocly" ] && [ "$(cat "$dir/.installed" 2>/dev/null)" = "$want" ]; then
  echo "contract tools: already installed in $dir"
  exit 0
fi
rm -f "$dir/.installed"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
start=$(date +%s)
# ci: exactly the lock file's versions, checked against its integrity hashes.
(cd "$dir" && npm ci --no-audit --no-fund --cache "$dir/npm-cache" --loglevel=error)
echo "$want" >"$dir/.installed"
echo "contract tools: installed in $dir in $(($(date +%s) - start)) s (node $(node --version))"
