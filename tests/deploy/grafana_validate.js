#!/usr/bin/env node
// Offline checks of a Grafana dashboard JSON (deploy/k8s/base/dashboards/
// memmgr-overview.json). Used by grafana_dashboard_test.sh; runs on node 18+.
//
//   grafana_validate.js schema [--cache F] DASHBOARD   Grafana's dashboard schema (below)
//   grafana_validate.js structure DASHBOARD   ids, grid, datasources, targets, variables
//   grafana_validate.js rules     DASHBOARD OUT.yml
//        every target's expr, Grafana variables substituted, as one recording
//        rule per expression in a Prometheus rule file (one group per panel,
//        so `promtool check rules` names the panel of a bad expression)
//   grafana_validate.js metrics   DASHBOARD SCRAPE.prom...
//        every metric name (and label, and label value of an `=` matcher) an
//        expression or variable query uses exists in the given /metrics
//        scrapes; counters only inside rate()/increase(), gauges never
//   grafana_validate.js mutate    NAME DASHBOARD OUT.json | all DASHBOARD DIR | list
//        writes broken copies (the test's negative cases)
//
// Schema. The JSON Schema is generated (2.5-4 s on 2 cores; --cache keeps
// it for the other calls of one test run, which then take ~1 s) from the
// TypeScript types of npm @grafana/schema 13.2.3 by ts-json-schema-generator;
// grafana_schema_types.ts says which files hold them and exports the roots:
// Dashboard (the package's veneer Dashboard over the generated raw types),
// Panel, RowPanel, PrometheusQuery, and each used panel plugin's Options and
// FieldConfig. Strictness: the generator writes additionalProperties:false
// for every interface without an index signature, and we keep that, so an
// unknown field is rejected wherever Grafana's types list the fields: the
// dashboard's top level, templating variables, annotations, panels, rows,
// gridPos, datasource refs, fieldConfig.defaults, thresholds, mappings,
// overrides. Where the types are open (Panel.options and
// fieldConfig.defaults.custom are Record<string, unknown>; targets are
// Record<string, unknown>[]) each is validated in a second pass against the
// plugin's own Options/FieldConfig type (by panel type) and against
// PrometheusQuery, also closed. The plugin types are Partial at their top
// level (Grafana fills in plugin defaults on load; see
// grafana_schema_types.ts). A panel type without a schema is an error.
// Left open because Grafana's own types leave them open (unknown): an
// override property's value, a transformation's options, a matcher's
// options, and a query variable's query when it is an object.
'use strict';

const fs = require('fs');
const path = require('path');

const HERE = __dirname;
const NM = path.join(HERE, 'node_modules');
const TYPES_FILE = path.join(HERE, 'grafana_schema_types.ts');

// Panel type -> [options type, fieldConfig.custom type or null].
const PLUGIN_TYPES = {
  timeseries: ['TimeseriesOptions', 'TimeseriesFieldConfig'],
  stat: ['StatOptions', null],
  heatmap: ['HeatmapOptions', 'HeatmapFieldConfig'],
  table: ['TableOptions', 'TableFieldConfig'],
  bargauge: ['BargaugeOptions', null],
};
const ROOT_TYPES = ['Dashboard', 'Panel', 'RowPanel', 'PrometheusQuery'];

const DS_VAR = '${datasource}';
// Values the test substitutes for Grafana's variables before promtool sees
// an expression. Multi-value variables get a regex alternation, as Grafana
// formats them for =~.
const BUILTIN_VARS = {
  __rate_interval: '1m',
  __interval: '30s',
  __range: '1h',
};
const SAMPLE_VALUES = {
  pod: 'memmgr-worker-7xk2p|memmgr-worker-q9c4d',
  source: 'remote', // the heatmap repeats per source: one value per copy
};
// Labels Prometheus adds to every target (docs: common.md, "Target labels").
const TARGET_LABELS = new Set(['namespace', 'pod', 'node', 'job', 'instance']);

function die(msg) {
  process.stderr.write(msg.replace(/\n?$/, '\n'));
  process.exit(1);
}

