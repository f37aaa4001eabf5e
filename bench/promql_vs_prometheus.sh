#!/usr/bin/env bash
# PromQL latency and memory: vigil tsdb against Prometheus 2.42 on the same data (SERIES series,
# HOURS hours at 15 s, node/cAdvisor-like plus request-duration histograms), the same dashboard
# queries through both HTTP APIs, one after the other in one run. Prints one JSON line per query
# and a summary with the ratios. Needs a build (make build) and the Debian packages of setup.sh.
#
#   bench/promql_vs_prometheus.sh                       # 10k series x 24 h
#   SERIES=2000 HOURS=6 RUNS=3 bench/promql_vs_prometheus.sh   # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${SERIES:-10000}
HOURS=${HOURS:-24}
RUNS=${RUNS:-5}
BUILD=${BUILD:-build}
work=$(mktemp -d /tmp/vigil-qbench-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

source bench/lib.sh

steps=$(( HOURS * 240 ))
end_s=$(( $(date +%s) / 60 * 60 - 300 ))
start_ms=$(( (end_s - HOURS * 3600) * 1000 + 15000 ))

# vigil: remote_write of the workload; the same samples to an OpenMetrics file for promtool.
vp=$(free_port)
"$BUILD/vigil" tsdb --listen 127.0.0.1:$vp --data-dir "$work/vigil" --wal-sync false \
  > "$work/vigil.log" 2>&1 &
vpid=$!
wait_ready "http://127.0.0.1:$vp/-/ready" 12000
echo "loading $SERIES series x $steps samples into vigil..." >&2
"$BUILD/bench/remote_write_load" --url "http://127.0.0.1:$vp/api/v1/write" --series "$SERIES" \
  --steps "$steps" --batch 500 --concurrency 2 --start-ms "$start_ms" --histograms true \
  --openmetrics "$work/data.om" >&2
# Both servers answer queries freshly started on their data, so neither carries the memory of
# having ingested it.
kill -TERM $vpid; while kill -0 $vpid 2>/dev/null; do sleep 0.1; done
"$BUILD/vigil" tsdb --listen 127.0.0.1:$vp --data-dir "$work/vigil" --wal-sync false \
  >> "$work/vigil.log" 2>&1 &
vpid=$!
wait_ready "http://127.0.0.1:$vp/-/ready" 12000
# Prometheus: compacted blocks of the same samples, as an operator's history would be.
echo "building Prometheus blocks with promtool..." >&2
promtool tsdb create-blocks-from openmetrics --max-block-duration=24h "$work/data.om" \
  "$work/prom" > "$work/promtool.log" 2>&1
rm -f "$work/data.om"
pp=$(free_port)
printf 'global:\n  scrape_interval: 15s\n' > "$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --storage.tsdb.retention.time=30d --web.listen-address=127.0.0.1:$pp \
  > "$work/prometheus.log" 2>&1 &
ppid=$!
wait_ready "http://127.0.0.1:$pp/-/ready" 12000

python3 - "$vp" "$pp" "$vpid" "$ppid" "$end_s" "$RUNS" <<'PY'
import json, statistics, sys, threading, time, urllib.parse, urllib.request
vp, pp, vpid, ppid, end_s, runs = sys.argv[1:]
end_s, runs = int(end_s), int(runs)
servers = {"vigil": (f"http://127.0.0.1:{vp}", int(vpid)), "prometheus": (f"http://127.0.0.1:{pp}", int(ppid))}

def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0

# Grafana's usual steps for 1h, 6h and 24h panels.
ranges = [("1h", 3600, 15), ("6h", 21600, 30), ("24h", 86400, 120)]
queries = []
for name, secs, step in ranges:
    queries.append((f"sum by (mode) rate [{name}]", "sum by (mode) (rate(node_cpu_seconds_total[5m]))", secs, step))
    queries.append((f"topk by container cpu [{name}]", "topk(5, sum by (pod) (rate(container_cpu_usage_seconds_total[5m])))", secs, step))
queries += [
    ("histogram_quantile [6h]", "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))", 21600, 30),
    ("regex selector [6h]", "sum by (device) (rate(node_network_receive_bytes_total{device=~\"eth[01]\"}[5m]))", 21600, 30),
    ("count by over all series", "count by (job) ({__name__=~\".+\"})", 0, 0),
    ("working set by namespace [24h]", "sum by (namespace) (container_memory_working_set_bytes)", 86400, 120),
]

def run(base, q, secs, step):
    if secs == 0:
        url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": end_s})
    else:
        url = f"{base}/api/v1/query_range?" + urllib.parse.urlencode(
            {"query": q, "start": end_s - secs, "end": end_s, "step": step})
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as r:
        body = r.read()
    dt = time.perf_counter() - t0
    j = json.loads(body)
    assert j["status"] == "success", body[:300]
    return dt, len(j["data"]["result"]) if isinstance(j["data"]["result"], list) else 1

results = {}
peak = {}
for server, (base, pid) in servers.items():
    stop = threading.Event()
    peak[server] = rss(pid)
    def sample():
        while not stop.is_set():
            peak[server] = max(peak[server], rss(pid))
            time.sleep(0.02)
    th = threading.Thread(target=sample); th.start()
    for label, q, secs, step in queries:
        run(base, q, secs, step)  # warm-up
        times = []
        for _ in range(runs):
            dt, n = run(base, q, secs, step)
            times.append(dt)
        results.setdefault(label, {})[server] = (statistics.median(times), n)
    stop.set(); th.join()

worst = 0
for label, q, secs, step in queries:
    v, p = results[label]["vigil"], results[label]["prometheus"]
    ratio = v[0] / p[0]
    worst = max(worst, ratio)
    print(json.dumps({"query": label, "expr": q, "series_out": v[1], "prometheus_series_out": p[1],
                      "vigil_median_ms": round(v[0] * 1000, 2), "prometheus_median_ms": round(p[0] * 1000, 2),
                      "ratio": round(ratio, 2)}))
print(json.dumps({"worst_latency_ratio": round(worst, 2),
                  "vigil_peak_rss_bytes": peak["vigil"], "prometheus_peak_rss_bytes": peak["prometheus"],
                  "peak_rss_ratio": round(peak["vigil"] / peak["prometheus"], 2)}, indent=1))
PY
