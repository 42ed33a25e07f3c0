#!/usr/bin/env node
// Checks for deploy/k8s/base/prometheus/, used by prometheus_rules_test.sh and
// prometheus_scrape_test.sh. Node 18 compatible, offline (yaml and
// @prometheus-io/lezer-promql from tests/deploy/node_modules).
//
//   node prometheus_lib.js rules-lint RULES TESTS OPERATIONS_MD
//       every rule well-formed and unit-tested (firing and not firing);
//       runbook_url anchors exist in docs/operations.md
//   node prometheus_lib.js metric-names RULES PROMETHEUS_YML SCRAPE...
//       every metric / label / label value the rule expressions use exists in
//       the scrapes of the real binaries (or is recorded by the file itself)
//   node prometheus_lib.js k8s-sd PROMETHEUS_YML
//       the kubernetes_sd_configs blocks and the relabeling (the part the
//       Debian promtool cannot parse: it is built without Kubernetes SD)
//   node prometheus_lib.js derive PROMETHEUS_YML OUT RULES_PATH \
//       [JOB=ADDRESS,POD,NODE ...]
//       writes the config with rule_files -> RULES_PATH and, when targets are
//       given, kubernetes_sd_configs replaced by static targets carrying the
//       __meta_kubernetes_* labels pod discovery would give them (plus decoys
//       the relabeling must drop); scrape and evaluation interval 1s
//   node prometheus_lib.js rules-path-only PROMETHEUS_YML OUT RULES_PATH
//       the file unchanged but rule_files -> RULES_PATH
//   node prometheus_lib.js scrape-check URL RULES EXPECT_JSON
//       queries a running Prometheus (the scrape integration test)
"use strict";
const fs = require("fs");
const http = require("http");
const YAML = require("yaml");
const { parser: promqlParser } = require("@prometheus-io/lezer-promql");

function die(msg) {
  process.stderr.write(`FAIL: ${msg}\n`);
  process.exit(1);
}

function loadYaml(file) {
  const doc = YAML.parseDocument(fs.readFileSync(file, "utf8"));
  if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
  return doc.toJS();
}

// ------------------------------------------------------------------ rules

function rulesOf(rulesDoc) {
  const out = [];
  for (const g of rulesDoc.groups || []) {
    for (const r of g.rules || []) out.push({ group: g.name, ...r });
  }
  return out;
}

// Target labels every scrape path gives (prometheus.yml relabeling and the
// ServiceMonitor alike), plus job/instance.
const TARGET_LABELS = new Set(["job", "instance", "namespace", "pod", "node"]);
// Series Prometheus itself makes for every target.
const SYNTHETIC_METRICS = new Set(["up"]);
// Label values a healthy binary never exports, which the rules must still
// name: metric -> label -> values, with the reason.
const UNOBSERVABLE_VALUES = {
  memmgr_rpc_requests_total: {
    // Only after a stored page failed its crc32c (absl::StatusCodeToString).
    code: ["DATA_LOSS"],
  },
};

