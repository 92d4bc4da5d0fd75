#!/usr/bin/env bash
# Runs the test suite (`npm test`) on each Node.js version in scripts/node-versions.txt, after
# the machine's own Node has run it. Each Node comes from the npm registry's
# `node-<platform>-<arch>` package (the binary and its headers), installed once under
# .cache/node/<version>.
#
# better-sqlite3 is compiled for each of them first, so both SQLite drivers are tested on
# every version where they exist (node:sqlite from 22.16; the driver tests fail if a driver
# named in SLUICE_EXPECT_DRIVERS does not load). At the end better-sqlite3 is compiled again
# for the machine's Node.
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
package="node-$(node -p 'process.platform')-$(node -p 'process.arch')"
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
  home="$prefix/node_modules/$package"
  if [ ! -x "$home/bin/node" ]; then
    echo "== installing Node $version from the npm registry ($package@$version)"
    npm install --prefix "$prefix" --no-save --no-audit --no-fund "$package@$version" >/dev/null
  fi
  home=$(cd "$home" && pwd)
  echo "== better-sqlite3: compiling for Node $version"
  rebuilt=yes
  PATH="$home/bin:$PATH" npm_config_nodedir="$home" npm rebuild better-sqlite3 >/dev/null
  echo "== npm test on Node $("$home/bin/node" -v)"
  # The multi-process cluster runs (test/cluster/, ~2.5 minutes) test PostgreSQL and the
  # cluster, not the runtime: they ran on the machine's Node; here the rest of the suite runs.
  PATH="$home/bin:$PATH" SLUICE_EXPECT_DRIVERS="better-sqlite3,node:sqlite" \
    SLUICE_TEST_SKIP_DIRS="test/cluster" npm test
done