function loadJson(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    die(`${file}: ${e.message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    die(`${file}: not JSON: ${e.message}`);
  }
  return null;
}

// Every panel, rows' nested panels included, with where it sits.
function allPanels(d) {
  const out = [];
  if (!Array.isArray(d.panels)) return out;
  d.panels.forEach((p, i) => {
    out.push({ p, where: `panels[${i}]`, nested: false });
    if (p && Array.isArray(p.panels)) {
      p.panels.forEach((q, j) => out.push({ p: q, where: `panels[${i}].panels[${j}]`, nested: true }));
    }
  });
  return out;
}

function label(p, where) {
  if (!p || typeof p !== 'object') return where;
  return `panel ${p.id === undefined ? '?' : p.id} "${p.title || ''}" (${where})`;
}

// ------------------------------------------------------------------ schema

function generateSchemas() {
  const ts = require(path.join(NM, 'typescript'));
  const tsj = require(path.join(NM, 'ts-json-schema-generator'));
  const config = {
    path: TYPES_FILE,
    expose: 'none', // inline: raw and common both define DataSourceRef
    topRef: false,
    additionalProperties: false,
    jsDoc: 'none',
    skipTypeCheck: true,
  };
  const program = ts.createProgram([TYPES_FILE], {
    noEmit: true,
    strict: true, // strictNullChecks: keep `number | null` (threshold values)
    skipLibCheck: true,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10 || ts.ModuleResolutionKind.NodeJs,
    target: ts.ScriptTarget.ES2020,
  });
  const diags = ts.getPreEmitDiagnostics(program);
  if (diags.length) {
    die('grafana_schema_types.ts does not type-check against @grafana/schema:\n' +
      diags.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n'));
  }
  const parser = tsj.createParser(program, config);
  const formatter = tsj.createFormatter(config);
  const gen = new tsj.SchemaGenerator(program, parser, formatter, config);
  const names = new Set(ROOT_TYPES);
  for (const [o, f] of Object.values(PLUGIN_TYPES)) {
    names.add(o);
    if (f) names.add(f);
  }
  const schemas = {};
  for (const n of names) {
    const s = gen.createSchema(n);
    delete s.$schema;
    schemas[n] = s;
  }
  return schemas;
}

function fmtErrors(errors, prefix) {
  return errors.map((e) => {
    let m = `${prefix}${e.instancePath || '/'}: ${e.message}`;
    if (e.params && e.params.additionalProperty) m += ` ("${e.params.additionalProperty}")`;
    if (e.params && e.params.allowedValues) m += ` (${JSON.stringify(e.params.allowedValues)})`;
    return m;
  });
}

// cache: a file for the generated schemas, written on the first call and
// read by later ones (the test keeps it in its own temp dir, so it never
// outlives one run of the test and an upgraded @grafana/schema is seen).
function cmdSchema(file, cache) {
  const d = loadJson(file);
  const t0 = Date.now();
  let schemas;
  let how;
  if (cache && fs.existsSync(cache)) {
    schemas = loadJson(cache);
    how = `read from ${cache}`;
  } else {
    schemas = generateSchemas();
    how = `generated from @grafana/schema in ${Date.now() - t0} ms`;
    if (cache) {
      fs.writeFileSync(`${cache}.tmp${process.pid}`, JSON.stringify(schemas));
      fs.renameSync(`${cache}.tmp${process.pid}`, cache);
    }
  }
  const Ajv = require(path.join(NM, 'ajv'));
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  // Compiled on first use (compiling the whole Dashboard schema takes ~1 s).
  // DashboardTop is Dashboard with its panels' items left open: step 1
  // checks everything but the panels, which step 2 checks one by one (one
  // clear message instead of the anyOf(Panel, RowPanel) noise).
  schemas.DashboardTop = JSON.parse(JSON.stringify(schemas.Dashboard));
  schemas.DashboardTop.properties.panels = { type: 'array' };
  const compiled = {};
  const v = new Proxy({}, {
    get: (_, n) => {
      if (!compiled[n]) {
        if (!schemas[n]) die(`no schema ${String(n)} (grafana_schema_types.ts)`);
        compiled[n] = ajv.compile(schemas[n]);
      }
      return compiled[n];
    },
  });
  const errs = [];

  // 1. The dashboard but its panels (an object instead of an array fails here).
  if (!v.DashboardTop(d)) errs.push(...fmtErrors(v.DashboardTop.errors, 'dashboard'));

  // 2. Each panel as a row (type "row") or a panel, then its open parts.
  if (Array.isArray(d.panels)) {
    for (const { p, where } of allPanels(d)) {
      const name = label(p, where);
      const isRow = p && p.type === 'row';
      const val = isRow ? v.RowPanel : v.Panel;
      if (!val(p)) {
        errs.push(...fmtErrors(val.errors, `${name} ${isRow ? 'RowPanel' : 'Panel'} `));
        continue;
      }
      if (isRow) continue;
      const plugin = PLUGIN_TYPES[p.type];
      if (!plugin) {
        errs.push(`${name}: no schema for panel type "${p.type}" (add its panelcfg types to grafana_schema_types.ts)`);
        continue;
      }
      if (p.options !== undefined && !v[plugin[0]](p.options)) {
        errs.push(...fmtErrors(v[plugin[0]].errors, `${name} options (${plugin[0]}) `));
      }
      const custom = p.fieldConfig && p.fieldConfig.defaults && p.fieldConfig.defaults.custom;
      if (custom !== undefined) {
        if (!plugin[1]) errs.push(`${name}: fieldConfig.defaults.custom given, but ${p.type} has no FieldConfig`);
        else if (!v[plugin[1]](custom)) errs.push(...fmtErrors(v[plugin[1]].errors, `${name} fieldConfig.defaults.custom (${plugin[1]}) `));
      }
      (p.targets || []).forEach((t, i) => {
        if (!v.PrometheusQuery(t)) errs.push(...fmtErrors(v.PrometheusQuery.errors, `${name} targets[${i}] (PrometheusQuery) `));
      });
    }
  }

  // 3. The whole dashboard against the whole Dashboard schema: must agree.
  if (!errs.length && !v.Dashboard(d)) {
    errs.push('whole dashboard (anyOf Panel/RowPanel):', ...fmtErrors(v.Dashboard.errors, 'dashboard'));
  }
  if (errs.length) die(`${file}: does not match Grafana's dashboard schema (@grafana/schema):\n  ${errs.join('\n  ')}`);
  const n = allPanels(d).length;
  console.log(`schema: OK (${n} panels; schema ${how})`);
}

// --------------------------------------------------------------- structure

// $name, ${name}, ${name:format}, [[name]]
const VAR_RE = /\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\]/g;
function varsIn(s) {
  const out = [];
  if (typeof s !== 'string') return out;
  for (const m of s.matchAll(VAR_RE)) out.push(m[1] || m[2] || m[3]);
  return out;
}

