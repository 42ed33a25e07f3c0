#!/usr/bin/env bash
# deploy/k8s/base/prometheus: rules and scrape config, checked offline.
#   tests/deploy/prometheus_rules_test.sh SOURCE_DIR BUILD_DIR
# 1. promtool check rules memmgr-rules.yml;
# 2. promtool test rules memmgr-rules.test.yml (every alert firing and not
#    firing, every recording rule's value), and a lint that every rule is
#    covered that way, has severity/summary/description/runbook_url, and that
#    each runbook_url anchor is a heading of docs/operations.md;
# 3. promtool check config prometheus.yml, on a temp copy whose rule_files
#    points at the repo's rules file (/etc/prometheus/rules does not exist
#    here). Debian's promtool is built without Kubernetes discovery, so it
#    rejects kubernetes_sd_configs: that is the only error accepted, and then
#    a copy with the discovery swapped for static targets must pass, and
#    prometheus_lib.js k8s-sd checks the kubernetes_sd_configs blocks against
#    the fields and checks of Prometheus 2.42's Kubernetes SD;
# 4. every metric name, label and label value the rule expressions use
#    exists in a scrape of a real memmgr-server (after swap-test traffic) and
#    a real memmgr-worker serve swapping to it (parsed with the Prometheus
#    project's PromQL grammar, @prometheus-io/lezer-promql); names recorded
#    by the file itself count, anything else fails.
# 5. every memmgr_* family those scrapes show is documented in
#    docs/operations.md.
# Steps 4 and 5 run once more on mutated copies, which must fail (so each
# check is shown to be able to fail).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

deploy_args "$@"
PROMDIR="$SRC/deploy/k8s/base/prometheus"
RULES="$PROMDIR/memmgr-rules.yml"
RULETESTS="$PROMDIR/memmgr-rules.test.yml"
PROMYML="$PROMDIR/prometheus.yml"
LIB="$SRC/tests/deploy/prometheus_lib.js"

need_tools promtool node curl
need_built "$SERVER" "$WORKER" "$CTL"
for f in "$RULES" "$RULETESTS" "$PROMYML" "$SRC/docs/operations.md"; do
  [[ -f "$f" ]] || fail "$f is missing"
done
need_node_modules @prometheus-io/lezer-promql yaml

deploy_tmpdir prometheus_rules

start=$SECONDS
step() { echo "--- $* ($((SECONDS - start)) s)"; }

# 1. syntax and semantics of the rule file
step "promtool check rules"
promtool check rules "$RULES" >"$T/check_rules.out" 2>&1 ||
  { cat "$T/check_rules.out" >&2; fail "promtool check rules $RULES"; }
grep -q SUCCESS "$T/check_rules.out" || { cat "$T/check_rules.out" >&2; fail "promtool check rules printed no SUCCESS"; }
tail -n +2 "$T/check_rules.out"

# 2. unit tests, and that they cover every rule
step "promtool test rules"
(cd "$T" && promtool test rules "$RULETESTS") >"$T/test_rules.out" 2>&1 ||
  { cat "$T/test_rules.out" >&2; fail "promtool test rules $RULETESTS"; }
grep -q SUCCESS "$T/test_rules.out" || { cat "$T/test_rules.out" >&2; fail "promtool test rules printed no SUCCESS"; }
node "$LIB" rules-lint "$RULES" "$RULETESTS" "$SRC/docs/operations.md"

# 3. the scrape config
step "promtool check config"
node "$LIB" rules-path-only "$PROMYML" "$T/prometheus.yml" "$RULES"
if promtool check config "$T/prometheus.yml" >"$T/check_config.out" 2>&1; then
  echo "promtool check config: the config as written (rule_files -> $RULES) passes"
else
  # Debian's build: "field kubernetes_sd_configs not found in type
  # config.ScrapeConfig" for each job, and nothing else.
  grep -v -e '^Checking ' -e '^$' -e 'FAILED: parsing YAML file' -e 'field kubernetes_sd_configs not found in type config.ScrapeConfig' \
    "$T/check_config.out" >"$T/other_errors" || true
  if [[ -s "$T/other_errors" ]] || ! grep -q 'field kubernetes_sd_configs not found' "$T/check_config.out"; then
    cat "$T/check_config.out" >&2
    fail "promtool check config $PROMYML (rule_files -> the repo's rules)"
  fi
  echo "promtool check config: this promtool has no Kubernetes discovery (Debian build); checking the rest with static targets"
  node "$LIB" derive "$PROMYML" "$T/prometheus_static.yml" "$RULES"
  promtool check config "$T/prometheus_static.yml" >"$T/check_static.out" 2>&1 ||
    { cat "$T/check_static.out" >&2; fail "promtool check config of $PROMYML with kubernetes_sd_configs swapped for static targets"; }
  grep -q SUCCESS "$T/check_static.out" || { cat "$T/check_static.out" >&2; fail "promtool check config printed no SUCCESS"; }
  sed -n 's/^ *SUCCESS: /promtool check config (static targets): /p' "$T/check_static.out" | head -2