// GitHub's heading anchor: lower case, punctuation dropped, spaces -> '-'.
function githubSlug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function anchorsOf(markdown) {
  const anchors = new Set();
  let inFence = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*```/.test(line)) inFence = !inFence;
    if (inFence) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m) anchors.add(githubSlug(m[1]));
    for (const a of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(a[1]);
  }
  return anchors;
}

function rulesLint(rulesFile, testsFile, opsFile) {
  selfTest();
  const problems = [];
  const rules = rulesOf(loadYaml(rulesFile));
  const tests = loadYaml(testsFile);
  const anchors = anchorsOf(fs.readFileSync(opsFile, "utf8"));
  if (rules.length === 0) problems.push(`${rulesFile}: no rules`);

  const firing = new Map(); // alertname -> count of tests expecting alerts
  const silent = new Map(); // alertname -> count of tests expecting none
  const exprTested = new Set();
  for (const t of tests.tests || []) {
    for (const a of t.alert_rule_test || []) {
      const m = a.exp_alerts && a.exp_alerts.length ? firing : silent;
      m.set(a.alertname, (m.get(a.alertname) || 0) + 1);
      for (const e of a.exp_alerts || []) {
        if (!e.exp_annotations || !e.exp_annotations.description) {
          problems.push(`test "${t.name}": ${a.alertname} at ${a.eval_time} expects no annotations`);
        }
      }
    }
    for (const p of t.promql_expr_test || []) {
      for (const id of identifiersIn(p.expr)) exprTested.add(id);
      if (!p.exp_samples || p.exp_samples.length === 0) {
        problems.push(`test "${t.name}": promql_expr_test ${p.expr} expects no sample`);
      }
    }
  }

  const names = new Set();
  for (const r of rules) {
    const name = r.alert || r.record;
    if (!name) {
      problems.push(`group ${r.group}: a rule with neither alert nor record`);
      continue;
    }
    if (names.has(name) && r.alert) problems.push(`alert ${name} defined twice`);
    names.add(name);
    if (r.record) {
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+$/.test(r.record)) {
        problems.push(`record ${r.record}: not named level:metric:operations`);
      }
      if (!exprTested.has(r.record)) {
        problems.push(`record ${r.record}: no promql_expr_test in ${testsFile} checks it`);
      }
      continue;
    }
    const sev = (r.labels || {}).severity;
    if (!["critical", "warning", "info"].includes(sev)) {
      problems.push(`alert ${name}: severity label ${JSON.stringify(sev)} is not critical|warning|info`);
    }
    const ann = r.annotations || {};
    for (const k of ["summary", "description", "runbook_url"]) {
      if (!ann[k]) problems.push(`alert ${name}: no ${k} annotation`);
    }
    const wantUrl = `docs/operations.md#alert-${name.toLowerCase()}`;
    if (ann.runbook_url && ann.runbook_url !== wantUrl) {
      problems.push(`alert ${name}: runbook_url ${ann.runbook_url}, expected ${wantUrl}`);
    }
    const anchor = `alert-${name.toLowerCase()}`;
    if (!anchors.has(anchor)) {
      problems.push(`alert ${name}: ${opsFile} has no heading with anchor #${anchor} (e.g. "### Alert: ${name}")`);
    }
    if (!firing.get(name)) problems.push(`alert ${name}: no alert_rule_test expects it firing`);
    if (!silent.get(name)) problems.push(`alert ${name}: no alert_rule_test expects it silent`);
  }
  for (const a of new Set([...firing.keys(), ...silent.keys()])) {
    if (!rules.some((r) => r.alert === a)) problems.push(`tests name alert ${a}, which the rules do not define`);
  }
  if (problems.length) die(`rules lint:\n  ${problems.join("\n  ")}`);
  const alerts = rules.filter((r) => r.alert).length;
  console.log(`rules lint: ${alerts} alerts tested firing and silent, ${rules.length - alerts} recording rules tested, runbook anchors present`);
}

// --------------------------------------------------------------- PromQL

// Parses with the Prometheus project's own PromQL grammar (lezer-promql
// 0.42, the grammar of Prometheus 2.42) and returns what the expression
// refers to: vector selectors (metric name + label matchers), grouping
// labels (by/without/on/ignoring/group_left/group_right) and the labels
// label_replace/label_join write.
function analyze(expr) {
  const tree = promqlParser.parse(expr);
  const errors = [];
  const selectors = [];
  const groupingLabels = [];
  const producedLabels = [];
  const text = (n) => expr.slice(n.from, n.to);
  const unquote = (s) => {
    if (s.startsWith("`")) return s.slice(1, -1);
    return JSON.parse(s.startsWith("'") ? `"${s.slice(1, -1).replace(/"/g, '\\"')}"` : s);
  };
  tree.iterate({
    enter(ref) {
      const n = ref.node;
      if (n.type.isError) errors.push(`syntax error at ${n.from}: ${JSON.stringify(expr.slice(Math.max(0, n.from - 20), n.from + 20))}`);
      if (n.name === "VectorSelector") {
        const sel = { name: null, matchers: [] };
        const id = n.getChild("Identifier");
        if (id) sel.name = text(id);
        const lm = n.getChild("LabelMatchers");
        if (lm) {
          for (const m of lm.getChildren("LabelMatcher")) {
            const ln = m.getChild("LabelName");
            const op = m.getChild("MatchOp");
            const val = m.getChild("StringLiteral");
            if (!ln || !op || !val) {
              errors.push(`cannot read label matcher ${text(m)}`);
              continue;
            }
            const matcher = { label: text(ln), op: text(op), value: unquote(text(val)) };
            if (matcher.label === "__name__" && matcher.op === "=") sel.name = matcher.value;
            else sel.matchers.push(matcher);
          }
        }
        if (!sel.name) errors.push(`selector without a metric name: ${text(n)}`);
        selectors.push(sel);
      }
      if (n.name === "GroupingLabels") {
        for (const l of n.getChildren("LabelName")) groupingLabels.push(text(l));
      }
      if (n.name === "FunctionCall") {
        const fn = n.getChild("FunctionIdentifier");
        if (fn && /^label_(replace|join)$/.test(text(fn))) {
          const body = n.getChild("FunctionCallBody");
          const strings = body ? body.getChildren("StringLiteral") : [];
          if (strings.length) producedLabels.push(unquote(text(strings[0])));
        }
      }
    },
  });
  return { errors, selectors, groupingLabels, producedLabels };
}

