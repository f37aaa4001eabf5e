#!/usr/bin/env bash
# alertd's evaluation cost (issue #7): 10,000 alerting rules in 100 groups over 100,000 series,
# every group evaluated ROUNDS times (15 s of data apart), first in-process on one thread (one
# core: PromQL on the store, ALERTS written back), then the same rules through vigil tsdb's HTTP
# API on the same data. Prints one JSON line per mode; for HTTP, also vigil tsdb's CPU seconds.
#
#   bench/alertd_rules.sh             # ROUNDS=5
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
work=$(mktemp -d /tmp/vigil-abench-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
source bench/lib.sh

"$BUILD/bench/alertd_rules" --dir "$work" --prepare 2>/dev/null
"$BUILD/bench/alertd_rules" --dir "$work" --rounds "$ROUNDS" 2>/dev/null

port=$(free_port)
"$BUILD/vigil" tsdb --listen 127.0.0.1:$port --data-dir "$work" > "$work/tsdb.log" 2>&1 &
tpid=$!
wait_ready "http://127.0.0.1:$port/-/ready"
before=$(cpu_ticks $tpid)
out=$("$BUILD/bench/alertd_rules" --dir "$work" --rounds "$ROUNDS" \
  --query-url "http://127.0.0.1:$port" 2>/dev/null)
after=$(cpu_ticks $tpid)
hz=$(getconf CLK_TCK)
python3 -c "
import json; d = json.loads('''$out''')
d['tsdb_cpu_s_per_round'] = round(($after - $before) / $hz / $ROUNDS, 3)
print(json.dumps(d))"