fi
node "$LIB" k8s-sd "$PROMYML"

# 4. the metrics the rules use, against the real binaries
step "scraping memmgr-server and memmgr-worker"
start_server "$T"
start_worker "$T" "$SERVER_PORT" --memory=64M
# Swap traffic so the per-code, per-tier and per-codec series exist.
"$CTL" --server="127.0.0.1:$SERVER_PORT" swap-test --pages=300 >"$T/swap_test.out" 2>&1 ||
  { cat "$T/swap_test.out" >&2; fail "memmgrctl swap-test"; }
curl -sf "http://127.0.0.1:$SERVER_MPORT/metrics" -o "$T/server.prom" || fail "scraping memmgr-server"
curl -sf "http://127.0.0.1:$WORKER_MPORT/metrics" -o "$T/worker.prom" || fail "scraping memmgr-worker"
grep -q '^memmgr_worker_swap_info{mode="server"} 1' "$T/worker.prom" ||
  fail "the worker does not swap to the server (memmgr_worker_swap_info): the reclaim series would be missing"
grep -q '^memmgr_swap_out_pages_total 300' "$T/server.prom" ||
  fail "memmgr-server did not count the swap-test traffic: $(grep '^memmgr_swap_out_pages_total' "$T/server.prom")"

step "metric names"
node "$LIB" metric-names "$RULES" "$PROMYML" "$T/server.prom" "$T/worker.prom"

# The same check must fail on a rule naming a metric that does not exist, a
# label the metric does not have, and a label value it never takes (and say
# so: MUTATION|WHAT THE FAILURE MUST NAME).
for case in 's/memmgr_swap_slots_capacity/memmgr_swap_slot_capacity/|metric memmgr_swap_slot_capacity is not exported' \
  's/rate(memmgr_worker_fault_latency_seconds_count\[5m\])/rate(memmgr_worker_fault_latency_seconds_count{sorce="remote"}[5m])/|memmgr_worker_fault_latency_seconds_count has no label sorce' \
  's/source="remote"/source="remtoe"/|{source="remtoe"}: value never exported' \
  's/memmgr_worker_oom_kills_total/memmgr_oom_kills_total/|metric memmgr_oom_kills_total is not exported'; do
  mutation=${case%%|*}
  expected=${case#*|}
  sed "$mutation" "$RULES" >"$T/mutated-rules.yml"
  cmp -s "$RULES" "$T/mutated-rules.yml" && fail "self-test mutation $mutation changed nothing"
  if node "$LIB" metric-names "$T/mutated-rules.yml" "$PROMYML" "$T/server.prom" "$T/worker.prom" >"$T/mutated.out" 2>&1; then
    fail "metric-name check passed a rule file mutated with $mutation"
  fi
  grep -qF -- "$expected" "$T/mutated.out" ||
    { cat "$T/mutated.out" >&2; fail "metric-name check on mutation $mutation did not report: $expected"; }
done
echo "self-test: the metric-name check fails on a misspelt metric, label and label value"

# 5. docs/operations.md names every memmgr_* family the binaries export
# (a table row per metric, name in backticks), so a new metric cannot ship
# undocumented.
step "every exported metric is documented"
undocumented() { # DOC -> the exported families it does not name
  sed -n 's/^# TYPE \(memmgr_[a-z0-9_]*\) .*/\1/p' "$T/server.prom" "$T/worker.prom" |
    sort -u | while read -r family; do
      grep -qE "\`$family(\{|\`)" "$1" || echo "$family"
    done
}
missing=$(undocumented "$SRC/docs/operations.md")
[[ -z "$missing" ]] || fail "docs/operations.md does not document: $missing"
grep -v 'memmgr_worker_oom_kills_total' "$SRC/docs/operations.md" >"$T/ops-mutated.md"
[[ $(undocumented "$T/ops-mutated.md") == memmgr_worker_oom_kills_total ]] ||
  fail "self-test: the documentation check did not miss a removed metric row"
echo "$(sed -n 's/^# TYPE \(memmgr_[a-z0-9_]*\) .*/\1/p' "$T/server.prom" "$T/worker.prom" | sort -u | wc -l) exported families, each documented"

echo "PASS prometheus_rules_test ($((SECONDS - start)) s)"
