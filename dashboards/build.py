#!/usr/bin/env python3
"""Writes vigil's Grafana dashboards (dashboards/*.json) from the panel lists below.

Each dashboard has a `datasource` variable (Prometheus) and, where it shows logs, a `logs`
variable (Loki), so it works with any data sources of those types: vigil up's one URL serves
both. `python3 dashboards/build.py` rewrites the JSON; the test command checks the JSON is what
this script writes, and runs every panel's queries against a running `vigil up`.

A panel is (title, type, unit, targets, width); a target is (expr, legend) for Prometheus or
("logs", expr, legend) for Loki. `instant` tables run instant queries.
"""

import json
import os
import sys

PROM = {"type": "prometheus", "uid": "${datasource}"}
LOKI = {"type": "loki", "uid": "${logs}"}


def variables(logs=False, node=False, namespace=False):
    out = [{
        "name": "datasource", "label": "Metrics", "type": "datasource", "query": "prometheus",
        "current": {}, "hide": 0, "refresh": 1,
    }]
    if logs:
        out.append({
            "name": "logs", "label": "Logs", "type": "datasource", "query": "loki",
            "current": {}, "hide": 0, "refresh": 1,
        })
    if node:
        out.append({
            "name": "instance", "label": "Node", "type": "query", "datasource": PROM,
            "query": {"query": 'label_values(node_load1, instance)', "refId": "instance"},
            "definition": 'label_values(node_load1, instance)',
            "includeAll": True, "multi": True, "allValue": ".+",
            "current": {"text": "All", "value": "$__all"}, "refresh": 2, "sort": 1,
        })
    if namespace:
        out.append({
            "name": "namespace", "label": "Namespace", "type": "query", "datasource": PROM,
            "query": {"query": 'label_values(container_cpu_usage_seconds_total, namespace)',
                      "refId": "namespace"},
            "definition": 'label_values(container_cpu_usage_seconds_total, namespace)',
            "includeAll": True, "multi": True, "allValue": ".*",
            "current": {"text": "All", "value": "$__all"}, "refresh": 2, "sort": 1,
        })
    return out


def panel(pid, x, y, title, kind, unit, targets, width=12, height=8, instant=False):
    p = {
        "id": pid, "type": kind, "title": title,
        "gridPos": {"h": height, "w": width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [],
    }
    is_logs = any(t[0] == "logs" for t in targets)
    p["datasource"] = LOKI if is_logs else PROM
    for i, t in enumerate(targets):
        ref = chr(ord("A") + i)
        if t[0] == "logs":
            target = {"refId": ref, "datasource": LOKI, "expr": t[1], "legendFormat": t[2],
                      "queryType": "range"}
        else:
            target = {"refId": ref, "datasource": PROM, "expr": t[0], "legendFormat": t[1],
                      "range": not instant, "instant": instant}
            if instant:
                target["format"] = "table"
        p["targets"].append(target)
    if kind == "logs":
        p["options"] = {"showTime": True, "showLabels": True, "wrapLogMessage": True,
                        "sortOrder": "Descending", "dedupStrategy": "none"}
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "area", "textMode": "auto"}
    return p


def layout(panels):
    """Places panels left to right, rows of 24 columns."""
    out, x, y, row_h = [], 0, 0, 0
    for i, (title, kind, unit, targets, width, *rest) in enumerate(panels):
        instant = bool(rest and rest[0])
        height = 4 if kind == "stat" else 8
        if x + width > 24:
            x, y, row_h = 0, y + row_h, 0
        out.append(panel(i + 1, x, y, title, kind, unit, targets, width, height, instant))
        x += width
        row_h = max(row_h, height)
    return out


def dashboard(uid, title, description, vars_, panels):
    return {
        "uid": uid, "title": title, "description": description, "tags": ["vigil"],
        "schemaVersion": 38, "version": 1, "editable": True, "graphTooltip": 1,
        "time": {"from": "now-1h", "to": "now"}, "refresh": "30s", "timezone": "browser",
        "templating": {"list": vars_}, "annotations": {"list": []}, "links": [],
        "panels": layout(panels),
    }


NODE = 'instance=~"$instance"'
RATE = "$__rate_interval"