function cmdStructure(file) {
  const d = loadJson(file);
  const errs = [];
  const err = (m) => errs.push(m);
  if (!Array.isArray(d.panels)) die(`${file}: "panels" is not an array`);

  if (d.uid !== 'memmgr-overview') err(`uid is ${JSON.stringify(d.uid)}, want "memmgr-overview"`);
  if (!(Number.isInteger(d.schemaVersion) && d.schemaVersion >= 39 && d.schemaVersion <= 42)) {
    err(`schemaVersion ${JSON.stringify(d.schemaVersion)}: want an integer in 39..42 (Grafana 10.4 to 12)`);
  }
  if (d.id !== undefined && d.id !== null) err('id must be null or absent (Grafana assigns it)');

  // Variables.
  const vars = new Map();
  const list = (d.templating && d.templating.list) || [];
  for (const v of list) {
    if (vars.has(v.name)) err(`template variable "${v.name}" defined twice`);
    vars.set(v.name, v);
  }
  const dsv = vars.get('datasource');
  if (!dsv || dsv.type !== 'datasource' || dsv.query !== 'prometheus') {
    err('no template variable "datasource" of type datasource with query "prometheus"');
  }
  const pod = vars.get('pod');
  if (!pod || pod.type !== 'query' || !pod.multi || !pod.includeAll ||
      String(typeof pod.query === 'object' ? pod.query.query : pod.query).replace(/\s/g, '') !==
        'label_values(memmgr_worker_frames_capacity,pod)') {
    err('template variable "pod" must be a multi, includeAll query variable label_values(memmgr_worker_frames_capacity, pod)');
  }
  for (const v of list) {
    if (v.type === 'query') {
      const ds = v.datasource;
      if (!ds || ds.uid !== DS_VAR) err(`variable "${v.name}": datasource must be {uid: "${DS_VAR}"}, is ${JSON.stringify(ds)}`);
    }
    for (const r of varsIn(typeof v.query === 'object' ? JSON.stringify(v.query) : v.query)) {
      if (!vars.has(r) && !(r in BUILTIN_VARS)) err(`variable "${v.name}" query uses undefined variable $${r}`);
    }
  }
  const known = (n) => vars.has(n) || n in BUILTIN_VARS;

  // Panels: ids, grid, datasource, targets.
  const ids = new Map();
  const rects = [];
  let row = null; // the row a top-level panel is under
  for (const { p, where, nested } of allPanels(d)) {
    const name = label(p, where);
    if (!p || typeof p !== 'object') { err(`${where}: not an object`); continue; }
    if (!Number.isInteger(p.id)) err(`${name}: id missing or not an integer`);
    else if (ids.has(p.id)) err(`${name}: id ${p.id} also used by ${ids.get(p.id)}`);
    else ids.set(p.id, name);
    const g = p.gridPos;
    if (!g || typeof g !== 'object') {
      err(`${name}: no gridPos`);
    } else {
      const ints = ['x', 'y', 'w', 'h'].every((k) => Number.isInteger(g[k]));
      if (!ints) err(`${name}: gridPos x, y, w, h must be integers: ${JSON.stringify(g)}`);
      else if (g.x < 0 || g.y < 0 || g.w < 1 || g.h < 1 || g.x + g.w > 24) {
        err(`${name}: gridPos ${JSON.stringify(g)} outside the 24-column grid`);
      } else if (!nested) {
        for (const r of rects) {
          if (g.x < r.g.x + r.g.w && r.g.x < g.x + g.w && g.y < r.g.y + r.g.h && r.g.y < g.y + g.h) {
            err(`${name}: gridPos ${JSON.stringify(g)} overlaps ${r.name} ${JSON.stringify(r.g)}`);
          }
        }
        rects.push({ g, name });
      }
    }
    for (const r of varsIn(p.title)) if (!known(r)) err(`${name}: title uses undefined variable $${r}`);
    if (p.type === 'row') {
      if (!nested) row = p;
      if (p.datasource !== undefined && (!p.datasource || p.datasource.uid !== DS_VAR)) err(`${name}: row datasource must reference ${DS_VAR}`);
      if (!Array.isArray(p.panels)) err(`${name}: row without a panels array`);
      continue;
    }
    if (!p.datasource || p.datasource.uid !== DS_VAR || p.datasource.type !== 'prometheus') {
      err(`${name}: datasource must be {type: "prometheus", uid: "${DS_VAR}"}, is ${JSON.stringify(p.datasource)}`);
    }
    if (p.repeat !== undefined) {
      const rv = vars.get(p.repeat);
      if (!rv) err(`${name}: repeats over undefined variable "${p.repeat}"`);
      else if (!rv.multi && !rv.includeAll) err(`${name}: repeats over "${p.repeat}", which is neither multi nor includeAll`);
    }
    if (!Array.isArray(p.targets) || p.targets.length === 0) {
      err(`${name}: no targets`);
      continue;
    }
    const refIds = new Set();
    p.targets.forEach((t, i) => {
      const tn = `${name} targets[${i}]`;
      if (!t || typeof t !== 'object') { err(`${tn}: not an object`); return; }
      if (typeof t.refId !== 'string' || !t.refId) err(`${tn}: no refId`);
      else if (refIds.has(t.refId)) err(`${tn}: refId ${t.refId} used twice`);
      else refIds.add(t.refId);
      if (typeof t.expr !== 'string' || !t.expr.trim()) { err(`${tn}: no expr`); return; }
      if (t.datasource !== undefined && (!t.datasource || t.datasource.uid !== DS_VAR)) {
        err(`${tn}: datasource must reference ${DS_VAR}, is ${JSON.stringify(t.datasource)}`);
      }
      for (const r of varsIn(t.expr)) {
        if (r === 'datasource') err(`${tn}: expr uses $datasource`);
        else if (!known(r)) err(`${tn}: expr uses undefined variable $${r}`);
      }
      for (const r of varsIn(t.legendFormat)) if (!known(r)) err(`${tn}: legendFormat uses undefined variable $${r}`);
      // Range selectors: Grafana's $__rate_interval (or the whole $__range).
      for (const m of t.expr.matchAll(/\[([^\]]*)\]/g)) {
        if (m[1] !== '$__rate_interval' && m[1] !== '$__range') {
          err(`${tn}: range [${m[1]}] must be [$__rate_interval] (or [$__range])`);
        }
      }
      if (p.type === 'heatmap') {
        if (t.format !== 'heatmap') err(`${tn}: a heatmap target needs format "heatmap"`);
        if (!/by \(le\)/.test(t.expr) || !/_bucket\b/.test(t.expr)) err(`${tn}: a heatmap target must sum a _bucket series by (le)`);
      }
      if (row && /drill-down/i.test(row.title || '') && !/pod=~"\$pod"/.test(t.expr)) {
        err(`${tn}: panels of the "${row.title}" row must select pod=~"$pod"`);
      }
    });
  }
  // No hard-coded datasource anywhere (the built-in annotation is Grafana's own).
  (function walk(o, at) {
    if (Array.isArray(o)) { o.forEach((x, i) => walk(x, `${at}[${i}]`)); return; }
    if (!o || typeof o !== 'object') return;
    for (const [k, val] of Object.entries(o)) {
      if (k === 'datasource' && val && typeof val === 'object' && val.uid !== undefined &&
          val.uid !== DS_VAR && !(val.type === 'grafana' && val.uid === '-- Grafana --')) {
        err(`${at}.datasource: hard-coded datasource uid ${JSON.stringify(val.uid)}`);
      }
      if (k === 'datasource' && typeof val === 'string') err(`${at}.datasource: a datasource name string ("${val}"), not a ref to ${DS_VAR}`);
      walk(val, `${at}.${k}`);
    }
  })(d, 'dashboard');
  const usesPod = allPanels(d).some(({ p }) => (p.targets || []).some((t) => /\$pod\b/.test(t.expr || '')));
  if (!usesPod) err('no panel uses the $pod drill-down variable');

  if (errs.length) die(`${file}: structure:\n  ${errs.join('\n  ')}`);
  console.log(`structure: OK (${ids.size} panels, ${vars.size} variables)`);
}

