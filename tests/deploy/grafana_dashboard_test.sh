#!/usr/bin/env bash
# Validates deploy/k8s/base/dashboards/memmgr-overview.json offline:
#   1. schema:    against Grafana's dashboard schema, generated from npm
#                 @grafana/schema's TypeScript types (grafana_schema_types.ts)
#                 by ts-json-schema-generator, checked with ajv; unknown
#                 fields rejected wherever Grafana's types list the fields
#                 (grafana_validate.js says exactly where and why)
#   2. structure: unique panel ids, gridPos inside 24 columns and not
#                 overlapping, every panel on the ${datasource} variable (no
#                 hard-coded datasource), every target with expr and refId,
#                 every variable an expression, title or query uses defined,
#                 ranges are [$__rate_interval], drill-down panels use $pod
#   3. PromQL:    every expression, variables substituted, parsed by
#                 `promtool check rules` (one recording rule per expression,
#                 one group per panel)
#   4. metrics:   every metric name, matcher label and `=` label value exists
#                 in a real scrape of memmgr-server and memmgr-worker started
#                 here on 127.0.0.1 (with memmgrctl swap-test traffic);
#                 counters only inside rate()/increase()
#   5. negative cases: broken copies of the dashboard (grafana_validate.js
#                 mutate) must each fail the stage that checks them, with
#                 the expected message
# Strictness of the schema stage (the details are in grafana_validate.js):
# unknown fields are rejected wherever @grafana/schema's types list the fields
# (ts-json-schema-generator's additionalProperties:false for every interface
# without an index signature): dashboard top level, variables, annotations,
# panels, rows, gridPos, datasource refs, fieldConfig.defaults. The fields the
# Dashboard type leaves open (Panel.options, fieldConfig.defaults.custom,
# targets) are checked, closed too, against the panel plugin's own
# Options/FieldConfig types (by panel type) and the Prometheus query type;
# plugin options are not required at their top level, because Grafana fills
# in plugin defaults on load (and 13.2 requires options 10/11 do not know).
# The schema is generated once per run (~3 s) into this run's temp dir.
# Usage: grafana_dashboard_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

deploy_args "$@"
DASH=$SRC/deploy/k8s/base/dashboards/memmgr-overview.json
VALIDATE=$SRC/tests/deploy/grafana_validate.js
START=$SECONDS

need_tools node promtool curl
need_built "$SERVER" "$WORKER" "$CTL"
[[ -f $DASH ]] || fail "$DASH missing"
need_node_modules @grafana/schema ts-json-schema-generator typescript ajv

deploy_tmpdir grafana_dashboard_test
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

validate() {
  node "$VALIDATE" "$@"
}
SCHEMA_CACHE=$T/grafana-dashboard-schema.json

echo "== 1. schema (@grafana/schema -> JSON Schema -> ajv)"
validate schema --cache "$SCHEMA_CACHE" "$DASH" || fail "schema"

echo "== 2. structure"
validate structure "$DASH" || fail "structure"

echo "== 3. PromQL parsed by promtool"
validate rules "$DASH" "$T/dashboard-rules.yml" || fail "rules"
promtool check rules "$T/dashboard-rules.yml" >"$T/promtool.out" 2>&1 || {
  cat "$T/promtool.out" >&2
  fail "promtool rejects a dashboard expression (the group names the panel)"
}
grep -F SUCCESS "$T/promtool.out"

echo "== 4. metric names against a real scrape"
START_WAIT_S=30 # start_server/start_worker: up to 30 s for each port file
start_server "$T" --zswap_max_pool_bytes=64M --swap_capacity=65536
start_worker "$T" "$SERVER_PORT" --memory=64M

# Traffic: swap pages through the server (SwapOut/SwapIn from both tiers,
# RPC outcome series), and worker RPCs (its RPC outcome series). The
# reclaim, fault, fork and OOM families are exported at 0 from the start.
"$CTL" --server="127.0.0.1:$SERVER_PORT" swap-test --pages=1000 >"$T/swap-test.out" 2>&1 ||
  fail "memmgrctl swap-test: $(cat "$T/swap-test.out")"
"$CTL" --worker="127.0.0.1:$WORKER_PORT" worker-stats >/dev/null || fail "memmgrctl worker-stats"
"$CTL" --worker="127.0.0.1:$WORKER_PORT" ps >/dev/null || fail "memmgrctl ps"