// The grammar's node names differ between lezer-promql releases: make sure
// this one yields what analyze() reads before trusting an empty answer.
function selfTest() {
  const a = analyze('sum by (x) (rate(m1{a="1",b!~"2"}[5m] offset 1m)) / on (x) group_left ' +
    '{__name__="m2"} or label_replace(m3[10m:1m], "r", "v", "", "") unless absent(up{job="j"})');
  const got = JSON.stringify({ s: a.selectors, g: a.groupingLabels, p: a.producedLabels, e: a.errors });
  const want = JSON.stringify({
    s: [{ name: "m1", matchers: [{ label: "a", op: "=", value: "1" }, { label: "b", op: "!~", value: "2" }] },
      { name: "m2", matchers: [] }, { name: "m3", matchers: [] }, { name: "up", matchers: [{ label: "job", op: "=", value: "j" }] }],
    g: ["x", "x"], p: ["r"], e: [],
  });
  if (got !== want) die(`PromQL parser self-test: got ${got}, expected ${want} (@prometheus-io/lezer-promql version?)`);
  if (analyze("rate(m[5m]) +").errors.length === 0) die("PromQL parser self-test: a syntax error went unnoticed");
}

function identifiersIn(expr) {
  return analyze(String(expr)).selectors.map((s) => s.name).filter(Boolean);
}

// Prometheus text exposition -> Map(sample name -> Map(label -> Set(values))).
function parseExposition(text, file) {
  const metrics = new Map();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{|\s)/.exec(line);
    if (!m) throw new Error(`${file}:${i + 1}: cannot parse ${JSON.stringify(line)}`);
    const name = m[1];
    const labels = new Map();
    let pos = name.length;
    if (line[pos] === "{") {
      pos++;
      while (line[pos] !== "}") {
        const lm = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(pos));
        if (!lm) throw new Error(`${file}:${i + 1}: bad label at ${pos}: ${line}`);
        pos += lm[0].length;
        let v = "";
        while (line[pos] !== '"') {
          if (pos >= line.length) throw new Error(`${file}:${i + 1}: unterminated label value`);
          if (line[pos] === "\\") {
            const c = line[pos + 1];
            v += c === "n" ? "\n" : c;
            pos += 2;
          } else v += line[pos++];
        }
        pos++;
        labels.set(lm[1], v);
        if (line[pos] === ",") pos++;
      }
    }
    if (!metrics.has(name)) metrics.set(name, new Map());
    const known = metrics.get(name);
    for (const [k, v] of labels) {
      if (!known.has(k)) known.set(k, new Set());
      known.get(k).add(v);
    }
  }
  return metrics;
}