// -------------------------------------------------------- expressions, rules

function substitute(expr) {
  return expr.replace(VAR_RE, (m, a, b, c) => {
    const n = a || b || c;
    if (n in BUILTIN_VARS) return BUILTIN_VARS[n];
    if (n in SAMPLE_VALUES) return SAMPLE_VALUES[n];
    return m; // left as is: promtool rejects it, structure names it
  });
}

// Every (panel, target) with its substituted expr.
function expressions(d) {
  const out = [];
  for (const { p, where } of allPanels(d)) {
    if (!p || p.type === 'row') continue;
    (p.targets || []).forEach((t) => {
      if (t && typeof t.expr === 'string') {
        out.push({ panel: p, where, refId: t.refId, raw: t.expr, expr: substitute(t.expr) });
      }
    });
  }
  return out;
}

function cmdRules(file, out) {
  const d = loadJson(file);
  const groups = new Map();
  for (const e of expressions(d)) {
    const g = `panel ${e.panel.id} "${e.panel.title}"`;
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(e);
  }
  // Group names must be unique in a rule file; ids are (structure checks it),
  // but a broken copy may repeat one: number them then.
  let text = '# generated by tests/deploy/grafana_validate.js rules: one rule per dashboard expression\ngroups:\n';
  let n = 0;
  for (const [g, es] of groups) {
    text += `  - name: ${JSON.stringify(`${g} #${++n}`)}\n    rules:\n`;
    for (const e of es) {
      const rec = `dashboard_panel_${String(e.panel.id).replace(/[^0-9A-Za-z_]/g, '_')}_${String(e.refId).replace(/[^0-9A-Za-z_]/g, '_')}`;
      text += `      - record: ${rec}\n        expr: ${JSON.stringify(e.expr)}\n`;
    }
  }
  fs.writeFileSync(out, text);
  console.log(`rules: wrote ${[...groups.values()].reduce((a, b) => a + b.length, 0)} expressions of ${groups.size} panels to ${out}`);
}

