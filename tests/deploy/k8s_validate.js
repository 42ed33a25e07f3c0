#!/usr/bin/env node
// Offline validation of rendered Kubernetes manifests (kubectl kustomize output).
//
//   node k8s_validate.js [--expect-sync=NAME]... [--dockerfile=IMAGE=PATH]...
//        NAME=RENDERED.yaml...
//
// 1. Schema, two ways, both must pass:
//    a. kubernetes-models' own validate() (types, enums, formats, required);
//    b. a strict JSON schema generated from the same packages' TypeScript
//       types with ts-json-schema-generator (additionalProperties: false on
//       every object type), checked with ajv: an unknown or misspelt field
//       anywhere is an error. (a) alone accepts unknown fields; this script's
//       self-test shows both the typo and the wrong type being rejected.
// 2. Cross-object checks: selectors match pods, named ports exist, every
//    ConfigMap / ServiceAccount / Role / volume reference resolves, $(VAR)s
//    are defined, Guaranteed QoS, non-root hardening, NetworkPolicy reachability
//    matrix, server and worker flags consistent with ports, limits and grace;
//    with --dockerfile, each image's Dockerfile (final stage) installs the
//    container's command, runs as the pod's uid:gid and exposes its ports.
// 3. Self-test: mutated copies of the first render (a typo'd field, a wrong
//    type, a broken reference, ...) must each be rejected; otherwise the
//    validator could not fail and the run fails.
// Exit 0 = valid; 1 = findings (each printed); 2 = usage.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const L = require("./k8s_lib.js");

const NODE_MODULES = path.join(__dirname, "node_modules");
const Ajv = require("ajv");
const tsj = require("ts-json-schema-generator");

// ---------------------------------------------------------------- schemas

function modelModule(apiVersion, kind) {
  const i = apiVersion.indexOf("/");
  const group = i < 0 ? "" : apiVersion.slice(0, i);
  const version = i < 0 ? apiVersion : apiVersion.slice(i + 1);
  if (group === "monitoring.coreos.com") {
    return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  }
  return group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
}

function typeKey(o) {
  return `${o.apiVersion} ${o.kind}`;
}

// Strict validators for every apiVersion/kind in `objs`, generated once.
class StrictSchemas {
  constructor(kinds) {
    this.alias = new Map();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k8s-validate-"));
    try {
      fs.symlinkSync(NODE_MODULES, path.join(dir, "node_modules"), "dir");
      let src = "";
      kinds.forEach((k, i) => {
        const mod = modelModule(k.apiVersion, k.kind);
        src += `import { I${k.kind} as T${i} } from "${mod}";\nexport type Obj${i} = T${i};\n`;
        this.alias.set(typeKey(k), `Obj${i}`);
      });
      fs.writeFileSync(path.join(dir, "types.ts"), src);
      fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({
        compilerOptions: {
          strict: true, module: "commonjs", moduleResolution: "node", target: "es2020",
          skipLibCheck: true, noEmit: true,
        },
        files: ["types.ts"],
      }));
      const gen = tsj.createGenerator({
        path: path.join(dir, "types.ts"),
        tsconfig: path.join(dir, "tsconfig.json"),
        type: "*",
        expose: "all",
        topRef: true,
        jsDoc: "none",
        additionalProperties: false,
        skipTypeCheck: false, // with true an unresolved import silently becomes {}
      });
      this.schema = gen.createSchema("*");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    this.ajv = new Ajv({ allErrors: true, strict: false });
    this.ajv.addSchema(this.schema, "k8s");
    this.validators = new Map();
    for (const [key, alias] of this.alias) {
      const v = this.ajv.getSchema(`k8s#/definitions/${alias}`);
      if (!v) throw new Error(`strict schema for ${key} was not generated`);
      // Guard against a schema that accepts anything (e.g. a type that did
      // not resolve): an object with an unknown top-level field must fail.
      const [apiVersion, kind] = key.split(" ");
      if (v({ apiVersion, kind, metadata: { name: "x" }, notAField: 1 })) {
        throw new Error(`strict schema for ${key} accepts an unknown field: generation went wrong`);
      }
      this.validators.set(key, v);
    }
  }
  validate(o) {
    const v = this.validators.get(typeKey(o));
    if (!v) return [`no strict schema for ${typeKey(o)}`];
    if (v(o)) return [];
    return v.errors.map((e) => {
      const extra = e.keyword === "additionalProperties" ? ` (unknown field "${e.params.additionalProperty}")` : "";
      return `strict schema: ${e.instancePath || "/"} ${e.message}${extra}`;
    });
  }
}

function modelValidate(o) {
  let mod;
  try {
    mod = require(modelModule(o.apiVersion, o.kind));
  } catch (e) {
    return [`no kubernetes-models schema for apiVersion ${o.apiVersion} kind ${o.kind}`];
  }
  const Model = mod[o.kind];
  if (typeof Model !== "function") return [`kubernetes-models has no class ${o.kind}`];
  try {
    new Model(JSON.parse(JSON.stringify(o))).validate();
    return [];
  } catch (e) {
    return [`kubernetes-models: ${String(e.message).split("\n").slice(0, 5).join("; ")}`];
  }
}

// ---------------------------------------------------------------- checks

const ALLOWED_FIELD_REFS = new Set(["spec.nodeName", "metadata.name", "metadata.namespace"]);
const MEMMGR_UID = 10001;

class Checker {
  constructor(objs, opts) {
    this.objs = objs;
    this.opts = opts || {};
    this.errors = [];
    this.count = 0;
  }
  check(cond, o, msg) {
    this.count++;
    if (!cond) this.errors.push(`${o ? L.id(o) : "render"}: ${msg}`);
    return cond;
  }
  guard(o, fn) {
    try { fn(); } catch (e) { this.errors.push(`${o ? L.id(o) : "render"}: ${e.message}`); }
  }
  of(kind) { return this.objs.filter((o) => o.kind === kind); }

  run() {
    const fns = [
      this.namespaces, this.workloadBasics, this.security, this.resources, this.probes,
      this.volumes, this.envAndArgs, this.serviceAccounts, this.services, this.serviceMonitors,
      this.networkPolicies, this.rbac, this.pdbs, this.configMaps, this.serverFlags, this.workerFlags, this.dockerfiles,
    ];
    for (const fn of fns) this.guard(null, () => fn.call(this));
    return this.errors;
  }

