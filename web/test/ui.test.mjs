// The web UI in headless Chromium (Debian's, driven by playwright-core) against a real
// `vigil up`: the query page draws a graph and a table, the log view shows lines and their volume,
// the alerts page lists an alert this test provokes, a shipped dashboard renders its panels, and
// the console has no errors. Screenshots of each page go to the directory given (docs/screenshots).
//
//   node web/test/ui.test.mjs build/vigil docs/screenshots
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const [binary, shots] = process.argv.slice(2);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-ui-"));
fs.mkdirSync(shots, { recursive: true });
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); console.log(`${ok ? "ok  " : "FAIL"} ${what}`); };

// Log lines in the kubelet's layout, and a rule that fires at once.
const now = Date.now();
const lines = [];
for (let i = 0; i < 20; i++) {
  const ts = new Date(now - (20 - i) * 1000).toISOString().replace("Z", "000000Z");
  lines.push(`${ts} stdout F level=${i % 5 === 0 ? "error" : "info"} msg="order ${i} placed"`);
}
fs.mkdirSync(path.join(dir, "pods/shop_cart-1_uid-1/cart"), { recursive: true });
fs.writeFileSync(path.join(dir, "pods/shop_cart-1_uid-1/cart/0.log"), lines.join("\n") + "\n");
fs.writeFileSync(path.join(dir, "rules.yml"), `groups:
  - name: ui
    rules:
      - alert: UITestAlert
        expr: vector(1) > 0
        labels: {severity: warning}
        annotations: {summary: "provoked by the UI test"}
`);

const vigil = spawn(binary, ["up", "--listen", "127.0.0.1:0", "--data-dir", path.join(dir, "data"),
  "--interval", "1s", "--eval-interval", "1s", "--rules", path.join(dir, "rules.yml"),
  "--log-root", path.join(dir, "pods/*/*/*.log")], { stdio: ["ignore", "ignore", "pipe"] });
let stderr = "";
const base = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("vigil up did not start:\n" + stderr)), 30000);
  vigil.stderr.on("data", (d) => {
    stderr += d;
    const m = stderr.match(/is up: (http:\/\/[0-9.:]+)\//);
    if (m) { clearTimeout(timer); resolve(m[1]); }
  });
  vigil.on("exit", () => reject(new Error("vigil up exited:\n" + stderr)));
});
// A few collections first, so graphs have points and the rule has fired.
await new Promise((r) => setTimeout(r, 4000));

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(e.message));
  const outside = [];
  page.on("request", (r) => { if (!r.url().startsWith(base) && !r.url().startsWith("data:")) outside.push(r.url()); });

  await page.goto(`${base}/#/query?q=${encodeURIComponent("node_load1")}`);
  await page.waitForSelector("#graph canvas", { timeout: 20000 });
  const series = Number(await page.getAttribute("#graph", "data-series"));
  check(series >= 1, `query: a graph of node_load1 with ${series} series`);
  await page.screenshot({ path: path.join(shots, "query.png") });

  // Completion of names at the cursor.
  await page.fill("#expr", "");
  await page.type("#expr", "rate(node_lo");
  await page.waitForSelector("#complete li", { timeout: 20000 });
  const offered = await page.locator("#complete li").allInnerTexts();
  check(offered.includes("node_load1"), `completion: node_lo offers ${offered.slice(0, 4).join(", ")}`);
  await page.keyboard.press("Tab");
  check((await page.inputValue("#expr")).startsWith("rate(node_load"), "completion: Tab inserts the name");
  await page.fill("#expr", "node_load1");
  await page.selectOption("#mode", "instant");
  await page.click("#run");
  await page.waitForSelector("#table tr:nth-child(2)", { timeout: 10000 });
  check((await page.locator("#table tr").count()) >= 2, "query: an instant table");

  await page.goto(`${base}/#/query?q=${encodeURIComponent('{namespace="shop"}')}`);
  await page.waitForSelector("#logs .line", { timeout: 20000 });
  const shown = await page.locator("#logs .line").count();
  check(shown === 20, `logs: ${shown} of 20 lines shown`);
  await page.waitForSelector("#volume canvas", { timeout: 10000 });
  check(true, "logs: a volume histogram");
  await page.screenshot({ path: path.join(shots, "logs.png") });

  await page.goto(`${base}/#/alerts`);
  await page.reload();
  await page.waitForSelector("#alerts tr.alert", { timeout: 20000 });
  const alerts = await page.locator("#alerts").innerText();
  check(alerts.includes("UITestAlert") && alerts.includes("provoked by the UI test"), "alerts: the provoked alert is listed");
  await page.screenshot({ path: path.join(shots, "alerts.png") });

  await page.goto(`${base}/#/dashboards?d=node.json`);
  await page.reload();
  await page.waitForSelector("#panels .panel canvas", { timeout: 20000 });
  const board = JSON.parse(fs.readFileSync(new URL("../../dashboards/node.json", import.meta.url)));
  const panels = await page.locator("#panels .panel").count();
  check(panels === board.panels.length, `dashboards: node overview draws ${panels} of ${board.panels.length} panels`);
  await page.waitForTimeout(1500);
  await page.screenshot({ path: path.join(shots, "dashboards.png"), fullPage: true });

  check(errors.length === 0, `console: no errors${errors.length ? ": " + errors.join("; ") : ""}`);
  check(outside.length === 0, `no request leaves ${base}${outside.length ? ": " + outside.join(", ") : ""}`);
} finally {
  await browser.close();
  vigil.kill("SIGTERM");
  fs.rmSync(dir, { recursive: true, force: true });
}
if (failures.length) {
  console.error(`${failures.length} failed`);
  process.exit(1);
}