// ---------------------------------------------------------- PromQL names

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool',
  'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan']);
const AGGREGATORS = new Set(['sum', 'avg', 'count', 'min', 'max', 'stddev', 'stdvar', 'topk',
  'bottomk', 'quantile', 'count_values', 'group', 'limitk', 'limit_ratio']);
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const RATE_FUNCS = new Set(['rate', 'irate', 'increase', 'resets']);

function lex(s) {
  const toks = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === '#') { while (i < s.length && s[i] !== '\n') i++; continue; }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      let v = '';
      while (j < s.length && s[j] !== c) {
        if (s[j] === '\\' && c !== '`') { v += s[j + 1]; j += 2; } else { v += s[j]; j++; }
      }
      if (j >= s.length) throw new Error(`unterminated string at ${i}`);
      toks.push({ t: 'str', v });
      i = j + 1;
      continue;
    }
    let m = /^(?:0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?[a-zA-Z0-9]*)/.exec(s.slice(i));
    if (m && /[0-9.]/.test(c)) { toks.push({ t: 'num', v: m[0] }); i += m[0].length; continue; }
    m = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(s.slice(i));
    if (m) { toks.push({ t: 'id', v: m[0] }); i += m[0].length; continue; }
    m = /^(?:=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],@])/.exec(s.slice(i));
    if (m) { toks.push({ t: 'p', v: m[0] }); i += m[0].length; continue; }
    throw new Error(`unexpected character ${JSON.stringify(c)} at ${i}`);
  }
  return toks;
}

