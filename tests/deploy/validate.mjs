// Validates vigil's Kubernetes manifests offline: every object of every file that
// deploy/kustomization.yaml lists, against the Kubernetes schemas (kubernetes-models), and the
// rules vigil holds itself to (namespace, resources, read-only root, dropped capabilities, no
// service account token, probes). Prints each problem with its file and object; exits 1 on any.
//
//   node tests/deploy/validate.mjs deploy
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";

const dir = process.argv[2] ?? "deploy";
const problems = [];
const problem = (where, what) => problems.push(`${where}: ${what}`);

const kustomization = YAML.parse(fs.readFileSync(path.join(dir, "kustomization.yaml"), "utf8"));
if (kustomization.kind !== "Kustomization") problem("kustomization.yaml", "not a Kustomization");
const listed = new Set(kustomization.resources ?? []);
for (const f of fs.readdirSync(dir)) {
  if (f.endsWith(".yaml") && f !== "kustomization.yaml" && !listed.has(f)) {
    problem(f, "not listed in kustomization.yaml resources");
  }
}

const clusterScoped = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding"]);
let objects = 0;
for (const file of listed) {
  const full = path.join(dir, file);
  if (!fs.existsSync(full)) {
    problem(file, "listed in kustomization.yaml but missing");
    continue;
  }
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(full, "utf8"))) {
    if (doc.errors.length) {
      problem(file, `YAML: ${doc.errors[0].message}`);
      continue;
    }
    const obj = doc.toJS();
    if (obj === null) continue;
    objects++;
    const where = `${file}: ${obj.kind}/${obj.metadata?.name}`;
    let Model;
    try {
      Model = (await import(`kubernetes-models/${obj.apiVersion}/${obj.kind}`))[obj.kind];
    } catch (e) {
      problem(where, `unknown apiVersion/kind ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      problem(where, `schema: ${e.message}`);
    }
    if (!clusterScoped.has(obj.kind) && obj.metadata?.namespace !== "vigil") {
      problem(where, "not in the vigil namespace");
    }
    if (obj.kind === "ServiceAccount" && obj.automountServiceAccountToken !== false) {
      problem(where, "mounts a token: no vigil component uses the Kubernetes API");
    }
    const pod = obj.spec?.template?.spec;
    if (!pod) continue;
    if (pod.automountServiceAccountToken !== false) problem(where, "pod mounts a token");
    if (obj.kind === "DaemonSet" && !(pod.tolerations ?? []).some((t) => t.operator === "Exists")) {
      problem(where, "does not tolerate every taint");
    }
    for (const c of pod.containers ?? []) {
      const cw = `${where} container ${c.name}`;
      if (!/:[^:/]+$/.test(c.image ?? "")) problem(cw, "image without a tag");
      if (!c.resources?.requests || !c.resources?.limits) problem(cw, "no requests or limits");
      const sc = c.securityContext ?? {};
      if (sc.readOnlyRootFilesystem !== true) problem(cw, "root filesystem is writable");
      if (sc.allowPrivilegeEscalation !== false) problem(cw, "privilege escalation allowed");
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) problem(cw, "capabilities not dropped");
      if (!c.readinessProbe || !c.livenessProbe) problem(cw, "no readiness or liveness probe");
      const runsAsRoot = sc.runAsUser === 0;
      if (runsAsRoot && obj.kind !== "DaemonSet") problem(cw, "runs as root");
      if (!runsAsRoot && pod.securityContext?.runAsNonRoot !== true) problem(cw, "not runAsNonRoot");
    }
  }
}
if (objects === 0) problem(dir, "no objects");
for (const p of problems) console.error(p);
console.log(`${objects} objects in ${listed.size} files: ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
