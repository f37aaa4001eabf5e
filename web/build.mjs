// Builds web/dist: the UI's own files, uPlot's from npm, and the shipped dashboards with an
// index, all of which CMake compiles into the vigil binary (web/CMakeLists.txt). Run by
// scripts/setup.sh after `npm ci`.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, "dist");
fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(path.join(dist, "dashboards"), { recursive: true });
for (const f of fs.readdirSync(path.join(here, "src"))) {
  fs.copyFileSync(path.join(here, "src", f), path.join(dist, f));
}
for (const f of ["uPlot.iife.min.js", "uPlot.min.css"]) {
  fs.copyFileSync(path.join(here, "node_modules", "uplot", "dist", f), path.join(dist, f));
}
const boards = path.join(here, "..", "dashboards");
const index = [];
for (const f of fs.readdirSync(boards).filter((f) => f.endsWith(".json")).sort()) {
  const text = fs.readFileSync(path.join(boards, f), "utf8");
  fs.writeFileSync(path.join(dist, "dashboards", f), text);
  index.push({ file: f, title: JSON.parse(text).title });
}
fs.writeFileSync(path.join(dist, "dashboards", "index.json"), JSON.stringify(index, null, 2) + "\n");
console.log(`web: built ${fs.readdirSync(dist).length} files and ${index.length} dashboards into web/dist`);
