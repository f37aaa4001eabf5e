// vigil's web UI: a query page (PromQL and LogQL, graph, table, log view), the alerts page and the
// shipped dashboards, against the APIs of the vigil serving it. No request leaves that origin.

const main = document.getElementById("main");
let ownHash = "";

// ---- helpers ---------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function api(path, params = {}) {
  const q = new URLSearchParams(params).toString();
  const res = await fetch(path + (q ? "?" + q : ""));
  const body = await res.json().catch(() => ({ status: "error", error: `HTTP ${res.status}` }));
  if (body.status !== "success") throw new Error(body.error || `HTTP ${res.status}`);
  return body.data;
}

function labelsOf(metric) {
  return el("span", { class: "labels" },
    Object.entries(metric || {}).map(([k, v]) => el("span", {}, `${k}="${v}"`)));
}

function seriesName(metric) {
  const m = { ...(metric || {}) };
  const name = m.__name__ || "";
  delete m.__name__;
  const inner = Object.entries(m).map(([k, v]) => `${k}="${v}"`).join(", ");
  return name + (inner ? `{${inner}}` : name ? "" : "{}");
}

function isLogQL(q) {
  return /^\s*\{/.test(q) || /(count_over_time|bytes_over_time|bytes_rate)\s*\(/.test(q) ||
    /\{[^}]*\}\s*(\|=|!=|\|~|!~|\|)/.test(q);
}

const nowS = () => Date.now() / 1000;

// A uPlot graph of Prometheus-style matrix results ([{metric, values: [[t, "v"], ...]}]).
function graph(container, result, { height = 260, bars = false, start, end } = {}) {
  const times = [...new Set(result.flatMap((s) => s.values.map((p) => Number(p[0]))))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const data = [times];
  const series = [{}];
  const colors = ["#2f6fde", "#d64545", "#2a9d8f", "#d99a1e", "#7b5cd6", "#3aa655", "#c0508a", "#5a6b8a"];
  result.forEach((s, i) => {
    const ys = new Array(times.length).fill(null);
    for (const [t, v] of s.values) ys[index.get(Number(t))] = Number(v);
    data.push(ys);
    series.push({ label: s.label ?? seriesName(s.metric), stroke: colors[i % colors.length],
      fill: bars ? colors[i % colors.length] + "88" : undefined,
      paths: bars ? uPlot.paths.bars({ size: [0.8, 40] }) : undefined, width: 1.5 });
  });
  container.dataset.series = String(result.length);
  container.dataset.points = String(times.length);
  const width = Math.max(300, container.clientWidth || 800);
  const scales = start !== undefined ? { x: { time: true, range: [start, end] } } : {};
  return new uPlot({ width, height, series, scales, axes: [{}, { size: 60 }], legend: { live: true } },
    data, container);
}

// ---- query -----------------------------------------------------------------------------------

// The metric and label names, fetched once (every caller shares the one request).
let names = null;
function completions() {
  if (!names) {
    names = Promise.all([api("/api/v1/label/__name__/values"), api("/api/v1/labels")])
      .then(([metrics, labels]) => [...metrics, ...labels])
      .catch(() => []);  // completion is a nicety
  }
  return names;
}

// Completion of metric and label names at the word under the cursor: a list under the input,
// ↑ ↓ to choose, Tab or Enter (or a click) to insert.
function attachCompletion(input) {
  const list = el("ul", { id: "complete", class: "complete" });
  let items = [], chosen = -1;
  const word = () => {
    const before = input.value.slice(0, input.selectionStart);
    return (before.match(/[a-zA-Z_:][a-zA-Z0-9_:]*$/) || [""])[0];
  };
  const close = () => { items = []; chosen = -1; list.replaceChildren(); };
  const insert = (name) => {
    const w = word(), pos = input.selectionStart;
    input.value = input.value.slice(0, pos - w.length) + name + input.value.slice(pos);
    const at = pos - w.length + name.length;
    input.setSelectionRange(at, at);
    close();
    input.focus();
  };
  const show = async () => {
    if (word().length < 2) return close();
    const all = await completions();
    const w = word();  // the word as it is now, after the wait
    if (w.length < 2) return close();
    items = all.filter((n) => n.startsWith(w) && n !== w).slice(0, 12);
    chosen = items.length ? 0 : -1;
    list.replaceChildren(...items.map((n, i) => el("li", { class: i === chosen ? "chosen" : "", onmousedown: (e) => { e.preventDefault(); insert(n); } }, n)));
  };
  input.addEventListener("input", show);
  input.addEventListener("blur", close);
  input.addEventListener("keydown", (e) => {
    if (!items.length) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      chosen = (chosen + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      [...list.children].forEach((li, i) => li.classList.toggle("chosen", i === chosen));
      e.preventDefault();
    } else if ((e.key === "Tab" || e.key === "Enter") && chosen >= 0) {
      insert(items[chosen]);
      e.preventDefault();
      e.stopImmediatePropagation();
    } else if (e.key === "Escape") {
      close();
    }
  });
  return list;
}

function queryPage() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const input = el("input", { type: "text", id: "expr", autocomplete: "off", spellcheck: "false", placeholder: "PromQL (rate(x[5m])) or LogQL ({app=\"web\"} |= \"error\")", value: params.get("q") || "" });
  const list = attachCompletion(input);
  completions();  // fetched while the page is read
  const mode = el("select", { id: "mode" }, el("option", { value: "range" }, "Graph"), el("option", { value: "instant" }, "Table"));
  const range = el("select", { id: "range" }, ["5m", "15m", "1h", "6h", "24h"].map((r) => el("option", { value: r }, r)));
  range.value = "1h";
  const out = el("div", { id: "result" });
  const run = async () => {
    out.replaceChildren(el("p", { class: "muted" }, "running…"));
    ownHash = "#/query?q=" + encodeURIComponent(input.value);
    location.hash = ownHash;
    try {
      await runQuery(input.value, mode.value, range.value, out);
    } catch (e) {
      out.replaceChildren(el("p", { class: "error", id: "query-error" }, e.message));
    }
  };
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") run(); });
  main.replaceChildren(
    el("div", { class: "card" }, el("div", { class: "row" }, el("div", { class: "expr" }, input, list), mode, range,
      el("button", { class: "primary", id: "run", onclick: run }, "Run")),
      el("p", { class: "muted" }, "PromQL goes to /api/v1, LogQL (a query starting with { or using a log range function) to /loki/api/v1. Names complete as you type.")),
    out);
  if (input.value) run();
}

const seconds = { "5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400 };

async function runQuery(q, mode, rangeName, out) {
  const end = nowS(), start = end - seconds[rangeName];
  const step = Math.max(1, Math.round((end - start) / 240));
  if (isLogQL(q)) {
    const base = "/loki/api/v1";
    if (mode === "instant") {
      const data = await api(base + "/query", { query: q, time: String(Math.round(end * 1e9)) });
      return table(out, data);
    }
    const data = await api(base + "/query_range", { query: q, start: String(Math.round(start * 1e9)), end: String(Math.round(end * 1e9)), step: String(step), limit: "500" });
    if (data.resultType === "streams") return logView(out, q, data.result, start, end, step);
    return graphCard(out, data.result, start, end);
  }
  if (mode === "instant") return table(out, await api("/api/v1/query", { query: q, time: String(end) }));
  const data = await api("/api/v1/query_range", { query: q, start: String(start), end: String(end), step: String(step) });
  return graphCard(out, data.result, start, end);
}

function graphCard(out, result, start, end) {
  const box = el("div", { id: "graph" });
  out.replaceChildren(el("div", { class: "card" }, result.length ? "" : el("p", { class: "muted" }, "no data"), box));
  if (result.length) graph(box, result, { start, end });
}

function table(out, data) {
  const rows = data.resultType === "scalar" ? [{ metric: {}, value: data.result }] : data.result;
  out.replaceChildren(el("div", { class: "card" }, el("table", { id: "table" },
    el("tr", {}, el("th", {}, "series"), el("th", {}, "value")),
    rows.map((r) => el("tr", {}, el("td", {}, labelsOf(r.metric)), el("td", {}, r.value ? r.value[1] : ""))))));
}

async function logView(out, q, streams, start, end, step) {
  const lines = streams.flatMap((s) => s.values.map(([ts, line]) => ({ ts, line, labels: s.stream })))
    .sort((a, b) => (a.ts < b.ts ? 1 : -1));
  const hist = el("div", { id: "volume" });
  out.replaceChildren(
    el("div", { class: "card" }, el("p", { class: "muted" }, "log volume"), hist),
    el("div", { class: "card logs", id: "logs" }, lines.map((l) => el("div", { class: "line" },
      el("span", { class: "ts" }, new Date(Number(BigInt(l.ts) / 1000000n)).toISOString()),
      labelsOf(l.labels), " ", l.line))));
  // The volume: lines per step of the stream selector.
  const selector = q.match(/^\s*(\{[^}]*\})/);
  if (!selector) return;
  const bucket = Math.max(step, 10);
  const vol = await api("/loki/api/v1/query_range", { query: `sum(count_over_time(${selector[1]}[${bucket}s]))`, start: String(Math.round(start * 1e9)), end: String(Math.round(end * 1e9)), step: String(bucket) });
  if (vol.result.length) graph(hist, vol.result.map((s) => ({ ...s, label: "lines" })), { height: 120, bars: true, start, end });
}

// ---- alerts ----------------------------------------------------------------------------------

async function alertsPage() {
  main.replaceChildren(el("p", { class: "muted" }, "loading…"));
  const data = await api("/api/v1/alerts");
  const rows = data.alerts.sort((a, b) => (a.state < b.state ? -1 : 1));
  main.replaceChildren(el("div", { class: "card" },
    el("p", {}, `${rows.filter((a) => a.state === "firing").length} firing, ${rows.filter((a) => a.state === "pending").length} pending`),
    el("table", { id: "alerts" }, el("tr", {}, ["alert", "state", "labels", "annotations", "active since", "value"].map((h) => el("th", {}, h))),
      rows.map((a) => el("tr", { class: "alert" },
        el("td", {}, a.labels.alertname), el("td", { class: "state-" + a.state }, a.state),
        el("td", {}, labelsOf(Object.fromEntries(Object.entries(a.labels).filter(([k]) => k !== "alertname")))),
        el("td", {}, Object.entries(a.annotations).map(([k, v]) => el("div", {}, el("b", {}, k + ": "), v))),
        el("td", {}, a.activeAt), el("td", {}, a.value))))));
}

// ---- dashboards ------------------------------------------------------------------------------

// A stat's value in its panel's unit.
function formatValue(v, unit) {
  if (!Number.isFinite(v)) return String(v);
  if (unit === "bytes") {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
  }
  if (unit === "s") {
    const d = Math.floor(v / 86400), h = Math.floor((v % 86400) / 3600), m = Math.floor((v % 3600) / 60);
    return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${Math.floor(v % 60)}s`;
  }
  if (unit === "percentunit") return `${(v * 100).toFixed(1)}%`;
  return v.toLocaleString(undefined, { maximumFractionDigits: 2 });
}

function substitute(expr, step) {
  return expr.replaceAll("$__rate_interval", "5m").replaceAll("$__interval", `${step}s`)
    .replaceAll("$instance", ".+").replaceAll("$namespace", ".*");
}

async function dashboardsPage() {
  const name = (location.hash.split("?")[1] || "").replace("d=", "");
  const index = await (await fetch("/ui/dashboards/index.json")).json();
  const pick = el("select", { id: "dashboard", onchange: (e) => { location.hash = "#/dashboards?d=" + e.target.value; } },
    index.map((d) => el("option", { value: d.file }, d.title)));
  const file = name || index[0].file;
  pick.value = file;
  const grid = el("div", { class: "grid", id: "panels" });
  main.replaceChildren(el("div", { class: "card row" }, "Dashboard ", pick), grid);
  const d = await (await fetch("/ui/dashboards/" + file)).json();
  const end = nowS(), start = end - 3600, step = 30;
  for (const p of d.panels) {
    const box = el("div", { class: "panel", style: `grid-column: span ${p.gridPos.w}` }, el("h3", {}, p.title));
    const body = el("div", { class: "body" });
    box.append(body);
    grid.append(box);
    renderPanel(p, body, start, end, step).catch((e) => body.append(el("p", { class: "error" }, e.message)));
  }
}

async function renderPanel(p, body, start, end, step) {
  const logs = p.datasource.type === "loki";
  const base = logs ? "/loki/api/v1" : "/api/v1";
  const ts = (t) => String(logs ? Math.round(t * 1e9) : t);
  const results = [];
  for (const t of p.targets) {
    const q = substitute(t.expr, step);
    if (p.type === "stat" || p.type === "table") {
      const data = await api(base + "/query", { query: q, time: ts(end) });
      results.push(...(data.resultType === "scalar" ? [{ metric: {}, value: data.result }] : data.result));
    } else {
      const data = await api(base + "/query_range", { query: q, start: ts(start), end: ts(end), step: String(step), limit: "200" });
      results.push(...data.result.map((r) => ({ ...r, label: t.legendFormat ? t.legendFormat.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k) => (r.metric || {})[k] ?? "") : undefined })));
    }
  }
  body.dataset.results = String(results.length);
  if (p.type === "stat") {
    body.append(el("div", { class: "stat" }, results.length ? formatValue(Number(results[0].value[1]), p.fieldConfig?.defaults?.unit) : "–"));
  } else if (p.type === "table") {
    body.append(el("table", {}, results.map((r) => el("tr", {}, el("td", {}, labelsOf(r.metric)), el("td", {}, r.value[1])))));
  } else if (p.type === "logs") {
    body.append(el("div", { class: "logs" }, results.flatMap((s) => s.values.map(([t, line]) => el("div", { class: "line" }, labelsOf(s.stream), " ", line)))));
  } else if (results.length) {
    graph(body, results, { height: 180, start, end });
  } else {
    body.append(el("p", { class: "muted" }, "no data"));
  }
}

// ---- routing ---------------------------------------------------------------------------------

const pages = { query: queryPage, alerts: alertsPage, dashboards: dashboardsPage };

async function route() {
  const page = (location.hash.match(/^#\/(\w+)/) || [null, "query"])[1];
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  try {
    await (pages[page] || queryPage)();
  } catch (e) {
    main.replaceChildren(el("p", { class: "error" }, e.message));
  }
}

// The query page puts its query in the hash when it runs (so a link or a reload repeats it);
// that change is not a navigation.
window.addEventListener("hashchange", () => {
  if (location.hash === ownHash) return;
  route();
});
route();
