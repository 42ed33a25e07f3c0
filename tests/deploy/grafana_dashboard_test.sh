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

if [[ $# -ne 2 ]]; then
  echo "usage: $0 SOURCE_DIR BUILD_DIR" >&2
  exit 2
fi
SRC=$(cd "$1" && pwd)
BUILD=$(cd "$2" && pwd)
DASH=$SRC/deploy/k8s/base/dashboards/memmgr-overview.json
VALIDATE=$SRC/tests/deploy/grafana_validate.js
SERVER_BIN=$BUILD/server/memmgr-server
WORKER_BIN=$BUILD/worker/memmgr-worker
CTL_BIN=$BUILD/client/memmgrctl
START=$SECONDS

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

for tool in node promtool curl; do
  command -v "$tool" >/dev/null || fail "$tool not found (scripts/install-deps installs it)"
done
for bin in "$SERVER_BIN" "$WORKER_BIN" "$CTL_BIN"; do
  [[ -x $bin ]] || fail "$bin not built"
done
[[ -f $DASH ]] || fail "$DASH missing"
for mod in @grafana/schema ts-json-schema-generator typescript ajv; do
  [[ -d $SRC/tests/deploy/node_modules/$mod ]] ||
    fail "tests/deploy/node_modules/$mod missing (scripts/install-deps runs npm ci in tests/deploy)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/grafana_dashboard_test.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n ${KEEP_TMP:-} ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

validate() {
  node "$VALIDATE" "$@"
}
SCHEMA_CACHE=$TMP/grafana-dashboard-schema.json

echo "== 1. schema (@grafana/schema -> JSON Schema -> ajv)"
validate schema --cache "$SCHEMA_CACHE" "$DASH" || fail "schema"

echo "== 2. structure"
validate structure "$DASH" || fail "structure"

echo "== 3. PromQL parsed by promtool"
validate rules "$DASH" "$TMP/dashboard-rules.yml" || fail "rules"
promtool check rules "$TMP/dashboard-rules.yml" >"$TMP/promtool.out" 2>&1 || {
  cat "$TMP/promtool.out" >&2
  fail "promtool rejects a dashboard expression (the group names the panel)"
}
grep -F SUCCESS "$TMP/promtool.out"

echo "== 4. metric names against a real scrape"
# wait_file FILE PID WHAT: until FILE is non-empty; fails if PID dies first.
wait_file() {
  local i
  for ((i = 0; i < 300; i++)); do
    [[ -s $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || fail "$3 exited before it was ready: $(tail -n 5 "$TMP/$3.log")"
    sleep 0.1
  done
  fail "$3 not ready after 30 s: $(tail -n 5 "$TMP/$3.log")"
}
# Under timeout: should this script be SIGKILLed (no trap runs), the daemons
# still end within 5 minutes. timeout passes our TERM on to them.
timeout 300 "$SERVER_BIN" --data_dir="$TMP/server-data" --listen=127.0.0.1:0 --port_file="$TMP/server.port" \
  --metrics_listen=127.0.0.1:0 --metrics_port_file="$TMP/server.metrics_port" \
  --zswap_max_pool_bytes=64M --swap_capacity=65536 >"$TMP/memmgr-server.log" 2>&1 &
PIDS+=($!)
wait_file "$TMP/server.port" "${PIDS[0]}" memmgr-server
wait_file "$TMP/server.metrics_port" "${PIDS[0]}" memmgr-server
SERVER_PORT=$(<"$TMP/server.port")
SERVER_METRICS=$(<"$TMP/server.metrics_port")

timeout 300 "$WORKER_BIN" serve --listen=127.0.0.1:0 --port_file="$TMP/worker.port" \
  --metrics_listen=127.0.0.1:0 --metrics_port_file="$TMP/worker.metrics_port" \
  --memory=64M --server="127.0.0.1:$SERVER_PORT" >"$TMP/memmgr-worker.log" 2>&1 &
PIDS+=($!)
wait_file "$TMP/worker.port" "${PIDS[1]}" memmgr-worker
wait_file "$TMP/worker.metrics_port" "${PIDS[1]}" memmgr-worker
WORKER_PORT=$(<"$TMP/worker.port")
WORKER_METRICS=$(<"$TMP/worker.metrics_port")

# Traffic: swap pages through the server (SwapOut/SwapIn from both tiers,
# RPC outcome series), and worker RPCs (its RPC outcome series). The
# reclaim, fault, fork and OOM families are exported at 0 from the start.
"$CTL_BIN" --server="127.0.0.1:$SERVER_PORT" swap-test --pages=1000 >"$TMP/swap-test.out" 2>&1 ||
  fail "memmgrctl swap-test: $(cat "$TMP/swap-test.out")"
"$CTL_BIN" --worker="127.0.0.1:$WORKER_PORT" worker-stats >/dev/null || fail "memmgrctl worker-stats"
"$CTL_BIN" --worker="127.0.0.1:$WORKER_PORT" ps >/dev/null || fail "memmgrctl ps"

curl -sf --max-time 10 "http://127.0.0.1:$SERVER_METRICS/metrics" >"$TMP/server.prom" || fail "scrape memmgr-server"
curl -sf --max-time 10 "http://127.0.0.1:$WORKER_METRICS/metrics" >"$TMP/worker.prom" || fail "scrape memmgr-worker"
grep -q '^memmgr_swap_out_pages_total 1000$' "$TMP/server.prom" ||
  fail "the server's scrape does not show the 1000 pages swap-test sent: $(grep swap_out "$TMP/server.prom")"
validate metrics "$DASH" "$TMP/server.prom" "$TMP/worker.prom" || fail "metric names"

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
mkdir "$TMP/broken"
validate mutate all "$DASH" "$TMP/broken" || fail "mutate"
covered=" "
for entry in "${NEGATIVE[@]}"; do
  IFS='|' read -r mutation stage want <<<"$entry"
  covered+="$mutation "
  broken=$TMP/broken/$mutation.json
  [[ -s $broken ]] || fail "mutate wrote no $broken"
  out=$TMP/broken/$mutation.out
  set +e
  case $stage in
    schema) validate schema --cache "$SCHEMA_CACHE" "$broken" >"$out" 2>&1 ;;
    structure) validate structure "$broken" >"$out" 2>&1 ;;
    promtool)
      validate rules "$broken" "$TMP/broken/$mutation.yml" >/dev/null &&
        promtool check rules "$TMP/broken/$mutation.yml" >"$out" 2>&1
      ;;
    metrics) validate metrics "$broken" "$TMP/server.prom" "$TMP/worker.prom" >"$out" 2>&1 ;;
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