  namespaces() {
    const nsNames = new Set(this.of("Namespace").map((n) => n.metadata.name));
    this.check(nsNames.size > 0, null, "no Namespace object rendered");
    for (const o of this.objs) {
      this.check(o.metadata && o.metadata.name, o, "has no metadata.name");
      this.check(((o.metadata || {}).labels || {})["app.kubernetes.io/part-of"] === "memmgr", o, "lacks the label app.kubernetes.io/part-of: memmgr");
      if (o.kind === "Namespace") continue;
      this.check(!["ClusterRole", "ClusterRoleBinding"].includes(o.kind), o, "cluster-wide RBAC is not wanted");
      const ns = o.metadata.namespace;
      this.check(ns && nsNames.has(ns), o, `namespace ${ns} is not a rendered Namespace`);
    }
    const seen = new Set();
    for (const o of this.objs) {
      const k = L.id(o);
      this.check(!seen.has(k), o, "rendered twice");
      seen.add(k);
    }
  }

  workloadBasics() {
    for (const w of L.workloads(this.objs)) {
      this.check(L.selectorMatches(w.spec.selector, L.podLabels(w)), w,
        "spec.selector does not match the pod template's labels");
      const names = new Set();
      for (const c of L.allContainers(L.podSpec(w))) {
        this.check(c.image && /:[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(c.image) && !/:latest$/.test(c.image), w,
          `container ${c.name}: image ${c.image} needs a fixed tag`);
        const pn = new Set();
        for (const p of c.ports || []) {
          this.check(p.name && !pn.has(p.name), w, `container ${c.name}: port ${p.containerPort} unnamed or duplicate name`);
          pn.add(p.name);
        }
        this.check(!names.has(c.name), w, `container name ${c.name} twice`);
        names.add(c.name);
      }
      if (w.kind === "StatefulSet") {
        const svc = L.findObj(this.objs, "Service", w.metadata.namespace, w.spec.serviceName);
        if (this.check(svc, w, `serviceName ${w.spec.serviceName} is not a rendered Service`)) {
          this.check(svc.spec.clusterIP === "None", w, `Service ${w.spec.serviceName} must be headless (clusterIP: None) for stable pod DNS`);
        }
      }
    }
  }

  security() {
    for (const w of L.workloads(this.objs)) {
      const ps = L.podSpec(w);
      const sc = ps.securityContext || {};
      this.check(sc.runAsNonRoot === true, w, "pod securityContext.runAsNonRoot must be true");
      this.check(sc.runAsUser === MEMMGR_UID && sc.runAsGroup === MEMMGR_UID, w, `pod must run as uid/gid ${MEMMGR_UID} (the images' memmgr user)`);
      this.check(sc.fsGroup === MEMMGR_UID, w, `pod securityContext.fsGroup must be ${MEMMGR_UID} (volumes writable)`);
      this.check(sc.seccompProfile && sc.seccompProfile.type === "RuntimeDefault", w, "seccompProfile must be RuntimeDefault");
      this.check(!ps.hostNetwork && !ps.hostPID && !ps.hostIPC, w, "no host namespaces");
      this.check(ps.automountServiceAccountToken === false, w, "automountServiceAccountToken must be false (no Kubernetes API calls)");
      for (const v of ps.volumes || []) this.check(!v.hostPath, w, `volume ${v.name}: hostPath not wanted`);
      for (const c of L.allContainers(ps)) {
        const csc = c.securityContext || {};
        this.check(csc.allowPrivilegeEscalation === false, w, `container ${c.name}: allowPrivilegeEscalation must be false`);
        this.check(csc.readOnlyRootFilesystem === true, w, `container ${c.name}: readOnlyRootFilesystem must be true`);
        this.check(!csc.privileged, w, `container ${c.name}: privileged`);
        const caps = csc.capabilities || {};
        this.check((caps.drop || []).includes("ALL") && !(caps.add || []).length, w, `container ${c.name}: capabilities must drop ALL and add none`);
        this.check(csc.runAsUser === undefined || csc.runAsUser === MEMMGR_UID, w, `container ${c.name}: runAsUser overrides the pod's`);
      }
    }
  }

  // Guaranteed QoS: requests == limits for cpu and memory, whole cores, in
  // every container (the kubelet's static CPU manager and Static Memory
  // Manager only pin Guaranteed pods with integer cpu).
  resources() {
    for (const w of L.workloads(this.objs)) {
      for (const c of L.allContainers(L.podSpec(w))) {
        const r = c.resources || {};
        const req = r.requests || {};
        const lim = r.limits || {};
        for (const res of ["cpu", "memory"]) {
          if (!this.check(req[res] !== undefined && lim[res] !== undefined, w, `container ${c.name}: ${res} request and limit must both be set`)) continue;
          this.check(L.parseQuantity(req[res]) === L.parseQuantity(lim[res]), w,
            `container ${c.name}: ${res} request ${req[res]} != limit ${lim[res]} (not Guaranteed QoS)`);
        }
        if (lim.cpu !== undefined) {
          const cpu = L.parseQuantity(lim.cpu);
          this.check(Number.isInteger(cpu) && cpu >= 1, w, `container ${c.name}: cpu ${lim.cpu} is not a whole number of cores (the static CPU manager would not pin it)`);
        }
      }
    }
  }

  probes() {
    for (const w of L.workloads(this.objs)) {
      for (const c of L.podSpec(w).containers) {
        const ports = c.ports || [];
        this.check(c.readinessProbe && c.livenessProbe, w, `container ${c.name}: needs readiness and liveness probes`);
        for (const kind of ["startupProbe", "readinessProbe", "livenessProbe"]) {
          const p = c[kind];
          if (!p) continue;
          if (!this.check(p.grpc, w, `container ${c.name}: ${kind} must use the gRPC health service (grpc:)`)) continue;
          const cp = ports.find((x) => x.containerPort === p.grpc.port);
          this.check(cp && cp.name === "grpc", w, `container ${c.name}: ${kind} grpc port ${p.grpc.port} is not the container port named grpc`);
          this.check(!p.grpc.service, w, `container ${c.name}: ${kind} asks for service "${p.grpc.service}"; the binaries report the overall health ("")`);
          for (const h of [p.httpGet, p.tcpSocket]) {
            if (h && typeof h.port === "string") this.check(ports.some((x) => x.name === h.port), w, `${kind}: port ${h.port} is not a named port`);
          }
        }
      }
    }
  }

  volumes() {
    for (const w of L.workloads(this.objs)) {
      const ps = L.podSpec(w);
      const ns = w.metadata.namespace;
      const vols = new Map((ps.volumes || []).map((v) => [v.name, v]));
      const claims = new Set(((w.spec.volumeClaimTemplates) || []).map((t) => t.metadata.name));
      const used = new Set();
      for (const v of ps.volumes || []) {
        if (v.configMap) {
          const cm = L.findObj(this.objs, "ConfigMap", ns, v.configMap.name);
          if (this.check(cm, w, `volume ${v.name}: ConfigMap ${v.configMap.name} is not rendered`)) {
            for (const it of v.configMap.items || []) {
              this.check(Object.prototype.hasOwnProperty.call(cm.data || {}, it.key), w, `volume ${v.name}: key ${it.key} not in ConfigMap ${cm.metadata.name}`);
            }
          }
        }
        if (v.secret) this.check(L.findObj(this.objs, "Secret", ns, v.secret.secretName), w, `volume ${v.name}: Secret ${v.secret.secretName} is not rendered`);
        if (v.persistentVolumeClaim) this.check(false, w, `volume ${v.name}: use volumeClaimTemplates, not a fixed claim`);
      }
      for (const c of L.allContainers(ps)) {
        const mps = new Set();
        for (const vm of c.volumeMounts || []) {
          this.check(vols.has(vm.name) || claims.has(vm.name), w, `container ${c.name}: volumeMount ${vm.name} has no volume or volumeClaimTemplate`);
          this.check(!mps.has(vm.mountPath), w, `container ${c.name}: two mounts at ${vm.mountPath}`);
          mps.add(vm.mountPath);
          used.add(vm.name);
          const v = vols.get(vm.name);
          if (v && v.configMap) this.check(vm.readOnly === true, w, `container ${c.name}: ConfigMap mount ${vm.mountPath} should be readOnly`);
        }
        // The root filesystem is read-only: /tmp must be a volume.
        this.check(mps.has("/tmp"), w, `container ${c.name}: read-only root needs a writable /tmp volume`);
      }
      for (const name of [...vols.keys(), ...claims]) this.check(used.has(name), w, `volume ${name} is mounted nowhere`);
      for (const t of w.spec.volumeClaimTemplates || []) {
        this.check((t.spec.accessModes || []).includes("ReadWriteOnce"), w, `claim ${t.metadata.name}: ReadWriteOnce expected (one server owns RocksDB)`);
        this.check(t.spec.resources && t.spec.resources.requests && t.spec.resources.requests.storage, w, `claim ${t.metadata.name}: no storage request`);
      }
    }
  }

  envAndArgs() {
    for (const w of L.workloads(this.objs)) {
      for (const c of L.allContainers(L.podSpec(w))) {
        const defined = {};
        const names = new Set();
        for (const e of c.env || []) {
          this.check(!names.has(e.name), w, `container ${c.name}: env ${e.name} twice`);
          names.add(e.name);
          this.guard(w, () => {
            if (e.valueFrom && e.valueFrom.fieldRef) {
              this.check(ALLOWED_FIELD_REFS.has(e.valueFrom.fieldRef.fieldPath), w, `env ${e.name}: fieldRef ${e.valueFrom.fieldRef.fieldPath} unexpected`);
            }
            if (e.valueFrom && e.valueFrom.resourceFieldRef) {
              this.check(/^limits\.(cpu|memory)$/.test(e.valueFrom.resourceFieldRef.resource), w, `env ${e.name}: resourceFieldRef ${e.valueFrom.resourceFieldRef.resource}: only limits.cpu / limits.memory make sense here`);
              this.check(L.parseQuantity(e.valueFrom.resourceFieldRef.divisor || "1") === 1, w, `env ${e.name}: divisor must be 1 (bytes / whole cores)`);
            }
            defined[e.name] = L.downwardValue(w, c, e, "node-1");
          });
        }
        for (const a of [...(c.command || []), ...(c.args || [])]) {
          L.expandVars(String(a), defined, (missing) => {
            this.check(false, w, `container ${c.name}: argument ${a} uses $(${missing}), which its env does not define`);
          });
        }
        this.check((c.command || []).length > 0, w, `container ${c.name}: command not set`);
        // Every --flagfile resolves to a ConfigMap key through a mount.
        for (const a of c.args || []) {
          const f = L.parseArgFlag(String(a));
          if (f && f.name === "flagfile") {
            for (const p of f.value.split(",")) this.guard(w, () => L.resolveConfigMapFile(this.objs, w, c, p));
          }
        }
      }
    }
  }

  serviceAccounts() {
    for (const w of L.workloads(this.objs)) {
      const name = L.podSpec(w).serviceAccountName;
      if (!this.check(name, w, "serviceAccountName not set (would use default)")) continue;
      const sa = L.findObj(this.objs, "ServiceAccount", w.metadata.namespace, name);
      if (this.check(sa, w, `ServiceAccount ${name} is not rendered`)) {
        this.check(sa.automountServiceAccountToken === false, sa, "automountServiceAccountToken must be false");
      }
    }
  }

  services() {
    const wl = L.workloads(this.objs);
    for (const s of this.of("Service")) {
      const pods = wl.filter((w) => w.metadata.namespace === s.metadata.namespace && L.mapSelectorMatches(s.spec.selector, L.podLabels(w)));
      if (!this.check(pods.length > 0, s, `selector ${JSON.stringify(s.spec.selector)} matches no pod template`)) continue;
      for (const p of s.spec.ports || []) {
        for (const w of pods) {
          const cports = L.podSpec(w).containers.flatMap((c) => c.ports || []);
          const tp = p.targetPort === undefined ? p.port : p.targetPort;
          const cp = typeof tp === "string" ? cports.find((x) => x.name === tp) : cports.find((x) => x.containerPort === tp);
          if (this.check(cp, s, `port ${p.name}: targetPort ${tp} is not a port of ${L.id(w)}`)) {
            this.check(cp.containerPort === p.port && cp.name === p.name, s, `port ${p.name}/${p.port} should equal container port ${cp.name}/${cp.containerPort}`);
          }
        }
      }
    }
  }

  serviceMonitors() {
    const sms = this.of("ServiceMonitor");
    const monitored = new Set();
    for (const sm of sms) {
      const nsNames = (sm.spec.namespaceSelector && sm.spec.namespaceSelector.matchNames) || [sm.metadata.namespace];
      const svcs = this.of("Service").filter((s) => nsNames.includes(s.metadata.namespace) && L.selectorMatches(sm.spec.selector, s.metadata.labels));
      this.check(svcs.length > 0, sm, "selects no rendered Service");
      for (const ep of sm.spec.endpoints || []) {
        this.check(ep.port, sm, "endpoint without a named port");
        for (const s of svcs) {
          if (this.check((s.spec.ports || []).some((p) => p.name === ep.port), sm, `Service ${s.metadata.name} has no port named ${ep.port}`)) {
            monitored.add(`${s.metadata.namespace}/${s.metadata.name}/${ep.port}`);
          }
        }
        this.check((ep.relabelings || []).some((r) => (r.sourceLabels || []).includes("__meta_kubernetes_pod_node_name") &&
          r.targetLabel === "node" && (r.action || "replace") === "replace"), sm, `endpoint ${ep.port}: no relabeling node <- __meta_kubernetes_pod_node_name`);
      }
      if (sm.spec.jobLabel) {
        for (const s of svcs) this.check((s.metadata.labels || {})[sm.spec.jobLabel], sm, `Service ${s.metadata.name} lacks the jobLabel ${sm.spec.jobLabel}`);
      }
    }
    if (sms.length) {
      for (const s of this.of("Service")) {
        for (const p of s.spec.ports || []) {
          if (p.name === "metrics") this.check(monitored.has(`${s.metadata.namespace}/${s.metadata.name}/metrics`), s, "metrics port is scraped by no ServiceMonitor");
        }
      }
    }
  }

  // Reachability: who may open a TCP connection to which named port.
  allowed(target, portName, src) {
    const ns = target.metadata.namespace;
    const tLabels = L.podLabels(target);
    const cport = L.podSpec(target).containers.flatMap((c) => c.ports || []).find((p) => p.name === portName);
    if (!cport) throw new Error(`${L.id(target)} has no port ${portName}`);
    const pols = this.of("NetworkPolicy").filter((p) => p.metadata.namespace === ns &&
      (p.spec.policyTypes || ["Ingress"]).includes("Ingress") && L.selectorMatches(p.spec.podSelector, tLabels));
    if (pols.length === 0) return true; // not isolated
    for (const pol of pols) {
      for (const rule of pol.spec.ingress || []) {
        const portOk = !rule.ports || rule.ports.length === 0 || rule.ports.some((rp) =>
          (rp.protocol || "TCP") === (cport.protocol || "TCP") &&
          (rp.port === undefined || rp.port === cport.containerPort || rp.port === cport.name));
        if (!portOk) continue;
        const peers = rule.from || [];
        if (peers.length === 0) return true;
        for (const peer of peers) {
          if (peer.ipBlock) throw new Error(`${L.id(pol)}: ipBlock peers are not modelled here`);
          const nsOk = peer.namespaceSelector ? L.selectorMatches(peer.namespaceSelector, src.nsLabels) : src.ns === ns;
          const podOk = peer.podSelector ? L.selectorMatches(peer.podSelector, src.labels) : true;
          if (nsOk && podOk) return true;
        }
      }
    }
    return false;
  }

  networkPolicies() {
    const pols = this.of("NetworkPolicy");
    const wl = L.workloads(this.objs);
    for (const pol of pols) {
      const sel = pol.spec.podSelector || {};
      const empty = !sel.matchLabels && !sel.matchExpressions;
      const pods = wl.filter((w) => w.metadata.namespace === pol.metadata.namespace && L.selectorMatches(sel, L.podLabels(w)));
      this.check(empty || pods.length > 0, pol, "podSelector matches no pod template");
      for (const rule of pol.spec.ingress || []) {
        for (const rp of rule.ports || []) {
          if (typeof rp.port !== "string") continue;
          for (const w of pods) {
            this.check(L.podSpec(w).containers.some((c) => (c.ports || []).some((p) => p.name === rp.port)), pol, `named port ${rp.port} is no port of ${L.id(w)}`);
          }
        }
      }
    }
    const server = wl.find((w) => L.podLabels(w)["app.kubernetes.io/name"] === "memmgr-server");
    const worker = wl.find((w) => L.podLabels(w)["app.kubernetes.io/name"] === "memmgr-worker");
    if (!this.check(server && worker, null, "server and worker workloads must be rendered")) return;
    this.check(pols.some((p) => {
      const s = p.spec.podSelector || {};
      return !s.matchLabels && !s.matchExpressions && (p.spec.policyTypes || []).includes("Ingress") && !(p.spec.ingress || []).length;
    }), null, "no default-deny ingress NetworkPolicy (podSelector {}, no ingress rules)");
    const ns = server.metadata.namespace;
    const nsObj = L.findObj(this.objs, "Namespace", undefined, ns);
    const nsLabels = { ...((nsObj && nsObj.metadata.labels) || {}), "kubernetes.io/metadata.name": ns };
    const sources = {
      worker: { ns, nsLabels, labels: L.podLabels(worker) },
      server: { ns, nsLabels, labels: L.podLabels(server) },
      "client pod in a client namespace": { ns: "apps", nsLabels: { "kubernetes.io/metadata.name": "apps", "memmgr.io/client": "true" }, labels: { app: "x", "memmgr.io/client": "true" } },
      "client pod in the memmgr namespace": { ns, nsLabels, labels: { "memmgr.io/client": "true" } },
      "client-labelled pod in an unlabelled namespace": { ns: "other", nsLabels: { "kubernetes.io/metadata.name": "other" }, labels: { "memmgr.io/client": "true" } },
      "plain pod in a client namespace": { ns: "apps", nsLabels: { "kubernetes.io/metadata.name": "apps", "memmgr.io/client": "true" }, labels: { app: "x" } },
      "plain pod in the memmgr namespace": { ns, nsLabels, labels: { app: "debug" } },
      "pod in the monitoring namespace": { ns: "monitoring", nsLabels: { "kubernetes.io/metadata.name": "monitoring" }, labels: { "app.kubernetes.io/name": "prometheus" } },
      "pod in the default namespace": { ns: "default", nsLabels: { "kubernetes.io/metadata.name": "default" }, labels: {} },
    };
    const clients = ["client pod in a client namespace", "client pod in the memmgr namespace"];
    const expect = [
      [server, "grpc", ["worker", ...clients]],
      [server, "metrics", ["pod in the monitoring namespace"]],
      [worker, "grpc", clients],
      [worker, "metrics", ["pod in the monitoring namespace"]],
    ];
    for (const [target, port, who] of expect) {
      for (const [name, src] of Object.entries(sources)) {
        const want = who.includes(name);
        const got = this.allowed(target, port, src);
        this.check(got === want, target, `NetworkPolicy: ${name} ${got ? "can" : "cannot"} reach port ${port} (want ${want ? "allowed" : "denied"})`);
      }
    }
  }

  rbac() {
    for (const r of this.of("Role")) {
      for (const rule of r.rules || []) {
        this.check((rule.verbs || []).every((v) => ["get", "list", "watch"].includes(v)), r, `verbs ${rule.verbs} beyond get/list/watch`);
        this.check((rule.resources || []).every((x) => ["pods", "services", "endpoints", "endpointslices"].includes(x)), r, `resources ${rule.resources} beyond discovery`);
        this.check(!(rule.resources || []).includes("*") && !(rule.verbs || []).includes("*"), r, "wildcards");
      }
    }
    for (const rb of this.of("RoleBinding")) {
      this.check(rb.roleRef.kind === "Role" && L.findObj(this.objs, "Role", rb.metadata.namespace, rb.roleRef.name), rb, `roleRef ${rb.roleRef.kind}/${rb.roleRef.name} does not resolve to a rendered Role`);
      for (const s of rb.subjects || []) {
        this.check(s.kind !== "ServiceAccount" || s.namespace, rb, `subject ${s.name}: ServiceAccount subjects need a namespace`);
      }
    }
  }

  pdbs() {
    const wl = L.workloads(this.objs);
    for (const p of this.of("PodDisruptionBudget")) {
      this.check(wl.some((w) => w.metadata.namespace === p.metadata.namespace && L.selectorMatches(p.spec.selector, L.podLabels(w))), p, "selector matches no pod template");
      this.check((p.spec.minAvailable === undefined) !== (p.spec.maxUnavailable === undefined), p, "exactly one of minAvailable / maxUnavailable");
    }
    const server = wl.find((w) => w.kind === "StatefulSet");
    this.check(server && this.of("PodDisruptionBudget").some((p) => L.selectorMatches(p.spec.selector, L.podLabels(server))), server, "no PodDisruptionBudget covers the server");
  }

  configMaps() {
    for (const cm of this.of("ConfigMap")) {
      const data = cm.data || {};
      const size = Object.values(data).reduce((a, v) => a + Buffer.byteLength(String(v)), 0);
      this.check(size < 1024 * 1024, cm, `data is ${size} bytes; a ConfigMap holds at most 1 MiB`);
      // kubectl apply (client-side) stores the object in an annotation of at most 256 KiB.
      this.check(Buffer.byteLength(JSON.stringify(cm)) < 262144, cm, "too large for kubectl apply's last-applied annotation (256 KiB)");
      for (const [k, v] of Object.entries(data)) {
        if (k.endsWith(".json")) this.guard(cm, () => JSON.parse(v));
        if (/\.ya?ml$/.test(k)) {
          this.guard(cm, () => {
            const docs = require("yaml").parseAllDocuments(v);
            for (const d of docs) if (d.errors.length) throw new Error(`key ${k}: ${d.errors[0].message}`);
          });
        }
        if (k.endsWith(".flags")) this.guard(cm, () => L.flagMap(L.parseFlagFile(v, `${cm.metadata.name}/${k}`), `${cm.metadata.name}/${k}`));
      }
    }
    const dash = this.of("ConfigMap").filter((c) => Object.keys(c.data || {}).some((k) => k.endsWith(".json")));
    this.check(dash.length > 0, null, "no dashboard ConfigMap");
    for (const d of dash) this.check((d.metadata.labels || {}).grafana_dashboard === "1", d, 'dashboard ConfigMap needs label grafana_dashboard: "1"');
  }

  // The flags of a workload: its args plus every --flagfile's lines.
  flagsOf(w) {
    const c = L.podSpec(w).containers[0];
    const flags = new Map();
    for (const a of c.args || []) {
      const f = L.parseArgFlag(String(a));
      if (!f) continue;
      if (f.name === "flagfile") {
        for (const p of f.value.split(",")) {
          const r = L.resolveConfigMapFile(this.objs, w, c, p);
          for (const [k, v] of L.flagMap(L.parseFlagFile(r.text, p), p)) flags.set(k, v);
        }
      } else {
        flags.set(f.name, f.value);
      }
    }
    return { c, flags };
  }
  portOf(c, name) {
    const p = (c.ports || []).find((x) => x.name === name);
    return p && p.containerPort;
  }
  listenPort(v) {
    const m = /^(.*):([0-9]+)$/.exec(v || "");
    return m ? { host: m[1], port: Number(m[2]) } : null;
  }

  serverFlags() {
    const sts = this.of("StatefulSet").find((w) => L.podLabels(w)["app.kubernetes.io/name"] === "memmgr-server");
    if (!this.check(sts, null, "no memmgr-server StatefulSet")) return;
    this.check(sts.spec.replicas === 1, sts, "one replica owns the RocksDB directory");
    const { c, flags } = this.flagsOf(sts);
    const need = ["data_dir", "listen", "metrics_listen", "swap_capacity", "lease_ttl", "zswap_max_pool_bytes", "shutdown_grace"];
    for (const n of need) this.check(flags.has(n), sts, `server flag --${n} must be set explicitly`);
    const l = this.listenPort(flags.get("listen"));
    this.check(l && l.host === "0.0.0.0" && l.port === this.portOf(c, "grpc"), sts, `--listen=${flags.get("listen")} must be 0.0.0.0:<container port grpc>`);
    const ml = this.listenPort(flags.get("metrics_listen"));
    this.check(ml && ml.host === "0.0.0.0" && ml.port === this.portOf(c, "metrics"), sts, `--metrics_listen=${flags.get("metrics_listen")} must be 0.0.0.0:<container port metrics>`);
    const claimMounts = (c.volumeMounts || []).filter((vm) => (sts.spec.volumeClaimTemplates || []).some((t) => t.metadata.name === vm.name));
    this.check(claimMounts.some((vm) => vm.mountPath.replace(/\/+$/, "") === String(flags.get("data_dir")).replace(/\/+$/, "")), sts, `--data_dir=${flags.get("data_dir")} is not the PersistentVolumeClaim's mountPath`);
    const grace = L.parseDurationSeconds(flags.get("shutdown_grace"));
    const tgp = L.podSpec(sts).terminationGracePeriodSeconds;
    this.check(tgp !== undefined && tgp >= grace + 30, sts, `terminationGracePeriodSeconds ${tgp} < --shutdown_grace (${grace}s) + 30s for closing RocksDB`);
    const cap = Number(flags.get("swap_capacity"));
    const pool = L.parseByteSize(flags.get("zswap_max_pool_bytes"));
    this.check(pool > 0, sts, "--zswap_max_pool_bytes must be > 0 (0 means a share of the host's memory)");
    const mem = L.parseQuantity(c.resources.limits.memory);
    // docs/operations.md: ~21 bytes of swap map per slot, memtables 64 MiB each (a few).
    const need_mem = pool + 21 * cap + 3 * 64 * 2 ** 20;
    this.check(need_mem <= mem, sts, `memory limit ${c.resources.limits.memory} < pool ${pool} + swap map ${21 * cap} + memtables (${need_mem} bytes)`);
    const claim = (sts.spec.volumeClaimTemplates || []).find((t) => claimMounts.some((vm) => vm.name === t.metadata.name));
    if (claim) {
      const storage = L.parseQuantity(claim.spec.resources.requests.storage);
      this.check(storage >= 1.25 * 4096 * cap, sts, `PVC ${claim.spec.resources.requests.storage} < 1.25 x --swap_capacity x 4 KiB (${1.25 * 4096 * cap} bytes)`);
    }
    const sync = flags.get("sync");
    if ((this.opts.expectSync || false)) this.check(sync === "true" || sync === null, sts, `--sync must be on here (is ${sync})`);
  }

  // The image a container runs is built by deploy/docker/<x>.Dockerfile: its
  // final stage must install the command, run as the pod's uid:gid, and
  // expose the container's ports.
  dockerfiles() {
    const dfs = this.opts.dockerfiles || new Map();
    if (dfs.size === 0) return;
    for (const w of L.workloads(this.objs)) {
      const ps = L.podSpec(w);
      for (const c of ps.containers) {
        const image = c.image.replace(/:[^:/]*$/, "").replace(/^.*\//, "");
        const text = dfs.get(image);
        if (!this.check(text !== undefined, w, `container ${c.name}: no Dockerfile given for image ${image}`)) continue;
        const stages = text.split(/^FROM\s/m);
        const final = stages[stages.length - 1];
        const lines = final.replace(/\\\n/g, " ").split("\n");
        const copies = lines.filter((l) => /^\s*(COPY|ADD)\s/.test(l)).map((l) => l.trim().split(/\s+/).pop());
        this.check(copies.includes(c.command[0]), w, `container ${c.name}: command ${c.command[0]} is not installed by the ${image} Dockerfile (COPY destinations: ${copies.join(", ")})`);
        const user = lines.map((l) => /^\s*USER\s+(\S+)/.exec(l)).filter(Boolean).map((m) => m[1]).pop();
        const sc = ps.securityContext || {};
        this.check(user === `${sc.runAsUser}:${sc.runAsGroup}`, w, `container ${c.name}: the ${image} image runs as USER ${user}, the pod as ${sc.runAsUser}:${sc.runAsGroup}`);
        const exposed = new Set(lines.filter((l) => /^\s*EXPOSE\s/.test(l)).flatMap((l) => l.trim().split(/\s+/).slice(1)).map((x) => Number(x.split("/")[0])));
        for (const p of c.ports || []) this.check(exposed.has(p.containerPort), w, `container ${c.name}: port ${p.containerPort} is not EXPOSEd by the ${image} Dockerfile`);
      }
    }
  }

  workerFlags() {
    const ds = this.of("DaemonSet").find((w) => L.podLabels(w)["app.kubernetes.io/name"] === "memmgr-worker");
    if (!this.check(ds, null, "no memmgr-worker DaemonSet")) return;
    const { c, flags } = this.flagsOf(ds);
    this.check((c.args || [])[0] === "serve", ds, "the worker's first argument must be serve");
    const l = this.listenPort(flags.get("listen"));
    this.check(l && l.host === "0.0.0.0" && l.port === this.portOf(c, "grpc"), ds, `--listen=${flags.get("listen")} must be 0.0.0.0:<container port grpc>`);
    const ml = this.listenPort(flags.get("metrics_listen"));
    this.check(ml && ml.host === "0.0.0.0" && ml.port === this.portOf(c, "metrics"), ds, `--metrics_listen=${flags.get("metrics_listen")} must be 0.0.0.0:<container port metrics>`);
    this.check(!flags.has("memory"), ds, "--memory must not be set: it follows --container_memory");
    const env = new Map((c.env || []).map((e) => [e.name, e]));
    const cm = /^\$\(([A-Za-z_0-9]+)\)$/.exec(flags.get("container_memory") || "");
    const e = cm && env.get(cm[1]);
    this.check(e && e.valueFrom && e.valueFrom.resourceFieldRef && e.valueFrom.resourceFieldRef.resource === "limits.memory" &&
      (e.valueFrom.resourceFieldRef.containerName || c.name) === c.name, ds, "--container_memory must be $(VAR) with VAR = this container's limits.memory (downward API)");
    const wid = /^\$\(([A-Za-z_0-9]+)\)$/.exec(flags.get("worker_id") || "");
    const we = wid && env.get(wid[1]);
    this.check(we && we.valueFrom && we.valueFrom.fieldRef && we.valueFrom.fieldRef.fieldPath === "spec.nodeName", ds, "--worker_id must be $(VAR) with VAR = spec.nodeName");
    this.check(flags.get("numa_node") === "auto", ds, "--numa_node=auto expected");
    const pct = Number(flags.get("memory_percent"));
    this.check(pct >= 1 && pct <= 95, ds, `--memory_percent=${flags.get("memory_percent")} outside 1..95`);
    // --server is the server pod's stable DNS name through the headless Service.
    const sts = this.of("StatefulSet").find((w) => L.podLabels(w)["app.kubernetes.io/name"] === "memmgr-server");
    if (sts) {
      const grpcPort = this.portOf(L.podSpec(sts).containers[0], "grpc");
      const want = `${sts.metadata.name}-0.${sts.spec.serviceName}.${sts.metadata.namespace}.svc.cluster.local:${grpcPort}`;
      this.check(flags.get("server") === want, ds, `--server=${flags.get("server")}, want ${want}`);
    }
    // With --server the worker registers before serving and retries an
    // unreachable server for --swap_retry_for: the startup probe must wait
    // that long, or the kubelet restarts workers that start before the server.
    if (flags.has("server")) {
      const retry = L.parseDurationSeconds(flags.get("swap_retry_for") || "5m");
      const sp = c.startupProbe;
      const budget = sp ? (sp.periodSeconds || 10) * (sp.failureThreshold || 3) + (sp.initialDelaySeconds || 0) : 0;
      this.check(budget >= retry, ds, `startupProbe allows ${budget}s, less than --swap_retry_for (${retry}s) the worker may wait for the server before serving`);
    }
    const grace = flags.has("shutdown_grace") ? L.parseDurationSeconds(flags.get("shutdown_grace")) : 10;
    const tgp = L.podSpec(ds).terminationGracePeriodSeconds;
    this.check(tgp !== undefined && tgp >= grace + 10, ds, `terminationGracePeriodSeconds ${tgp} < --shutdown_grace (${grace}s) + 10s`);
  }
}

// ---------------------------------------------------------------- self-test

function clone(x) { return JSON.parse(JSON.stringify(x)); }
function find(objs, kind, name) {
  const o = objs.find((x) => x.kind === kind && (!name || x.metadata.name === name));
  if (!o) throw new Error(`self-test: no ${kind} ${name || ""} in the render`);
  return o;
}

// Each case mutates a copy of a valid render; the validator must reject it
// with a message containing `want`.
const NEGATIVE_CASES = [
  { name: "typo'd field spec.template.spec.containers[0].imagePullPolice", want: 'unknown field "imagePullPolice"',
    mut: (objs) => { const c = find(objs, "StatefulSet").spec.template.spec.containers[0]; c.imagePullPolice = c.imagePullPolicy; delete c.imagePullPolicy; } },
  { name: "wrong type: spec.replicas as a string", want: "/spec/replicas must be",
    mut: (objs) => { find(objs, "StatefulSet").spec.replicas = "1"; } },
  { name: "wrong type: terminationGracePeriodSeconds 60.5", want: "must be integer",
    mut: (objs) => { find(objs, "DaemonSet").spec.template.spec.terminationGracePeriodSeconds = 60.5; } },
  { name: "enum: imagePullPolicy Sometimes", want: "imagePullPolicy",
    mut: (objs) => { find(objs, "DaemonSet").spec.template.spec.containers[0].imagePullPolicy = "Sometimes"; } },
  { name: "unknown top-level field specs", want: 'unknown field "specs"',
    mut: (objs) => { const s = find(objs, "Service"); s.specs = s.spec; } },
  { name: "ServiceMonitor endpoint field relabellings", want: 'unknown field "relabellings"',
    mut: (objs) => { const e = find(objs, "ServiceMonitor").spec.endpoints[0]; e.relabellings = e.relabelings; } },
  { name: "unknown kind", want: "no kubernetes-models schema",
    mut: (objs) => { objs.push({ apiVersion: "v1", kind: "Podd", metadata: { name: "x", namespace: "memmgr" } }); } },
  { name: "worker memory request != limit", want: "not Guaranteed QoS",
    mut: (objs) => { find(objs, "DaemonSet").spec.template.spec.containers[0].resources.requests.memory = "1Mi"; } },
  { name: "fractional worker cpu", want: "not a whole number of cores",
    mut: (objs) => { const r = find(objs, "DaemonSet").spec.template.spec.containers[0].resources; r.requests.cpu = "1500m"; r.limits.cpu = "1500m"; } },
  { name: "probe on a port the container lacks", want: "is not the container port named grpc",
    mut: (objs) => { find(objs, "StatefulSet").spec.template.spec.containers[0].readinessProbe.grpc.port = 7099; } },
  { name: "Service selector matching nothing", want: "matches no pod template",
    mut: (objs) => { find(objs, "Service", "memmgr-worker").spec.selector = { "app.kubernetes.io/name": "memmgr-wrker" }; } },
  { name: "configMap volume naming a missing ConfigMap", want: "is not rendered",
    mut: (objs) => { find(objs, "DaemonSet").spec.template.spec.volumes.find((v) => v.configMap).configMap.name = "nope"; } },
  { name: "--flagfile path not in the ConfigMap", want: "has no key",
    mut: (objs) => { const c = find(objs, "StatefulSet").spec.template.spec.containers[0]; c.args = c.args.map((a) => a.replace(/server\.flags/, "srever.flags")); } },
  { name: "$(VAR) not in env", want: "which its env does not define",
    mut: (objs) => { const c = find(objs, "DaemonSet").spec.template.spec.containers[0]; c.args.push("--x=$(MEMMGR_TYPO)"); } },
  { name: "terminationGracePeriodSeconds too short", want: "terminationGracePeriodSeconds 15",
    mut: (objs) => { find(objs, "StatefulSet").spec.template.spec.terminationGracePeriodSeconds = 15; } },
  { name: "NetworkPolicy peer opened to everyone", want: "plain pod in the memmgr namespace can reach port grpc",
    mut: (objs) => { find(objs, "NetworkPolicy", "memmgr-server-ingress").spec.ingress[0].from.push({ podSelector: {} }); } },
  { name: "NetworkPolicy without the worker peer", want: "worker cannot reach port grpc",
    mut: (objs) => { const r = find(objs, "NetworkPolicy", "memmgr-server-ingress").spec.ingress[0]; r.from = r.from.filter((p) => p.namespaceSelector); } },
  { name: "ServiceMonitor on a port named metric", want: "has no port named metric",
    mut: (objs) => { find(objs, "ServiceMonitor").spec.endpoints[0].port = "metric"; } },
  { name: "container running as root", want: "uid/gid 10001",
    mut: (objs) => { find(objs, "DaemonSet").spec.template.spec.securityContext.runAsUser = 0; } },
  { name: "worker --server naming another host", want: "--server=",
    mut: (objs) => { const cm = objs.find((o) => o.kind === "ConfigMap" && o.data && o.data["worker.flags"]); cm.data["worker.flags"] = cm.data["worker.flags"].replace(/--server=memmgr-server-0\./, "--server=memmgr-srv-0."); } },
  { name: "worker startupProbe shorter than --swap_retry_for", want: "startupProbe allows",
    mut: (objs) => { find(objs, "DaemonSet").spec.template.spec.containers[0].startupProbe.failureThreshold = 3; } },
  { name: "command the image does not install", want: "is not installed by the", needsDockerfiles: true,
    mut: (objs) => { find(objs, "StatefulSet").spec.template.spec.containers[0].command = ["/usr/bin/memmgr-server"]; } },
];

function validateRender(objs, schemas, opts) {
  const errors = [];
  for (const o of objs) {
    const key = o && o.apiVersion && o.kind ? typeKey(o) : null;
    if (!key) { errors.push(`object without apiVersion/kind: ${JSON.stringify(o).slice(0, 100)}`); continue; }
    const model = modelValidate(o);
    const strict = model.length && model[0].startsWith("no kubernetes-models") ? [] : schemas.validate(o);
    for (const e of [...model, ...strict]) errors.push(`${L.id(o)}: ${e}`);
  }
  const checker = new Checker(objs, opts);
  errors.push(...checker.run());
  return { errors, checks: checker.count };
}

function main() {
  const args = process.argv.slice(2);
  const renders = [];
  const expectSync = new Set();
  const dockerfiles = new Map();
  for (const a of args) {
    let m;
    if (a.startsWith("--expect-sync=")) expectSync.add(a.slice(14));
    else if ((m = /^--dockerfile=([^=]+)=(.+)$/.exec(a))) dockerfiles.set(m[1], fs.readFileSync(m[2], "utf8"));
    else if (/^[^=]+=.+$/.test(a)) { const i = a.indexOf("="); renders.push({ name: a.slice(0, i), file: a.slice(i + 1) }); }
    else { console.error(`usage: k8s_validate.js [--expect-sync=NAME]... NAME=RENDERED.yaml...  (bad argument ${a})`); process.exit(2); }
  }
  if (renders.length === 0) { console.error("usage: k8s_validate.js [--expect-sync=NAME]... NAME=RENDERED.yaml..."); process.exit(2); }
  for (const n of expectSync) if (!renders.some((r) => r.name === n)) { console.error(`--expect-sync=${n}: no such render`); process.exit(2); }

  const t0 = Date.now();
  for (const r of renders) r.objs = L.loadRender(r.file);
  const kinds = new Map();
  for (const r of renders) for (const o of r.objs) if (o && o.apiVersion && o.kind) kinds.set(typeKey(o), { apiVersion: o.apiVersion, kind: o.kind });
  const known = [...kinds.values()].filter((k) => { try { require.resolve(modelModule(k.apiVersion, k.kind)); return true; } catch (e) { return false; } });
  const schemas = new StrictSchemas(known);
  console.log(`k8s_validate: strict schemas for ${known.length} kinds generated in ${Date.now() - t0} ms`);

  let failed = false;
  for (const r of renders) {
    const { errors, checks } = validateRender(r.objs, schemas, { expectSync: expectSync.has(r.name), dockerfiles });
    if (errors.length) {
      failed = true;
      console.log(`FAIL ${r.name} (${r.file}): ${errors.length} finding(s)`);
      for (const e of errors) console.log(`  ${e}`);
    } else {
      const kindsList = [...new Set(r.objs.map((o) => o.kind))].join(", ");
      console.log(`ok ${r.name}: ${r.objs.length} objects (${kindsList}) valid against kubernetes-models + strict schema; ${checks} cross-object checks passed`);
    }
  }

  // Self-test on the first render: every mutation must be caught.
  const base = renders[0].objs;
  let caught = 0;
  const cases = NEGATIVE_CASES.filter((nc) => !nc.needsDockerfiles || dockerfiles.size > 0);
  for (const nc of cases) {
    const objs = clone(base);
    nc.mut(objs);
    const { errors } = validateRender(objs, schemas, { dockerfiles });
    const hit = errors.find((e) => e.includes(nc.want));
    if (hit) {
      caught++;
      if (process.env.K8S_VALIDATE_VERBOSE) console.log(`  self-test "${nc.name}": rejected: ${hit}`);
    } else {
      failed = true;
      console.log(`FAIL self-test "${nc.name}": not rejected with "${nc.want}"; findings: ${errors.length ? errors.join(" | ") : "none"}`);
    }
  }
  console.log(`self-test: ${caught}/${cases.length} deliberately broken copies of ${renders[0].name} rejected`);
  console.log(`k8s_validate: ${failed ? "FAILED" : "all valid"} (${Date.now() - t0} ms)`);
  process.exit(failed ? 1 : 0);
}

main();