// -> { selectors: [{name, matchers: [{label, op, value}], func}], grouping: [label] }
function analyse(expr) {
  const toks = lex(expr);
  const selectors = [];
  const grouping = [];
  const frames = []; // call names ('' for plain parentheses)
  let pendingAgg = null;
  const innerCall = () => {
    for (let k = frames.length - 1; k >= 0; k--) if (frames[k]) return frames[k];
    return '';
  };
  for (let i = 0; i < toks.length; i++) {
    const tk = toks[i];
    const next = toks[i + 1];
    if (tk.t === 'p' && tk.v === '[') {
      while (i < toks.length && !(toks[i].t === 'p' && toks[i].v === ']')) i++;
      continue;
    }
    if (tk.t === 'p' && tk.v === '(') { frames.push(pendingAgg || ''); pendingAgg = null; continue; }
    if (tk.t === 'p' && tk.v === ')') { frames.pop(); continue; }
    if (tk.t === 'p' && tk.v === '{') throw new Error('a selector without a metric name');
    if (tk.t !== 'id') continue;
    const lower = tk.v.toLowerCase();
    if (LABEL_LISTS.has(lower)) {
      if (next && next.t === 'p' && next.v === '(') {
        i += 2;
        while (i < toks.length && !(toks[i].t === 'p' && toks[i].v === ')')) {
          if (toks[i].t === 'id') grouping.push(toks[i].v);
          i++;
        }
      }
      continue;
    }
    if (KEYWORDS.has(lower)) continue;
    if (next && next.t === 'p' && next.v === '(') { pendingAgg = tk.v; continue; }
    if (AGGREGATORS.has(tk.v)) { pendingAgg = tk.v; continue; } // sum by (x) (...)
    // A metric name, maybe with matchers.
    const sel = { name: tk.v, matchers: [], func: innerCall() };
    if (next && next.t === 'p' && next.v === '{') {
      i += 2;
      while (i < toks.length && !(toks[i].t === 'p' && toks[i].v === '}')) {
        const l = toks[i];
        const op = toks[i + 1];
        const val = toks[i + 2];
        if (!l || !op || !val || (l.t !== 'id' && l.t !== 'str') || op.t !== 'p' || val.t !== 'str') {
          throw new Error(`bad matcher in ${tk.v}{...}`);
        }
        sel.matchers.push({ label: l.v, op: op.v, value: val.v });
        i += 3;
        if (toks[i] && toks[i].t === 'p' && toks[i].v === ',') i++;
      }
    }
    selectors.push(sel);
  }
  return { selectors, grouping };
}

// Text exposition -> Map(sample name -> {type, labels: Map(label -> Set(values))})
function parseScrapes(files) {
  const samples = new Map();
  const familyType = new Map();
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    for (const line of text.split('\n')) {
      let m = /^# TYPE (\S+) (\S+)/.exec(line);
      if (m) { familyType.set(m[1], m[2]); continue; }
      if (!line || line[0] === '#') continue;
      m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+\S+/.exec(line);
      if (!m) die(`${f}: cannot parse sample line: ${line}`);
      if (!samples.has(m[1])) samples.set(m[1], { labels: new Map() });
      const s = samples.get(m[1]);
      for (const lm of (m[2] || '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        if (!s.labels.has(lm[1])) s.labels.set(lm[1], new Set());
        s.labels.get(lm[1]).add(lm[2]);
      }
    }
  }
  for (const [name, s] of samples) {
    let type = familyType.get(name);
    if (!type) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      const ft = familyType.get(base);
      if (ft === 'histogram' || ft === 'summary') type = 'counter'; // its _bucket/_sum/_count
    }
    s.type = type || 'untyped';
  }
  return samples;
}