DASHBOARDS = {
    "node.json": dashboard(
        "vigil-node", "vigil / Node overview",
        "This node as node_exporter names it: CPU, memory, load, filesystems, disks, network.",
        variables(node=True),
        [
            ("Uptime", "stat", "s", [(f"time() - node_boot_time_seconds{{{NODE}}}", "{{instance}}")], 6),
            ("CPUs", "stat", "short",
             [(f'count by (instance) (node_cpu_seconds_total{{mode="idle", {NODE}}})', "{{instance}}")], 6),
            ("Memory", "stat", "bytes", [(f"node_memory_MemTotal_bytes{{{NODE}}}", "{{instance}}")], 6),
            ("Load per CPU", "stat", "short",
             [(f'node_load1{{{NODE}}} / count without (cpu, mode) (node_cpu_seconds_total{{mode="idle", {NODE}}})',
               "{{instance}}")], 6),
            ("CPU busy", "timeseries", "percentunit",
             [(f'1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle", {NODE}}}[{RATE}]))',
               "{{instance}}")], 12),
            ("Load", "timeseries", "short",
             [(f"node_load1{{{NODE}}}", "1m {{instance}}"), (f"node_load5{{{NODE}}}", "5m {{instance}}"),
              (f"node_load15{{{NODE}}}", "15m {{instance}}")], 12),
            ("Memory used", "timeseries", "percentunit",
             [(f"1 - node_memory_MemAvailable_bytes{{{NODE}}} / node_memory_MemTotal_bytes{{{NODE}}}",
               "{{instance}}")], 12),
            ("Filesystem used", "timeseries", "percentunit",
             [(f'1 - node_filesystem_avail_bytes{{fstype!="", {NODE}}} / node_filesystem_size_bytes{{fstype!="", {NODE}}}',
               "{{mountpoint}}")], 12),
            ("Disk throughput", "timeseries", "Bps",
             [(f"sum by (instance, device) (rate(node_disk_read_bytes_total{{{NODE}}}[{RATE}]))", "read {{device}}"),
              (f"sum by (instance, device) (rate(node_disk_written_bytes_total{{{NODE}}}[{RATE}]))", "write {{device}}")], 12),
            ("Network", "timeseries", "Bps",
             [(f'sum by (instance, device) (rate(node_network_receive_bytes_total{{device!="lo", {NODE}}}[{RATE}]))',
               "in {{device}}"),
              (f'sum by (instance, device) (rate(node_network_transmit_bytes_total{{device!="lo", {NODE}}}[{RATE}]))',
               "out {{device}}")], 12),
        ]),
    "containers.json": dashboard(
        "vigil-containers", "vigil / Containers and pods",
        "Containers as cAdvisor names them: CPU, memory working set, throttling, network, OOM kills.",
        variables(namespace=True),
        [
            ("CPU by pod", "timeseries", "short",
             [('sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{container!="", namespace=~"$namespace"}'
               f"[{RATE}]))", "{{namespace}}/{{pod}}")], 12),
            ("Memory working set by pod", "timeseries", "bytes",
             [('sum by (namespace, pod) (container_memory_working_set_bytes{container!="", namespace=~"$namespace"})',
               "{{namespace}}/{{pod}}")], 12),
            ("CPU throttling", "timeseries", "percentunit",
             [('sum by (namespace, pod, container) (rate(container_cpu_cfs_throttled_periods_total{container!="", '
               f'namespace=~"$namespace"}}[{RATE}])) / sum by (namespace, pod, container) '
               f'(rate(container_cpu_cfs_periods_total{{container!="", namespace=~"$namespace"}}[{RATE}]))',
               "{{namespace}}/{{pod}}/{{container}}")], 12),
            ("Network by pod", "timeseries", "Bps",
             [('sum by (namespace, pod) (rate(container_network_receive_bytes_total{namespace=~"$namespace"}'
               f"[{RATE}]))", "in {{namespace}}/{{pod}}"),
              ('sum by (namespace, pod) (rate(container_network_transmit_bytes_total{namespace=~"$namespace"}'
               f"[{RATE}]))", "out {{namespace}}/{{pod}}")], 12),
            ("OOM kills (1h)", "table", "short",
             [('sum by (namespace, pod, container) (increase(container_oom_events_total{container!="", '
               'namespace=~"$namespace"}[1h]))', "")], 12, True),
            ("Memory against limit", "table", "percentunit",
             [('max by (namespace, pod, container) (container_memory_working_set_bytes{container!="", '
               'namespace=~"$namespace"} / (container_spec_memory_limit_bytes{container!="", '
               'namespace=~"$namespace"} > 0))', "")], 12, True),
        ]),
    "logs.json": dashboard(
        "vigil-logs", "vigil / Logs",
        "Container logs from logship: volume by namespace and by level, and recent errors.",
        variables(logs=True),
        [
            ("Lines by namespace", "timeseries", "short",
             [("logs", 'sum by (namespace) (count_over_time({namespace=~".+"}[$__interval]))', "{{namespace}}")], 12),
            ("Lines by level", "timeseries", "short",
             [("logs", 'sum by (level) (count_over_time({namespace=~".+"} | logfmt [$__interval]))', "{{level}}")], 12),
            ("Recent errors", "logs", "short",
             [("logs", '{namespace=~".+"} |~ "(?i)(error|exception|fatal|panic)"', "")], 24),
        ]),
    "alerts.json": dashboard(
        "vigil-alerts", "vigil / Alerts",
        "Alerts from alertd: firing and pending now and over time (ALERTS), and the alert list.",
        variables(),
        [
            ("Firing", "stat", "short", [('count(ALERTS{alertstate="firing"}) or vector(0)', "firing")], 6),
            ("Pending", "stat", "short", [('count(ALERTS{alertstate="pending"}) or vector(0)', "pending")], 6),
            ("Rules evaluated per second", "stat", "short",
             [(f"sum(rate(vigil_alertd_rule_evaluations_total[{RATE}]))", "rules/s")], 6),
            ("Notifications dropped (1h)", "stat", "short",
             [("sum(increase(vigil_alertd_notifications_dropped_total[1h])) or vector(0)", "dropped")], 6),
            ("Alerts over time", "timeseries", "short",
             [("sum by (alertstate) (ALERTS) or vector(0)", "{{alertstate}}")], 12),
            ("Active alerts", "table", "short",
             [("ALERTS", "")], 12, True),
        ]),
    "vigil.json": dashboard(
        "vigil-health", "vigil / Health",
        "vigil's own metrics: ingest rates, queue depths, drops, query latency, rule evaluation.",
        variables(),
        [
            ("Samples ingested", "timeseries", "short",
             [(f"sum(rate(vigil_tsdb_samples_appended_total[{RATE}]))", "samples/s")], 8),
            ("Log lines stored", "timeseries", "short",
             [(f"sum(rate(vigil_logship_store_lines_total[{RATE}]))", "lines/s")], 8),
            ("Active series", "timeseries", "short", [("sum(vigil_tsdb_active_series)", "series")], 8),
            ("remote_write queue", "timeseries", "bytes",
             [("sum by (instance) (vigil_agent_remote_write_queue_bytes)", "agent {{instance}}")], 8),
            ("Log spool", "timeseries", "bytes", [("sum by (instance) (vigil_logship_spool_bytes)", "spool {{instance}}")], 8),
            ("Drops", "timeseries", "short",
             [(f"sum(rate(vigil_agent_remote_write_dropped_samples_total[{RATE}])) or vector(0)", "samples"),
              (f"sum(rate(vigil_agent_log_dropped_lines_total[{RATE}])) or vector(0)", "log lines (agent)"),
              (f"sum(rate(vigil_logship_spool_dropped_lines_total[{RATE}])) or vector(0)", "log lines (spool)")], 8),
            ("Query latency (p99)", "timeseries", "s",
             [(f"histogram_quantile(0.99, sum by (le) (rate(vigil_tsdb_query_duration_seconds_bucket[{RATE}])))",
               "PromQL"),
              (f"histogram_quantile(0.99, sum by (le) (rate(vigil_logship_query_duration_seconds_bucket[{RATE}])))",
               "LogQL")], 12),
            ("HTTP request latency (p99)", "timeseries", "s",
             [(f"histogram_quantile(0.99, sum by (le, handler) (rate(vigil_http_request_duration_seconds_bucket[{RATE}])))",
               "{{handler}}")], 12),
            ("Group evaluation time (p99)", "timeseries", "s",
             [(f"histogram_quantile(0.99, sum by (le) (rate(vigil_alertd_group_duration_seconds_bucket[{RATE}])))",
               "p99")], 12),
        ]),
}

