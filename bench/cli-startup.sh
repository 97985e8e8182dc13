#!/bin/bash
# Start-up time of the CLI (npm run bench:cli): mean wall time of N runs of each command line,
# from the compiled package (dist/), beside Node alone, the command modules all imported up front,
# and a CLI library (commander, when some package installed it) against node:util parseArgs.
N=${N:-20}
cd "$(dirname "$0")/.."
measure() {
  local label="$1"; shift
  local start=$(date +%s%N)
  for i in $(seq $N); do "$@" >/dev/null 2>&1; done
  local end=$(date +%s%N)
  awk -v l="$label" -v ns="$((end - start))" -v n="$N" 'BEGIN { printf "%-62s %6.1f ms\n", l, ns / n / 1e6 }'
}
measure "node -e '' (Node alone)" node -e ""
measure "node dist/cli/main.js --version (parseArgs, lazy commands)" node dist/cli/main.js --version
measure "node dist/cli/main.js device enroll --help" node dist/cli/main.js device enroll --help
measure "every command module imported up front (the old main.ts)" node --input-type=module -e "await Promise.all(['ca','broker','device','device-enroll','device-rotate','token','agent'].map((m) => import('./dist/cli/commands/' + m + '.js')))"
if [ -d node_modules/commander ]; then measure "import('commander') alone" node --input-type=module -e "await import('commander')"; fi
measure "node:util parseArgs alone" node --input-type=module -e "(await import('node:util')).parseArgs({args: [], options: {}})"
measure "npx tsx cli/main.ts --version (from the repo)" node --import tsx cli/main.ts --version