function checkNames(where, expr, samples, errs) {
  let a;
  try {
    a = analyse(expr);
  } catch (e) {
    errs.push(`${where}: cannot read ${JSON.stringify(expr)}: ${e.message}`);
    return;
  }
  if (!a.selectors.length) errs.push(`${where}: no metric in ${JSON.stringify(expr)}`);
  const labelsHere = new Set(TARGET_LABELS);
  for (const sel of a.selectors) {
    const s = samples.get(sel.name);
    if (!s) {
      errs.push(`${where}: metric ${sel.name} is not exported by memmgr-server or memmgr-worker (not in the scrape)`);
      continue;
    }
    for (const l of s.labels.keys()) labelsHere.add(l);
    if (s.type === 'counter' && sel.func && !RATE_FUNCS.has(sel.func)) {
      errs.push(`${where}: counter ${sel.name} used in ${sel.func}() without rate()/increase()`);
    } else if (s.type === 'counter' && !sel.func) {
      errs.push(`${where}: counter ${sel.name} used without rate()/increase()`);
    } else if (s.type !== 'counter' && RATE_FUNCS.has(sel.func)) {
      errs.push(`${where}: ${sel.func}() of ${s.type} ${sel.name} (only counters)`);
    }
    for (const m of sel.matchers) {
      if (TARGET_LABELS.has(m.label)) continue;
      const vals = s.labels.get(m.label);
      if (!vals) {
        errs.push(`${where}: ${sel.name} has no label "${m.label}" (has: ${[...s.labels.keys()].join(', ') || 'none'})`);
      } else if (m.op === '=' && !vals.has(m.value)) {
        errs.push(`${where}: ${sel.name}{${m.label}="${m.value}"}: no such value (exported: ${[...vals].join(', ')})`);
      }
    }
  }
  for (const l of a.grouping) {
    if (!labelsHere.has(l)) errs.push(`${where}: groups by "${l}", a label none of its metrics has`);
  }
}

function cmdMetrics(file, scrapes) {
  const d = loadJson(file);
  if (!scrapes.length) die('metrics: no scrape files given');
  const samples = parseScrapes(scrapes);
  const errs = [];
  let n = 0;
  for (const e of expressions(d)) {
    n++;
    checkNames(`${label(e.panel, e.where)} ${e.refId}`, e.expr, samples, errs);
  }
  // Variable queries: label_values(metric, label).
  for (const v of (d.templating && d.templating.list) || []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'object' ? v.query.query : v.query;
    const m = /^\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/.exec(q || '');
    if (!m) { errs.push(`variable "${v.name}": query ${JSON.stringify(q)} is not label_values(metric, label)`); continue; }
    const s = samples.get(m[1]);
    if (!s) errs.push(`variable "${v.name}": metric ${m[1]} is not in the scrape`);
    else if (!TARGET_LABELS.has(m[2]) && !s.labels.has(m[2])) errs.push(`variable "${v.name}": ${m[1]} has no label "${m[2]}"`);
    n++;
  }
  if (errs.length) die(`${file}: metric names:\n  ${errs.join('\n  ')}`);
  console.log(`metrics: OK (${n} expressions, ${samples.size} sample names in ${scrapes.length} scrapes)`);
}

// ------------------------------------------------------------------ mutate

