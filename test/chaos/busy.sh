#!/usr/bin/env bash
# The proof that the suite holds on a busy machine (issue 18): one CPU burner
# per core for the whole `npm test`, then the burners stop.
#   test/chaos/busy.sh                 # npm test with every core busy
#   test/chaos/busy.sh npx vitest run test/bff/registry-watch.test.ts   # any command
# The burners (`node -e "for(;;){}"`, not niced: they compete with the tests
# as equals) are children of this script, killed by their ids on exit
# (also on Ctrl-C). Before the command starts, it waits until the 1-minute load
# average per core reaches 1 (at most 90 s), so the harness's slowness factor
# (test/harness/slowness.ts) already sees the load the run will have.
set -euo pipefail
cores=$(nproc)
burners=()
stop() { for p in "${burners[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap stop EXIT
for _ in $(seq "$cores"); do
  node -e 'for (;;) {}' &
  burners+=("$!")
done
echo "busy: ${#burners[@]} burners (${burners[*]}) on $cores cores" >&2
for _ in $(seq 90); do
  awk -v c="$cores" '{ exit !($1 / c >= 1) }' /proc/loadavg && break
  sleep 1
done
echo "busy: load average $(cut -d' ' -f1-3 /proc/loadavg); running: ${*:-npm test}" >&2
if [ $# -eq 0 ]; then set -- npm test; fi
"$@"
