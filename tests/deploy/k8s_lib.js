// Helpers shared by k8s_validate.js and k8s_extract.js: reading kustomize
// output, Kubernetes quantities, durations, label selectors, flag files, and
// what the kubelet does with a container's command line (downward API env,
// $(VAR) expansion, ConfigMap volumes). Node 18 compatible, no network.
"use strict";
const fs = require("fs");
const YAML = require("yaml");

// All objects of a multi-document YAML file (kubectl kustomize output).
function loadRender(file) {
  const text = fs.readFileSync(file, "utf8");
  const docs = YAML.parseAllDocuments(text);
  const objs = [];
  for (const d of docs) {
    if (d.errors && d.errors.length) {
      throw new Error(`${file}: YAML error: ${d.errors[0].message}`);
    }
    const o = d.toJS();
    if (o === null || o === undefined) continue;
    objs.push(o);
  }
  return objs;
}

function id(o) {
  const md = o.metadata || {};
  return `${o.kind}/${md.namespace ? md.namespace + "/" : ""}${md.name}`;
}

// Kubernetes resource.Quantity → number (bytes or cores).
const QUANTITY_SUFFIX = {
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
};
function parseQuantity(q) {
  const s = String(q).trim();
  const m = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/.exec(s);
  if (!m) throw new Error(`not a Kubernetes quantity: ${JSON.stringify(q)}`);
  const num = Number(m[1]);
  const suf = m[2] || "";
  if (/^[eE]/.test(suf)) return num * 10 ** Number(suf.slice(1));
  return num * QUANTITY_SUFFIX[suf];
}

// Go/absl-style durations: 500ms, 20s, 5m, 1h30m.
function parseDurationSeconds(d) {
  const s = String(d).trim();
  const re = /([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)/g;
  const unit = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0;
  let consumed = 0;
  let m;
  while ((m = re.exec(s)) !== null) {
    if (m.index !== consumed) break;
    total += Number(m[1]) * unit[m[2]];
    consumed = re.lastIndex;
  }
  if (consumed !== s.length || s.length === 0) throw new Error(`not a duration: ${JSON.stringify(d)}`);
  return total;
}

// memmgr's ByteSize (common/byte_size.h): binary suffixes K M G T, optional
// "i" and/or "B"; no suffix = bytes.
function parseByteSize(v) {
  const m = /^([0-9]+)\s*([KMGT]?)(i?)(B?)$/i.exec(String(v).trim());
  if (!m) throw new Error(`not a size: ${JSON.stringify(v)}`);
  const mult = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[m[2].toUpperCase()];
  return Number(m[1]) * mult;
}

// matchLabels + matchExpressions against a label map.
function selectorMatches(sel, labels) {
  if (!sel) return false;
  labels = labels || {};
  for (const [k, v] of Object.entries(sel.matchLabels || {})) {
    if (labels[k] !== v) return false;
  }
  for (const e of sel.matchExpressions || []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const val = labels[e.key];
    switch (e.operator) {
      case "In": if (!has || !(e.values || []).includes(val)) return false; break;
      case "NotIn": if (has && (e.values || []).includes(val)) return false; break;
      case "Exists": if (!has) return false; break;
      case "DoesNotExist": if (has) return false; break;
      default: throw new Error(`unknown selector operator ${e.operator}`);
    }
  }
  return true;
}
// A Service's spec.selector is a plain map.
function mapSelectorMatches(map, labels) {
  if (!map || Object.keys(map).length === 0) return false;
  return Object.entries(map).every(([k, v]) => (labels || {})[k] === v);
}

const WORKLOAD_KINDS = new Set(["StatefulSet", "DaemonSet", "Deployment", "ReplicaSet", "Job"]);
function workloads(objs) {
  return objs.filter((o) => WORKLOAD_KINDS.has(o.kind));
}
function podSpec(w) {
  return w.spec.template.spec;
}
function podLabels(w) {
  return (w.spec.template.metadata || {}).labels || {};
}
function allContainers(ps) {
  return [...(ps.initContainers || []), ...(ps.containers || [])];
}

// A flags file: `--name=value` or `--name` per line; `#` comment lines and
// blank lines ignored. Returns [{name, value, line}] (value null for `--name`).
function parseFlagFile(text, where) {
  const out = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const m = /^--([A-Za-z0-9_]+)(?:=(.*))?$/.exec(line);
    if (!m) throw new Error(`${where}:${i + 1}: not a --name=value line: ${JSON.stringify(raw)}`);
    out.push({ name: m[1], value: m[2] === undefined ? null : m[2], line: i + 1 });
  });
  return out;
}
function flagMap(flags, where) {
  const m = new Map();
  for (const f of flags) {
    if (m.has(f.name)) throw new Error(`${where}: --${f.name} given twice`);
    m.set(f.name, f.value);
  }
  return m;
}
function parseArgFlag(arg) {
  const m = /^--([A-Za-z0-9_]+)(?:=(.*))?$/s.exec(arg);
  return m ? { name: m[1], value: m[2] === undefined ? null : m[2] } : null;
}