const firstOf = (d, type) => allPanels(d).map((x) => x.p).find((p) => p.type === type);
const MUTATIONS = {
  // schema
  'panels-object': (d) => { d.panels = {}; },
  'gridpos-string': (d) => { firstOf(d, 'timeseries').gridPos = 'x'; },
  'unknown-top-field': (d) => { d.dashboardColour = 'blue'; },
  'unknown-panel-field': (d) => { firstOf(d, 'timeseries').legendColour = 'blue'; },
  'schemaversion-string': (d) => { d.schemaVersion = '39'; },
  'target-unknown-field': (d) => { firstOf(d, 'timeseries').targets[0].exprr = 'up'; },
  'option-wrong-type': (d) => { firstOf(d, 'timeseries').options.legend.showLegend = 'yes'; },
  'heatmap-option-unknown': (d) => { firstOf(d, 'heatmap').options.colour = 'red'; },
  'variable-bad-refresh': (d) => { d.templating.list.find((v) => v.name === 'pod').refresh = 7; },
  // structure
  'duplicate-id': (d) => { const ps = allPanels(d).map((x) => x.p); ps[2].id = ps[1].id; },
  'overlap': (d) => { const ps = allPanels(d).map((x) => x.p).filter((p) => p.type !== 'row'); ps[1].gridPos = Object.assign({}, ps[0].gridPos); },
  'outside-grid': (d) => { const p = firstOf(d, 'timeseries'); p.gridPos.x = 20; p.gridPos.w = 12; },
  'hardcoded-datasource': (d) => { firstOf(d, 'stat').datasource = { type: 'prometheus', uid: 'P1809F7CD0C75ACF3' }; },
  'target-no-refid': (d) => { delete firstOf(d, 'timeseries').targets[0].refId; },
  'target-no-expr': (d) => { delete firstOf(d, 'timeseries').targets[0].expr; },
  'undefined-variable': (d) => { const t = firstOf(d, 'timeseries').targets[0]; t.expr = t.expr.replace(/\(([a-z_]+)/, '($1{node=~"$nodes"}'); },
  'fixed-range': (d) => { const p = allPanels(d).map((x) => x.p).find((q) => (q.targets || []).some((t) => t.expr.includes('[$__rate_interval]'))); p.targets.forEach((t) => { t.expr = t.expr.split('[$__rate_interval]').join('[5m]'); }); },
  'drilldown-without-pod': (d) => { const ps = allPanels(d).map((x) => x.p); const r = ps.findIndex((p) => p.type === 'row' && /drill-down/i.test(p.title)); const t = ps[r + 1].targets[0]; t.expr = t.expr.split('{pod=~"$pod"}').join(''); },
  // promql
  'bad-promql': (d) => { const t = firstOf(d, 'timeseries').targets[0]; t.expr = `sum by (node (${t.expr})`; },
  'unknown-function': (d) => { const t = firstOf(d, 'timeseries').targets[0]; t.expr = `summ(${t.expr})`; },
  // metric names
  'misspelled-metric': (d) => { const t = firstOf(d, 'timeseries').targets[0]; t.expr = t.expr.replace(/memmgr_worker_([a-z_]+)/, 'memmgr_worker_$1s'); },
  'misspelled-label-value': (d) => { const p = allPanels(d).map((x) => x.p).find((q) => (q.targets || []).some((t) => t.expr.includes('tier="zswap"'))); p.targets[0].expr = p.targets[0].expr.replace('tier="zswap"', 'tier="zswp"'); },
  'unknown-label': (d) => { const p = allPanels(d).map((x) => x.p).find((q) => (q.targets || []).some((t) => t.expr.includes('by (state)'))); p.targets[0].expr = p.targets[0].expr.replace('by (state)', 'by (status)'); },
  'counter-without-rate': (d) => { const p = allPanels(d).map((x) => x.p).find((q) => (q.targets || []).some((t) => /rate\(memmgr_rpc_requests_total/.test(t.expr))); const t = p.targets.find((x) => /rate\(memmgr_rpc_requests_total/.test(x.expr)); t.expr = 'sum by (method) (memmgr_rpc_requests_total)'; },
  'variable-unknown-metric': (d) => { d.templating.list.find((v) => v.name === 'pod').query = 'label_values(memmgr_worker_frame_capacity, pod)'; },
};

// mutate NAME DASHBOARD OUT.json, or mutate all DASHBOARD DIR (DIR/NAME.json each).
function cmdMutate(name, file, out) {
  if (name === 'list') { console.log(Object.keys(MUTATIONS).join('\n')); return; }
  const names = name === 'all' ? Object.keys(MUTATIONS) : [name];
  for (const n of names) {
    const f = MUTATIONS[n];
    if (!f) die(`mutate: no mutation "${n}" (have: ${Object.keys(MUTATIONS).join(', ')})`);
    const d = loadJson(file);
    const before = JSON.stringify(d);
    try {
      f(d);
    } catch (e) {
      die(`mutate ${n}: ${e.message} (the dashboard no longer has what it breaks)`);
    }
    if (JSON.stringify(d) === before) die(`mutate ${n}: changed nothing (the dashboard no longer has what it breaks)`);
    fs.writeFileSync(name === 'all' ? path.join(out, `${n}.json`) : out, JSON.stringify(d, null, 2) + '\n');
  }
}

// -------------------------------------------------------------------- main

const [cmd, ...args] = process.argv.slice(2);
const usage = 'usage: grafana_validate.js schema [--cache FILE] DASHBOARD | structure DASHBOARD | rules DASHBOARD OUT | metrics DASHBOARD SCRAPE... | mutate NAME DASHBOARD OUT | mutate all DASHBOARD DIR | mutate list';
switch (cmd) {
  case 'schema':
    if (args.length === 3 && args[0] === '--cache') cmdSchema(args[2], args[1]);
    else if (args.length === 1) cmdSchema(args[0], null);
    else die(usage);
    break;
  case 'structure': if (args.length !== 1) die(usage); cmdStructure(args[0]); break;
  case 'rules': if (args.length !== 2) die(usage); cmdRules(args[0], args[1]); break;
  case 'metrics': if (args.length < 2) die(usage); cmdMetrics(args[0], args.slice(1)); break;
  case 'mutate': if (!(args[0] === 'list' || args.length === 3)) die(usage); cmdMutate(args[0], args[1], args[2]); break;
  default: die(usage);
}
