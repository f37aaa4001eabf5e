#!/usr/bin/env bash
# The node collectors' cost per scrape: `vigil agent` against prometheus-node-exporter with the
# same families (cpu, meminfo, loadavg, stat, filefd, netdev from /proc/net/dev, diskstats,
# pressure, filesystem, time), both scraped SCRAPES times, one every INTERVAL_MS, in one run on
# this machine. The agent collects at the same interval (so one pass per scrape) and runs only
# its node collector (--collector node), so it does what node_exporter does. CPU is each process' utime + stime from /proc/<pid>/stat over the scrapes.
#
#   bench/node_vs_node_exporter.sh                 # 300 scrapes, one every 100 ms
#   SCRAPES=100 bench/node_vs_node_exporter.sh     # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
SCRAPES=${SCRAPES:-300}
INTERVAL_MS=${INTERVAL_MS:-100}
BUILD=${BUILD:-build}
work=$(mktemp -d /tmp/vigil-nbench-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

source bench/lib.sh

np=$(free_port)
prometheus-node-exporter --web.listen-address=127.0.0.1:$np --collector.disable-defaults \
  --collector.cpu --collector.meminfo --collector.loadavg --collector.stat --collector.filefd \
  --collector.netdev --no-collector.netdev.netlink --collector.diskstats --collector.pressure \
  --collector.filesystem \
  '--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)' \
  --collector.time > "$work/node_exporter.log" 2>&1 &
npid=$!
vp=$(free_port)
"$BUILD/vigil" agent --listen 127.0.0.1:$vp --interval "${INTERVAL_MS}ms" \
  --collector node --data-dir "$work/agent" > "$work/agent.log" 2>&1 &
vpid=$!
wait_ready "http://127.0.0.1:$np/metrics"
wait_ready "http://127.0.0.1:$vp/metrics"

nseries=$(curl -s "http://127.0.0.1:$np/metrics" | grep -c '^node_' || true)
vseries=$(curl -s "http://127.0.0.1:$vp/metrics" | grep -c '^node_' || true)
sleep 1
n0=$(cpu_ticks $npid); v0=$(cpu_ticks $vpid); t0=$(date +%s.%N)
python3 - "$np" "$vp" "$SCRAPES" "$INTERVAL_MS" <<'PY'
import sys, time, urllib.request
np, vp, n, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) / 1000
next_t = time.monotonic()
for _ in range(n):
    for port in (np, vp):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read()
    next_t += interval
    time.sleep(max(0, next_t - time.monotonic()))
PY
n1=$(cpu_ticks $npid); v1=$(cpu_ticks $vpid); t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
python3 - <<PY
n = ($n1 - $n0) / $hz / $SCRAPES
v = ($v1 - $v0) / $hz / $SCRAPES
print('{"scrapes": %d, "interval_ms": %d, "wall_s": %.1f, "node_series": {"node_exporter": %d, "vigil": %d}, '
      '"cpu_ms_per_scrape": {"node_exporter": %.2f, "vigil": %.2f}, "vigil_over_node_exporter": %.3f}'
      % ($SCRAPES, $INTERVAL_MS, $t1 - $t0, $nseries, $vseries, n * 1000, v * 1000, v / n if n else 0))
PY