function findObj(objs, kind, ns, name) {
  return objs.find((o) => o.kind === kind && o.metadata && o.metadata.name === name &&
    (ns === undefined || (o.metadata.namespace || "") === (ns || "")));
}

// Which ConfigMap key a path inside the container is: through a configMap
// volume mounted at a directory (no subPath), with or without items.
// Returns {configMap, key, mountPath} or throws saying why it does not resolve.
function resolveConfigMapFile(objs, w, container, filePath) {
  const ps = podSpec(w);
  const ns = w.metadata.namespace;
  for (const vm of container.volumeMounts || []) {
    const mp = vm.mountPath.replace(/\/+$/, "");
    if (!filePath.startsWith(mp + "/")) continue;
    const rel = filePath.slice(mp.length + 1);
    const vol = (ps.volumes || []).find((v) => v.name === vm.name);
    if (!vol || !vol.configMap) continue;
    if (vm.subPath) continue;
    const cm = findObj(objs, "ConfigMap", ns, vol.configMap.name);
    if (!cm) throw new Error(`${filePath}: volume ${vm.name} names ConfigMap ${vol.configMap.name}, which is not rendered`);
    let key = rel;
    if (vol.configMap.items) {
      const it = vol.configMap.items.find((x) => x.path === rel);
      if (!it) throw new Error(`${filePath}: ConfigMap volume ${vm.name} has no item with path ${rel}`);
      key = it.key;
    }
    const data = cm.data || {};
    if (!Object.prototype.hasOwnProperty.call(data, key)) {
      throw new Error(`${filePath}: ConfigMap ${cm.metadata.name} (mounted at ${vm.mountPath}) has no key ${key}; keys: ${Object.keys(data).join(", ")}`);
    }
    return { configMap: cm, key, mountPath: vm.mountPath, text: data[key] };
  }
  throw new Error(`${filePath}: no configMap volume of container ${container.name} is mounted above it`);
}

// The value the kubelet gives an env var with valueFrom (downward API), for a
// pod on node `nodeName`. Only the sources memmgr uses; others throw.
function downwardValue(w, container, env, nodeName) {
  const vf = env.valueFrom;
  if (!vf) return env.value === undefined ? "" : String(env.value);
  if (vf.fieldRef) {
    const p = vf.fieldRef.fieldPath;
    const md = w.spec.template.metadata || {};
    if (p === "spec.nodeName") return nodeName;
    if (p === "metadata.namespace") return w.metadata.namespace;
    if (p === "metadata.name") return `${w.metadata.name}-0`;
    if (p === "spec.serviceAccountName") return podSpec(w).serviceAccountName || "default";
    const lm = /^metadata\.labels\['(.+)'\]$/.exec(p);
    if (lm) return (md.labels || {})[lm[1]] || "";
    throw new Error(`env ${env.name}: fieldRef ${p} not emulated`);
  }
  if (vf.resourceFieldRef) {
    const r = vf.resourceFieldRef;
    const cname = r.containerName || container.name;
    const c = allContainers(podSpec(w)).find((x) => x.name === cname);
    if (!c) throw new Error(`env ${env.name}: resourceFieldRef.containerName ${cname} is no container of the pod`);
    const [kind, res] = r.resource.split(".");
    const q = ((c.resources || {})[kind === "limits" ? "limits" : "requests"] || {})[res];
    if (q === undefined) {
      // The kubelet would give the node's allocatable: not what memmgr wants.
      throw new Error(`env ${env.name}: ${r.resource} is not set on container ${cname}`);
    }
    const divisor = parseQuantity(r.divisor === undefined ? "1" : r.divisor);
    // The kubelet rounds up (ceil) to the divisor.
    return String(Math.ceil(parseQuantity(q) / divisor - 1e-9));
  }
  throw new Error(`env ${env.name}: valueFrom ${Object.keys(vf).join(",")} not emulated`);
}

// $(VAR) expansion as the kubelet does it for command/args ($$ escapes).
function expandVars(s, vars, onMissing) {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name) => {
    if (m === "$$") return "$";
    if (Object.prototype.hasOwnProperty.call(vars, name)) return vars[name];
    if (onMissing) onMissing(name);
    return m;
  });
}

module.exports = {
  loadRender, id, parseQuantity, parseDurationSeconds, parseByteSize, selectorMatches,
  mapSelectorMatches, workloads, podSpec, podLabels, allContainers, parseFlagFile, flagMap,
  parseArgFlag, findObj, resolveConfigMapFile, downwardValue, expandVars, WORKLOAD_KINDS,
};
