#!/usr/bin/env bash
# The query fan-out of `vigil logship --query-shards` against one store (issue #9), in one run on
# this machine: the same lines go to a reference logship and, split by stream, to two shard
# logships; a front answers over the two. Each query is timed on the reference and on the front
# (QUERIES times each, after one untimed run that also checks both answer).
#
#   bench/logship_fanout.sh                 # STREAMS=200 LINES=1000 QUERIES=20
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS=${STREAMS:-200}
LINES=${LINES:-1000}
QUERIES=${QUERIES:-20}
BUILD=${BUILD:-build}
work=$(mktemp -d /tmp/vigil-lfan-XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
source bench/lib.sh

start() {  # name, extra args...
  local name=$1 port
  shift
  port=$(free_port)
  "$BUILD/vigil" logship --listen "127.0.0.1:$port" --data-dir "$work/$name" "$@" \
    > "$work/$name.log" 2>&1 &
  echo "http://127.0.0.1:$port"
}
ref=$(start ref)
a=$(start a)
b=$(start b)
for u in "$ref" "$a" "$b"; do wait_ready "$u/-/ready"; done
front=$(start front --store=false --query-shards "$a,$b")
wait_ready "$front/-/ready"

python3 - "$ref" "$a" "$b" "$front" "$STREAMS" "$LINES" "$QUERIES" <<'PY'
import json, sys, time, urllib.parse, urllib.request
ref, a, b, front = sys.argv[1:5]
streams, lines, n = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
now = time.time_ns()
base = now - lines * 3 * 10**9  # a line every 3 s per stream, ending now
apps = ["api", "web", "db", "cache"]

def push(url, body):
    req = urllib.request.Request(url + "/loki/api/v1/push", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(req).status == 204

# Stream i on a when even, b when odd; everything on the reference. Batches of 20 streams.
for first in range(0, streams, 20):
    batch = {"ref": [], "a": [], "b": []}
    for i in range(first, min(first + 20, streams)):
        labels = {"app": apps[i % 4], "pod": "p%d" % i, "namespace": "ns%d" % (i % 5)}
        values = [[str(base + k * 3 * 10**9 + i),
                   "%s GET /item/%d took %d ms" % ("error" if (k + i) % 9 == 0 else "info", k, k % 97)]
                  for k in range(lines)]
        s = {"stream": labels, "values": values}
        batch["ref"].append(s)
        batch["a" if i % 2 == 0 else "b"].append(s)
    push(ref, {"streams": batch["ref"]})
    push(a, {"streams": batch["a"]})
    push(b, {"streams": batch["b"]})

def entries(url):
    q = urllib.parse.urlencode({"query": '{app=~".+"}', "start": base - 10**9, "end": now + 10**9})
    return json.load(urllib.request.urlopen(url + "/loki/api/v1/index/stats?" + q))["entries"]
deadline = time.time() + 120
while entries(ref) < streams * lines or entries(a) + entries(b) < streams * lines:
    assert time.time() < deadline, "the lines did not all arrive"
    time.sleep(0.2)

end = now // 10**9
queries = [
    ("query_range", {"query": '{app="api"} |= "error"', "limit": 1000, "start": base, "end": now}),
    ("query_range", {"query": 'sum by (app) (count_over_time({app=~".+"}[5m]))',
                     "start": end - 3000, "end": end, "step": 60}),
    ("query", {"query": 'topk(5, sum by (pod) (rate({app=~".+"} |= "error" [10m])))', "time": end}),
    ("query_range", {"query": 'max by (namespace) (bytes_over_time({app=~".+"}[1m]))',
                     "start": end - 3000, "end": end, "step": 60}),
]
out = {}
for endpoint, params in queries:
    times = {}
    for name, url in (("single", ref), ("front", front)):
        target = url + "/loki/api/v1/" + endpoint + "?" + urllib.parse.urlencode(params)
        body = json.load(urllib.request.urlopen(target))
        assert body["status"] == "success" and body["data"]["result"], body
        t0 = time.monotonic()
        for _ in range(n):
            urllib.request.urlopen(target).read()
        times[name] = (time.monotonic() - t0) / n * 1000
    out[params["query"]] = {"single_ms": round(times["single"], 1),
                            "front_ms": round(times["front"], 1),
                            "front_over_single": round(times["front"] / times["single"], 2)}
print(json.dumps({"lines": streams * lines, "fan_out": out}, indent=1))
PY