function metricNames(rulesFile, promFile, scrapeFiles) {
  selfTest();
  const rules = rulesOf(loadYaml(rulesFile));
  const prom = loadYaml(promFile);
  const jobs = new Set((prom.scrape_configs || []).map((s) => s.job_name));
  const scraped = new Map();
  for (const f of scrapeFiles) {
    const m = parseExposition(fs.readFileSync(f, "utf8"), f);
    if (m.size === 0) die(`${f}: the scrape has no sample`);
    for (const [name, labels] of m) {
      if (!scraped.has(name)) scraped.set(name, new Map());
      for (const [k, vs] of labels) {
        if (!scraped.get(name).has(k)) scraped.get(name).set(k, new Set());
        for (const v of vs) scraped.get(name).get(k).add(v);
      }
    }
  }
  const recorded = new Set(rules.filter((r) => r.record).map((r) => r.record));
  const allLabelValues = new Map(); // label -> values seen on any metric
  for (const labels of scraped.values()) {
    for (const [k, vs] of labels) {
      if (!allLabelValues.has(k)) allLabelValues.set(k, new Set());
      for (const v of vs) allLabelValues.get(k).add(v);
    }
  }
  const analyses = rules.map((r) => ({ rule: r, a: analyze(String(r.expr)) }));
  const produced = new Set(analyses.flatMap(({ a }) => a.producedLabels));
  const knownLabel = (l) => TARGET_LABELS.has(l) || allLabelValues.has(l) || produced.has(l) || l === "le";

  const problems = [];
  const used = new Set();
  for (const { rule, a } of analyses) {
    const where = rule.alert ? `alert ${rule.alert}` : `record ${rule.record}`;
    for (const e of a.errors) problems.push(`${where}: ${e}`);
    if (a.selectors.length === 0) problems.push(`${where}: the expression selects no metric`);
    for (const sel of a.selectors) {
      if (!sel.name) continue;
      used.add(sel.name);
      let labelsOf = null;
      if (SYNTHETIC_METRICS.has(sel.name)) {
        labelsOf = new Map();
      } else if (recorded.has(sel.name)) {
        labelsOf = null; // checked against every known label below
      } else if (scraped.has(sel.name)) {
        labelsOf = scraped.get(sel.name);
      } else {
        problems.push(`${where}: metric ${sel.name} is not exported by memmgr-server or memmgr-worker (not in ${scrapeFiles.join(", ")}) and not recorded by ${rulesFile}`);
        continue;
      }
      for (const m of sel.matchers) {
        if (m.label === "job") {
          if ((m.op === "=" || m.op === "!=") && !jobs.has(m.value)) {
            problems.push(`${where}: ${sel.name}{job${m.op}"${m.value}"}: no scrape job ${m.value} in ${promFile}`);
          }
          continue;
        }
        if (TARGET_LABELS.has(m.label)) continue;
        const values = labelsOf ? labelsOf.get(m.label) : allLabelValues.get(m.label);
        if (!values && !(labelsOf === null && produced.has(m.label))) {
          problems.push(`${where}: ${sel.name} has no label ${m.label}`);
          continue;
        }
        if ((m.op === "=" || m.op === "!=") && values && !values.has(m.value)) {
          const allowed = ((UNOBSERVABLE_VALUES[sel.name] || {})[m.label] || []).includes(m.value);
          if (!allowed) {
            problems.push(`${where}: ${sel.name}{${m.label}${m.op}"${m.value}"}: value never exported (seen: ${[...values].join(", ")})`);
          }
        }
      }
    }
    for (const l of a.groupingLabels) {
      if (!knownLabel(l)) problems.push(`${where}: grouping label ${l} is on no metric`);
    }
    for (const text of Object.values(rule.annotations || {})) {
      for (const m of String(text).matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)) {
        if (!knownLabel(m[1])) problems.push(`${where}: annotation uses $labels.${m[1]}, a label no metric has`);
      }
    }
  }
  if (problems.length) die(`metric names:\n  ${problems.join("\n  ")}`);
  const real = [...used].filter((n) => !recorded.has(n));
  console.log(`metric names: ${real.length} exported metrics and ${[...used].length - real.length} recorded series used by ${rules.length} rules, all exist`);
}

// ------------------------------------------------------ Kubernetes SD

// The fields Prometheus 2.42 accepts in a kubernetes_sd_config
// (discovery/kubernetes/kubernetes.go SDConfig + common HTTPClientConfig)
// and the checks its UnmarshalYAML makes. Debian's prometheus/promtool are
// built without Kubernetes discovery, so nothing on this machine parses it.
const K8S_SD_KEYS = new Set([
  "api_server", "role", "kubeconfig_file", "namespaces", "selectors", "attach_metadata",
  "basic_auth", "authorization", "oauth2", "bearer_token", "bearer_token_file",
  "tls_config", "proxy_url", "follow_redirects", "enable_http2",
]);
const K8S_ROLES = ["pod", "service", "endpoints", "endpointslice", "node", "ingress"];
const K8S_SELECTOR_ROLES = {
  pod: ["pod"], service: ["service"], node: ["node"], ingress: ["ingress"],
  endpoints: ["pod", "service", "endpoints"], endpointslice: ["pod", "service", "endpointslice"],
};
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