curl -sf --max-time 10 "http://127.0.0.1:$SERVER_MPORT/metrics" >"$T/server.prom" || fail "scrape memmgr-server"
curl -sf --max-time 10 "http://127.0.0.1:$WORKER_MPORT/metrics" >"$T/worker.prom" || fail "scrape memmgr-worker"
grep -q '^memmgr_swap_out_pages_total 1000$' "$T/server.prom" ||
  fail "the server's scrape does not show the 1000 pages swap-test sent: $(grep swap_out "$T/server.prom")"
validate metrics "$DASH" "$T/server.prom" "$T/worker.prom" || fail "metric names"

echo "== 5. negative cases: each broken copy fails its stage"
# mutation | stage | part of the expected message
NEGATIVE=(
  "panels-object|schema|dashboard/panels: must be array"
  "gridpos-string|schema|/gridPos: must be object"
  "unknown-top-field|schema|must NOT have additional properties (\"dashboardColour\")"
  "unknown-panel-field|schema|must NOT have additional properties (\"legendColour\")"
  "schemaversion-string|schema|/schemaVersion: must be number"
  "target-unknown-field|schema|(PrometheusQuery) /: must NOT have additional properties (\"exprr\")"
  "option-wrong-type|schema|options (TimeseriesOptions) /legend/showLegend: must be boolean"
  "heatmap-option-unknown|schema|options (HeatmapOptions) /: must NOT have additional properties (\"colour\")"
  "variable-bad-refresh|schema|/templating/list/1/refresh: must be equal to one of the allowed values"
  "target-no-refid|schema|must have required property 'refId'"
  "duplicate-id|structure|also used by"
  "overlap|structure|overlaps panel"
  "outside-grid|structure|outside the 24-column grid"
  "hardcoded-datasource|structure|hard-coded datasource uid \"P1809F7CD0C75ACF3\""
  "target-no-expr|structure|targets[0]: no expr"
  "undefined-variable|structure|expr uses undefined variable \$nodes"
  "fixed-range|structure|range [5m] must be [\$__rate_interval]"
  "drilldown-without-pod|structure|must select pod=~\"\$pod\""
  "bad-promql|promtool|could not parse expression"
  "unknown-function|promtool|unknown function with name \"summ\""
  "misspelled-metric|metrics|is not exported by memmgr-server or memmgr-worker"
  "misspelled-label-value|metrics|{tier=\"zswp\"}: no such value"
  "unknown-label|metrics|groups by \"status\""
  "counter-without-rate|metrics|counter memmgr_rpc_requests_total used in sum() without rate()"
  "variable-unknown-metric|metrics|metric memmgr_worker_frame_capacity is not in the scrape"
)
mkdir "$T/broken"
validate mutate all "$DASH" "$T/broken" || fail "mutate"
covered=" "
for entry in "${NEGATIVE[@]}"; do
  IFS='|' read -r mutation stage want <<<"$entry"
  covered+="$mutation "
  broken=$T/broken/$mutation.json
  [[ -s $broken ]] || fail "mutate wrote no $broken"
  out=$T/broken/$mutation.out
  set +e
  case $stage in
    schema) validate schema --cache "$SCHEMA_CACHE" "$broken" >"$out" 2>&1 ;;
    structure) validate structure "$broken" >"$out" 2>&1 ;;
    promtool)
      validate rules "$broken" "$T/broken/$mutation.yml" >/dev/null &&
        promtool check rules "$T/broken/$mutation.yml" >"$out" 2>&1
      ;;
    metrics) validate metrics "$broken" "$T/server.prom" "$T/worker.prom" >"$out" 2>&1 ;;
    *) fail "unknown stage $stage" ;;
  esac
  rc=$?
  set -e
  [[ $rc -ne 0 ]] || fail "$mutation: the $stage check passed a broken dashboard: $(cat "$out")"
  grep -qF -- "$want" "$out" || fail "$mutation: the $stage check failed, but not with \"$want\": $(cat "$out")"
  if [[ $stage == promtool ]]; then
    grep -qF 'group "panel ' "$out" || fail "$mutation: promtool's error does not name the panel: $(cat "$out")"
  fi
  echo "  $mutation: $stage fails as it should"
done
# Every mutation the validator knows is exercised here.
while read -r mutation; do
  [[ $covered == *" $mutation "* ]] || fail "mutation $mutation is not in this test's NEGATIVE list"
done < <(validate mutate list)

echo "PASS: grafana dashboard ($((SECONDS - START)) s)"
