#!/usr/bin/env bash
# Where the agent's CPU per scrape goes, with only the node collector: the HTTP exchange alone
# (GET /-/ready), writing /metrics with collection off (--interval 1h), and /metrics with one
# collection pass per scrape (--interval matching the scrapes). Each: SCRAPES requests, one
# every INTERVAL_MS, CPU from /proc/PID/stat.
#
#   bench/agent_scrape_breakdown.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SCRAPES=${SCRAPES:-300}
INTERVAL_MS=${INTERVAL_MS:-100}
BUILD=${BUILD:-build}
work=$(mktemp -d /tmp/vigil-sbench-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

source bench/lib.sh
# us of CPU per request of URL by PID
per_request() {
  local pid=$1 url=$2 t0 t1
  t0=$(cpu_ticks "$pid")
  python3 - "$url" "$SCRAPES" "$INTERVAL_MS" <<'PY'
import sys, time, urllib.request
url, n, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) / 1000
next_t = time.monotonic()
for _ in range(n):
    urllib.request.urlopen(url).read()
    next_t += interval
    time.sleep(max(0, next_t - time.monotonic()))
PY
  t1=$(cpu_ticks "$pid")
  echo $(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / SCRAPES ))
}
start_agent() {  # interval -> sets pid, port
  port=$(free_port)
  "$BUILD/vigil" agent --listen 127.0.0.1:$port --interval "$1" --collector node \
    --data-dir "$work/agent-$1" > "$work/agent-$1.log" 2>&1 &
  pid=$!
  wait_ready "http://127.0.0.1:$port/metrics"
}
start_agent 1h
http=$(per_request $pid "http://127.0.0.1:$port/-/ready")
write=$(per_request $pid "http://127.0.0.1:$port/metrics")
kill $pid; wait $pid 2>/dev/null || true
start_agent "${INTERVAL_MS}ms"
sleep 1
full=$(per_request $pid "http://127.0.0.1:$port/metrics")
echo "{\"scrapes\": $SCRAPES, \"us_per_scrape\": {\"http_exchange\": $http, \"metrics_without_pass\": $write, \"metrics_with_pass\": $full}, \"writing_metrics_us\": $((write - http)), \"node_pass_us\": $((full - write))}"
