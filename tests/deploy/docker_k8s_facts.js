#!/usr/bin/env node
// The facts of a rendered Kubernetes manifest that the images must agree
// with, for tests/deploy/docker_check.py: every container (and init
// container) of every workload, with its image, command, ports, effective
// runAsUser/runAsGroup (container securityContext over the pod's) and
// volume mount paths.
//
//   node docker_k8s_facts.js RENDER.yaml   -> JSON array on stdout
//
// Node 18 compatible; uses the yaml package of tests/deploy/node_modules.
"use strict";
const fs = require("fs");
const YAML = require("yaml");

function main() {
  if (process.argv.length !== 3) {
    console.error("usage: docker_k8s_facts.js RENDER.yaml");
    process.exit(2);
  }
  const docs = YAML.parseAllDocuments(fs.readFileSync(process.argv[2], "utf8"));
  const out = [];
  for (const d of docs) {
    if (d.errors.length) {
      console.error(`docker_k8s_facts: ${d.errors[0].message}`);
      process.exit(1);
    }
    const o = d.toJSON();
    if (!o || !o.kind) continue;
    const pod = o.kind === "Pod" ? o.spec : o.spec && o.spec.template && o.spec.template.spec;
    if (!pod) continue;
    const psc = pod.securityContext || {};
    for (const [list, init] of [[pod.containers || [], false], [pod.initContainers || [], true]]) {
      for (const c of list) {
        const sc = c.securityContext || {};
        const pick = (k) => (sc[k] !== undefined ? sc[k] : psc[k] !== undefined ? psc[k] : null);
        out.push({
          kind: o.kind,
          name: (o.metadata && o.metadata.name) || "",
          container: c.name,
          init,
          image: c.image || "",
          command: c.command || null,
          args: c.args || null,
          ports: (c.ports || []).map((p) => ({ name: p.name || "", containerPort: p.containerPort })),
          runAsUser: pick("runAsUser"),
          runAsGroup: pick("runAsGroup"),
          runAsNonRoot: pick("runAsNonRoot"),
          readOnlyRootFilesystem: sc.readOnlyRootFilesystem === true,
          mounts: (c.volumeMounts || []).map((m) => m.mountPath),
        });
      }
    }
  }
  process.stdout.write(JSON.stringify(out, null, 1) + "\n");
}

main();
