#!/usr/bin/env node
// What a container of a rendered workload would run, as the kubelet would
// start it: its command + args with $(VAR) expanded from its env (downward
// API emulated from the manifest: limits.memory / limits.cpu with their
// divisor, spec.nodeName = --node), and every --flagfile resolved through
// its volume mount to the rendered ConfigMap's key and written out.
//
//   node k8s_extract.js RENDER.yaml KIND NAME OUTDIR --node=NODE
//        [--set=FLAG=VALUE]... [--add=FLAG=VALUE]... [--append_to_flagfile=LINE]
//
// --set rewrites an environment-specific flag where the manifest sets it (in
// a flag file or on the command line); it is an error if the manifest does
// not set it. --add appends a flag to the command line (an error if the
// manifest sets it already). --append_to_flagfile adds a line to the (first)
// flag file (the test's deliberate unknown flag).
// Writes into OUTDIR:
//   argv       one argument per line; line 1 is the command as in the manifest
//   *.flags    the flag files, with --flagfile pointing at them
//   flags      every flag name used (args and flag files, appended lines too)
//   effective  name=value of every flag after rewriting and expansion
//   grace      the pod's terminationGracePeriodSeconds
//   env        NAME=VALUE of the container's env as the kubelet computed it
"use strict";
const fs = require("fs");
const path = require("path");
const L = require("./k8s_lib.js");

function die(msg) {
  console.error(`k8s_extract: ${msg}`);
  process.exit(1);
}

function main() {
  const argv = process.argv.slice(2);
  const pos = [];
  const sets = new Map();
  const adds = [];
  const appendLines = [];
  let node = null;
  for (const a of argv) {
    let m;
    if ((m = /^--node=(.+)$/.exec(a))) node = m[1];
    else if ((m = /^--set=([A-Za-z0-9_]+)=(.*)$/.exec(a))) sets.set(m[1], m[2]);
    else if ((m = /^--add=([A-Za-z0-9_]+)=(.*)$/.exec(a))) adds.push([m[1], m[2]]);
    else if ((m = /^--append_to_flagfile=(.*)$/.exec(a))) appendLines.push(m[1]);
    else if (a.startsWith("--")) die(`unknown option ${a}`);
    else pos.push(a);
  }
  if (pos.length !== 4 || !node) {
    console.error("usage: k8s_extract.js RENDER.yaml KIND NAME OUTDIR --node=NODE [--set=F=V]... [--add=F=V]... [--append_to_flagfile=LINE]");
    process.exit(2);
  }
  const [renderFile, kind, name, outDir] = pos;
  const objs = L.loadRender(renderFile);
  const w = objs.find((o) => o.kind === kind && o.metadata.name === name);
  if (!w) die(`${renderFile}: no ${kind} ${name}`);
  const ps = L.podSpec(w);
  if (ps.containers.length !== 1) die(`${kind}/${name}: expected one container, found ${ps.containers.length}`);
  const c = ps.containers[0];
  fs.mkdirSync(outDir, { recursive: true });

  // env as the kubelet computes it (in order; later entries may use earlier ones).
  const env = {};
  for (const e of c.env || []) {
    try {
      env[e.name] = e.valueFrom ? L.downwardValue(w, c, e, node) : L.expandVars(String(e.value || ""), env);
    } catch (err) {
      die(`${kind}/${name}: ${err.message}`);
    }
  }
  const expand = (s) => L.expandVars(String(s), env, (v) => die(`${kind}/${name}: $(${v}) in "${s}" is not defined in env`));
  if (!c.command || c.command.length === 0) die(`${kind}/${name}: no command (the image's entrypoint is not known here)`);
  const args = [...c.command.map(expand), ...(c.args || []).map(expand)];

  const used = new Set(); // flag names the manifest uses
  const setDone = new Set();
  const effective = new Map();
  const out = [];
  let flagfilesWritten = 0;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const f = i < c.command.length ? null : L.parseArgFlag(a);
    if (!f) { out.push(a); continue; }
    used.add(f.name);
    if (f.name === "flagfile") {
      const newPaths = [];
      for (const p of f.value.split(",")) {
        let r;
        try { r = L.resolveConfigMapFile(objs, w, c, p); } catch (err) { die(`${kind}/${name}: ${err.message}`); }
        if (r.text.includes("$(")) die(`${p}: $(VAR) in a flag file is not expanded by the kubelet`);
        const lines = r.text.split("\n");
        const parsed = L.parseFlagFile(r.text, p);
        L.flagMap(parsed, p); // no duplicates
        for (const pf of parsed) {
          used.add(pf.name);
          if (sets.has(pf.name)) {
            lines[pf.line - 1] = `--${pf.name}=${sets.get(pf.name)}`;
            setDone.add(pf.name);
          }
        }
        if (flagfilesWritten === 0) for (const l of appendLines) lines.push(l);
        const text = lines.join("\n");
        for (const pf of L.parseFlagFile(text, p)) {
          used.add(pf.name);
          effective.set(pf.name, pf.value === null ? "true" : pf.value);
        }
        const dest = path.join(outDir, path.basename(r.key));
        fs.writeFileSync(dest, text);
        newPaths.push(path.resolve(dest));
        flagfilesWritten++;
      }
      out.push(`--flagfile=${newPaths.join(",")}`);
      continue;
    }
    let value = f.value;
    if (sets.has(f.name)) { value = sets.get(f.name); setDone.add(f.name); }
    effective.set(f.name, value === null ? "true" : value);
    out.push(value === null ? `--${f.name}` : `--${f.name}=${value}`);
  }
  for (const n of sets.keys()) if (!setDone.has(n)) die(`--set=${n}: ${kind}/${name} does not set --${n} (nothing to rewrite)`);
  for (const [n, v] of adds) {
    if (used.has(n)) die(`--add=${n}: ${kind}/${name} sets --${n} already`);
    out.push(`--${n}=${v}`);
    effective.set(n, v);
  }
  for (const a of out) if (a.includes("\n")) die(`argument with a newline: ${JSON.stringify(a)}`);
  fs.writeFileSync(path.join(outDir, "argv"), out.join("\n") + "\n");
  fs.writeFileSync(path.join(outDir, "flags"), [...used].sort().join("\n") + "\n");
  fs.writeFileSync(path.join(outDir, "effective"), [...effective].map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
  fs.writeFileSync(path.join(outDir, "grace"), `${ps.terminationGracePeriodSeconds === undefined ? 30 : ps.terminationGracePeriodSeconds}\n`);
  fs.writeFileSync(path.join(outDir, "env"), Object.entries(env).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
}

main();