PROVISIONING = {
    "provisioning/datasources.yaml": """\
# Grafana data sources for vigil: one URL serves the Prometheus API and the Loki API (vigil up);
# for the separate daemons, point Prometheus at vigil tsdb and Loki at vigil logship.
apiVersion: 1
datasources:
  - name: vigil
    uid: vigil
    type: prometheus
    access: proxy
    url: http://127.0.0.1:9090
    isDefault: true
    jsonData:
      httpMethod: POST
  - name: vigil-logs
    uid: vigil-logs
    type: loki
    access: proxy
    url: http://127.0.0.1:9090
""",
    "provisioning/dashboards.yaml": """\
# Grafana dashboard provisioning: the JSON files of this directory's parent.
apiVersion: 1
providers:
  - name: vigil
    folder: vigil
    type: file
    disableDeletion: false
    options:
      path: /var/lib/grafana/dashboards/vigil
""",
}


def render():
    out = {name: json.dumps(d, indent=2) + "\n" for name, d in DASHBOARDS.items()}
    out.update(PROVISIONING)
    return out


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    check = "--check" in sys.argv
    stale = []
    for name, text in render().items():
        path = os.path.join(here, name)
        if check:
            try:
                with open(path) as f:
                    if f.read() != text:
                        stale.append(name)
            except FileNotFoundError:
                stale.append(name)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    if stale:
        print("dashboards out of date (run python3 dashboards/build.py):", ", ".join(stale))
        sys.exit(1)