// k8s.io/apimachinery labels.Parse, the subset of forms it takes:
// key, !key, key=v, key==v, key!=v, key in (a,b), key notin (a,b).
function parseLabelSelector(sel) {
  const reqs = [];
  const parts = sel.match(/[^,(]+(\([^)]*\))?/g) || [];
  for (const raw of parts) {
    const p = raw.trim();
    let m;
    if ((m = /^(!?)([^\s!=]+)$/.exec(p))) reqs.push({ key: m[2], op: m[1] ? "!" : "exists", values: [] });
    else if ((m = /^([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)$/.exec(p))) reqs.push({ key: m[1], op: m[2] === "==" ? "=" : m[2], values: [m[3]] });
    else if ((m = /^([^\s]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(p))) reqs.push({ key: m[1], op: m[2], values: m[3].split(",").map((s) => s.trim()) });
    else throw new Error(`label selector ${JSON.stringify(sel)}: cannot parse ${JSON.stringify(p)}`);
  }
  for (const r of reqs) {
    if (!QUALIFIED_NAME.test(r.key) || r.key.length > 317) throw new Error(`label selector ${JSON.stringify(sel)}: bad key ${r.key}`);
    for (const v of r.values) {
      if (!LABEL_VALUE.test(v) || v.length > 63) throw new Error(`label selector ${JSON.stringify(sel)}: bad value ${v}`);
    }
  }
  return reqs;
}

function k8sSd(promFile) {
  const prom = loadYaml(promFile);
  const problems = [];
  const expectJobs = ["memmgr-server", "memmgr-worker"];
  const jobs = (prom.scrape_configs || []).map((s) => s.job_name);
  if (JSON.stringify([...jobs].sort()) !== JSON.stringify(expectJobs)) {
    problems.push(`scrape jobs are ${JSON.stringify(jobs)}, expected ${JSON.stringify(expectJobs)}`);
  }
  const rf = prom.rule_files || [];
  if (rf.length !== 1 || rf[0] !== "/etc/prometheus/rules/memmgr-rules.yml") {
    problems.push(`rule_files is ${JSON.stringify(rf)}, expected [/etc/prometheus/rules/memmgr-rules.yml]`);
  }
  for (const sc of prom.scrape_configs || []) {
    const job = sc.job_name;
    const sds = sc.kubernetes_sd_configs || [];
    if (sds.length !== 1) problems.push(`${job}: ${sds.length} kubernetes_sd_configs, expected 1`);
    const other = Object.keys(sc).filter((k) => /_sd_configs$|^static_configs$/.test(k) && k !== "kubernetes_sd_configs");
    if (other.length) problems.push(`${job}: other discovery besides Kubernetes: ${other.join(", ")}`);
    for (const sd of sds) {
      for (const k of Object.keys(sd)) if (!K8S_SD_KEYS.has(k)) problems.push(`${job}: kubernetes_sd_configs: unknown field ${k}`);
      if (!K8S_ROLES.includes(sd.role)) problems.push(`${job}: role ${JSON.stringify(sd.role)} is not one of ${K8S_ROLES.join(", ")}`);
      if (sd.role !== "pod") problems.push(`${job}: role ${sd.role}, expected pod`);
      if (sd.api_server === undefined && ["basic_auth", "authorization", "oauth2", "bearer_token", "bearer_token_file", "tls_config", "proxy_url"].some((k) => k in sd)) {
        problems.push(`${job}: custom HTTP client configuration needs api_server`);
      }
      const ns = sd.namespaces || {};
      for (const k of Object.keys(ns)) if (!["names", "own_namespace"].includes(k)) problems.push(`${job}: namespaces: unknown field ${k}`);
      if (JSON.stringify(ns.names) !== JSON.stringify(["memmgr"])) problems.push(`${job}: namespaces.names is ${JSON.stringify(ns.names)}, expected [memmgr]`);
      const seen = new Set();
      for (const s of sd.selectors || []) {
        for (const k of Object.keys(s)) if (!["role", "label", "field"].includes(k)) problems.push(`${job}: selectors: unknown field ${k}`);
        if (seen.has(s.role)) problems.push(`${job}: duplicated selector role ${s.role}`);
        seen.add(s.role);
        if (!(K8S_SELECTOR_ROLES[sd.role] || []).includes(s.role)) problems.push(`${job}: ${sd.role} role supports only ${(K8S_SELECTOR_ROLES[sd.role] || []).join(", ")} selectors, not ${s.role}`);
        try {
          const reqs = parseLabelSelector(s.label || "");
          const name = reqs.find((r) => r.key === "app.kubernetes.io/name");
          if (!name || name.op !== "=" || name.values[0] !== job) {
            problems.push(`${job}: selector label ${JSON.stringify(s.label)} does not select app.kubernetes.io/name=${job}`);
          }
        } catch (e) {
          problems.push(`${job}: ${e.message}`);
        }
        if (s.field) {
          if (!/^[a-zA-Z0-9_.\-/]+(!=|==|=)[^,]*(,[a-zA-Z0-9_.\-/]+(!=|==|=)[^,]*)*$/.test(s.field)) problems.push(`${job}: bad field selector ${s.field}`);
        }
      }
    }
    // The relabeling must keep the job's own pods, their port named
    // metrics, and write namespace, pod and node.
    const rc = sc.relabel_configs || [];
    const keeps = (label, value) =>
      rc.some((r) => (r.action || "replace") === "keep" && (r.source_labels || []).length === 1 &&
        r.source_labels[0] === label && new RegExp(`^(?:${r.regex})$`).test(value));
    if (!keeps("__meta_kubernetes_pod_label_app_kubernetes_io_name", job)) problems.push(`${job}: no relabel keep of app.kubernetes.io/name=${job}`);
    if (!keeps("__meta_kubernetes_pod_container_port_name", "metrics")) problems.push(`${job}: no relabel keep of the container port named metrics`);
    for (const [meta, target] of [["__meta_kubernetes_namespace", "namespace"], ["__meta_kubernetes_pod_name", "pod"], ["__meta_kubernetes_pod_node_name", "node"]]) {
      const ok = rc.some((r) => (r.action || "replace") === "replace" && JSON.stringify(r.source_labels) === JSON.stringify([meta]) && r.target_label === target && (r.regex === undefined || r.regex === "(.*)") && (r.replacement === undefined || r.replacement === "$1"));
      if (!ok) problems.push(`${job}: no relabeling ${meta} -> ${target}`);
    }
  }
  if (problems.length) die(`${promFile}:\n  ${problems.join("\n  ")}`);
  console.log(`k8s sd: ${jobs.length} jobs, kubernetes_sd_configs role pod in namespace memmgr, selectors and relabeling as expected`);
}

// ----------------------------------------------------------- derive config

function setRulePath(prom, rulesPath) {
  if (!prom.rule_files || prom.rule_files.length !== 1) throw new Error("expected exactly one rule file");
  prom.rule_files = [rulesPath];
}

// The labels Kubernetes pod discovery gives the target of a pod's container
// port (docs: kubernetes_sd_config, role pod).
function podMeta(ns, app, pod, node, port, phase) {
  return {
    __meta_kubernetes_namespace: ns,
    __meta_kubernetes_pod_name: pod,
    __meta_kubernetes_pod_node_name: node,
    __meta_kubernetes_pod_label_app_kubernetes_io_name: app,
    __meta_kubernetes_pod_labelpresent_app_kubernetes_io_name: "true",
    __meta_kubernetes_pod_label_app_kubernetes_io_part_of: "memmgr",
    __meta_kubernetes_pod_container_port_name: port,
    __meta_kubernetes_pod_container_port_protocol: "TCP",
    __meta_kubernetes_pod_phase: phase,
    __meta_kubernetes_pod_ready: "true",
  };
}

function derive(promFile, outFile, rulesPath, targetArgs) {
  const prom = loadYaml(promFile);
  setRulePath(prom, rulesPath);
  prom.global = { ...(prom.global || {}), scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" };
  const targets = {};
  for (const a of targetArgs) {
    const m = /^([^=]+)=([^,]+),([^,]+),([^,]+)$/.exec(a);
    if (!m) throw new Error(`bad target ${a}: JOB=ADDRESS,POD,NODE`);
    targets[m[1]] = { address: m[2], pod: m[3], node: m[4] };
  }
  const apps = (prom.scrape_configs || []).map((s) => s.job_name);
  for (const sc of prom.scrape_configs || []) {
    delete sc.scrape_interval;
    delete sc.scrape_timeout;
    const sds = sc.kubernetes_sd_configs;
    if (!sds || sds.length !== 1) throw new Error(`${sc.job_name}: expected one kubernetes_sd_config`);
    const sd = sds[0];
    const ns = ((sd.namespaces || {}).names || [])[0];
    if (!ns) throw new Error(`${sc.job_name}: no namespace`);
    // The pods the API server returns: those the selector's label picks.
    let app = null;
    for (const s of sd.selectors || []) {
      const r = parseLabelSelector(s.label || "").find((x) => x.key === "app.kubernetes.io/name" && x.op === "=");
      if (r) app = r.values[0];
    }
    if (!app) throw new Error(`${sc.job_name}: no app.kubernetes.io/name selector`);
    const t = targets[sc.job_name];
    if (!t) {
      if (targetArgs.length) throw new Error(`no target given for job ${sc.job_name}`);
      // Placeholder address: only for promtool check config.
      sc.static_configs = [{ targets: ["127.0.0.1:9"], labels: podMeta(ns, app, `${app}-0`, "node-a", "metrics", "Running") }];
    } else {
      const otherApp = apps.find((x) => x !== app) || "memmgr-other";
      sc.static_configs = [
        { targets: [t.address], labels: podMeta(ns, app, t.pod, t.node, "metrics", "Running") },
        // Decoys the relabeling must drop (never scraped; nothing listens on
        // 127.0.0.1 ports 9-11 either).
        { targets: ["127.0.0.1:9"], labels: podMeta(ns, app, t.pod, t.node, "grpc", "Running") },
        { targets: ["127.0.0.1:10"], labels: podMeta(ns, otherApp, `${otherApp}-decoy`, t.node, "metrics", "Running") },
        { targets: ["127.0.0.1:11"], labels: podMeta(ns, app, `${app}-done`, t.node, "metrics", "Succeeded") },
      ];
    }
    delete sc.kubernetes_sd_configs;
  }
  fs.writeFileSync(outFile, YAML.stringify(prom));
}

function rulesPathOnly(promFile, outFile, rulesPath) {
  const prom = loadYaml(promFile);
  setRulePath(prom, rulesPath);
  fs.writeFileSync(outFile, YAML.stringify(prom));
}

// ------------------------------------------------------- scrape checks

function getJson(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => {
        try {
          const j = JSON.parse(body);
          if (j.status !== "success") reject(new Error(`${url}: ${body.slice(0, 300)}`));
          else resolve(j.data);
        } catch (e) {
          reject(new Error(`${url}: HTTP ${res.statusCode}: ${body.slice(0, 300)}`));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${url}: timeout`)));
    req.on("error", reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function scrapeCheck(base, rulesFile, expectFile) {
  const expect = JSON.parse(fs.readFileSync(expectFile, "utf8"));
  const deadline = Date.now() + expect.timeout_s * 1000;
  const query = async (q) => getJson(`${base}/api/v1/query?query=${encodeURIComponent(q)}`);
  // Polls until check(result) returns true; on timeout reports describe().
  async function waitFor(what, q, check) {
    let last = null;
    let err = null;
    while (Date.now() < deadline) {
      try {
        last = await query(q);
        err = null;
        if (check(last.result)) return last.result;
      } catch (e) {
        err = e;
      }
      await sleep(250);
    }
    die(`${what}: ${q} ${err ? `failed: ${err.message}` : `returned ${JSON.stringify(last && last.result)}`}`);
  }
  const only = (res) => (res.length === 1 ? res[0] : null);
  const value = (res) => (only(res) ? Number(only(res).value[1]) : NaN);
  const t0 = Date.now();
  const results = [];

  // Both targets up, with the labels the relabeling gives.
  for (const [job, t] of Object.entries(expect.targets)) {
    const res = await waitFor(`target ${job} up`, `up{job="${job}"}`, (r) => value(r) === 1);
    const m = res[0].metric;
    for (const [k, v] of Object.entries({ job, instance: t.address, namespace: t.namespace, pod: t.pod, node: t.node })) {
      if (m[k] !== v) die(`up{job="${job}"} has ${k}=${JSON.stringify(m[k])}, expected ${JSON.stringify(v)} (labels ${JSON.stringify(m)})`);
    }
    results.push(`up{job="${job}",pod="${t.pod}",node="${t.node}"} == 1`);
  }
  // The relabeling dropped every decoy and kept one target per job.
  const targets = await getJson(`${base}/api/v1/targets?state=any`);
  const active = targets.activeTargets.map((t) => `${t.labels.job}/${t.labels.instance}`).sort();
  const wantActive = Object.entries(expect.targets).map(([j, t]) => `${j}/${t.address}`).sort();
  if (JSON.stringify(active) !== JSON.stringify(wantActive)) die(`active targets ${JSON.stringify(active)}, expected ${JSON.stringify(wantActive)}`);
  if (targets.droppedTargets.length !== expect.dropped_targets) {
    die(`${targets.droppedTargets.length} dropped targets, expected ${expect.dropped_targets}: ${JSON.stringify(targets.droppedTargets.map((t) => t.discoveredLabels))}`);
  }
  results.push(`${active.length} active targets, ${targets.droppedTargets.length} decoys dropped by the relabeling`);

  if (expect.phase === "before") {
    const r = await waitFor("swap-out counter before traffic", `memmgr_swap_out_pages_total{job="memmgr-server"}`, (x) => only(x) !== null);
    if (value(r) !== 0) die(`memmgr_swap_out_pages_total is ${value(r)} before the test sent traffic, expected 0`);
    console.log(`scrape check (before traffic): ${results.join("; ")}; memmgr_swap_out_pages_total == 0`);
    return;
  }

  await waitFor(`swap-out pages == ${expect.swap_out_pages} (the pages swap-test sent)`,
    `memmgr_swap_out_pages_total{job="memmgr-server"}`, (r) => value(r) === expect.swap_out_pages);
  results.push(`memmgr_swap_out_pages_total == ${expect.swap_out_pages}`);
  await waitFor(`slots used == ${expect.swap_out_pages}`, `memmgr_swap_slots_used{job="memmgr-server"}`, (r) => value(r) === expect.swap_out_pages);
  await waitFor(`leases == ${expect.leases}`, `memmgr_leases{job="memmgr-server"}`, (r) => value(r) === expect.leases);
  results.push(`memmgr_leases == ${expect.leases}`);
  await waitFor(`cluster members == ${expect.cluster_members}`, `memmgr_cluster_members{job="memmgr-server"}`, (r) => value(r) === expect.cluster_members);
  results.push(`memmgr_cluster_members == ${expect.cluster_members}`);
  await waitFor("worker swaps to the server", `memmgr_worker_swap_info{job="memmgr-worker",mode="server"}`, (r) => value(r) === 1);

  // Recording rules evaluate on the real series.
  const ratio = expect.swap_out_pages / expect.swap_capacity;
  await waitFor(`memmgr:swap_slots_used:ratio == ${ratio}`, `memmgr:swap_slots_used:ratio{job="memmgr-server",pod="${expect.targets["memmgr-server"].pod}"}`,
    (r) => Math.abs(value(r) - ratio) < 1e-12);
  results.push(`memmgr:swap_slots_used:ratio == ${ratio}`);
  await waitFor("memmgr:swap_out_pages:rate5m > 0", `memmgr:swap_out_pages:rate5m{job="memmgr-server"}`, (r) => value(r) > 0);
  await waitFor("memmgr:worker_frames_used:ratio recorded for the worker", `memmgr:worker_frames_used:ratio{job="memmgr-worker",pod="${expect.targets["memmgr-worker"].pod}"}`,
    (r) => value(r) === expect.worker_frames_used_ratio);
  results.push("worker recording rules evaluate");

  // Alerts evaluate on the real series: > 90 % swap is pending (for: 10m),
  // and the sandbox the test had OOM-killed fires MemmgrOomKills (no for).
  await waitFor("MemmgrSwapCapacityHigh pending", `ALERTS{alertname="MemmgrSwapCapacityHigh",job="memmgr-server"}`,
    (r) => only(r) !== null && only(r).metric.alertstate === "pending" && only(r).metric.severity === "warning");
  results.push("MemmgrSwapCapacityHigh pending");
  const wpod = expect.targets["memmgr-worker"].pod;
  await waitFor(`memmgr_worker_oom_kills_total{scope="memcg"} == ${expect.oom_kills_memcg}`,
    `memmgr_worker_oom_kills_total{job="memmgr-worker",scope="memcg"}`, (r) => value(r) === expect.oom_kills_memcg);
  await waitFor("MemmgrOomKills firing for the worker's memcg OOM kill", `ALERTS{alertname="MemmgrOomKills",alertstate="firing"}`,
    (r) => only(r) !== null && only(r).metric.scope === "memcg" && only(r).metric.pod === wpod && only(r).metric.severity === "warning");
  results.push(`memmgr_worker_oom_kills_total{scope="memcg"} == ${expect.oom_kills_memcg}, MemmgrOomKills firing`);
  // The worker swapped nothing meanwhile: the server's counter is unchanged.
  const after = await query(`memmgr_swap_out_pages_total{job="memmgr-server"}`);
  if (value(after.result) !== expect.swap_out_pages) die(`memmgr_swap_out_pages_total moved to ${value(after.result)}, expected ${expect.swap_out_pages}`);

  // The rules are loaded: every group of the file, every rule healthy.
  const fileGroups = loadYaml(rulesFile).groups.map((g) => ({ name: g.name, rules: g.rules.length }));
  let groups = null;
  while (Date.now() < deadline) {
    groups = (await getJson(`${base}/api/v1/rules`)).groups;
    if (groups.every((g) => g.rules.every((r) => r.health === "ok"))) break;
    await sleep(250);
  }
  const got = groups.map((g) => ({ name: g.name, rules: g.rules.length }));
  if (JSON.stringify(got) !== JSON.stringify(fileGroups)) die(`/api/v1/rules groups ${JSON.stringify(got)}, expected ${JSON.stringify(fileGroups)}`);
  const bad = groups.flatMap((g) => g.rules.filter((r) => r.health !== "ok").map((r) => `${r.name}: ${r.health} ${r.lastError || ""}`));
  if (bad.length) die(`unhealthy rules: ${bad.join("; ")}`);
  const firingNow = (await query("ALERTS")).result
    .filter((a) => ["MemmgrServerDown", "MemmgrWorkerDown"].includes(a.metric.alertname));
  if (firingNow.length) die(`alerts for healthy targets: ${JSON.stringify(firingNow.map((a) => a.metric))}`);
  results.push(`${got.length} rule groups (${fileGroups.reduce((s, g) => s + g.rules, 0)} rules) loaded, all healthy; no down alert`);
  console.log(`scrape check (${((Date.now() - t0) / 1000).toFixed(1)} s): ${results.join("; ")}`);
}

// ------------------------------------------------------------------ main

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  try {
    switch (cmd) {
      case "rules-lint": return rulesLint(args[0], args[1], args[2]);
      case "metric-names": return metricNames(args[0], args[1], args.slice(2));
      case "k8s-sd": return k8sSd(args[0]);
      case "derive": return derive(args[0], args[1], args[2], args.slice(3));
      case "rules-path-only": return rulesPathOnly(args[0], args[1], args[2]);
      case "scrape-check": return await scrapeCheck(args[0], args[1], args[2]);
      case "analyze": return console.log(JSON.stringify(analyze(args[0]), null, 1));
      default: die(`unknown command ${cmd}`);
    }
  } catch (e) {
    die(e.stack || e.message);
  }
}

if (require.main === module) main();
module.exports = { analyze, parseExposition, githubSlug, parseLabelSelector };
