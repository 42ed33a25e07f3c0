#!/usr/bin/env bash
# deploy/k8s: kustomize renders, yamllint, offline schema + cross-object checks.
#   tests/deploy/k8s_manifests_test.sh SOURCE_DIR BUILD_DIR
# 1. kubectl kustomize renders base, overlays/dev, overlays/prod and dev with
#    the without-servicemonitor component;
# 2. yamllint --strict with deploy/k8s/.yamllint on every YAML file under
#    deploy/k8s and on each rendered output (and on a broken file, which must
#    fail, so the config is shown to be able to fail);
# 3. tests/deploy/k8s_validate.js on every render: kubernetes-models schemas
#    with unknown fields rejected, cross-object checks (also against the
#    deploy/docker Dockerfiles), negative self-test;
# 4. the flags ConfigMaps are content-hashed: changing a flag changes the
#    name the pod templates reference (so the pods roll).
# Offline; needs kubectl (its built-in kustomize), yamllint, node and
# tests/deploy/node_modules (scripts/install-deps).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

deploy_args "$@"
K8S="$SRC/deploy/k8s"
TESTS="$SRC/tests/deploy"

need_tools kubectl yamllint node
need_node_modules kubernetes-models

deploy_tmpdir k8s_manifests

start=$SECONDS

# ---- 1. render
render() { # NAME DIR
  if ! kubectl kustomize "$2" >"$T/$1.yaml" 2>"$T/$1.err"; then
    cat "$T/$1.err" >&2
    fail "kubectl kustomize $2 failed"
  fi
  local n
  n=$(grep -c '^kind: ' "$T/$1.yaml" || true)
  [[ $n -gt 0 ]] || fail "kubectl kustomize $2 rendered no objects"
  echo "ok render $1: $n objects"
}
render base "$K8S/base"
render dev "$K8S/overlays/dev"
render prod "$K8S/overlays/prod"

# The component for clusters without the prometheus-operator, on top of dev.
mkdir "$T/nosm"
cat >"$T/nosm/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$T/nosm" "$K8S/overlays/dev")
components:
  - $(realpath --relative-to="$T/nosm" "$K8S/components/without-servicemonitor")
EOF
render dev-without-servicemonitor "$T/nosm"
grep -q '^kind: ServiceMonitor' "$T/dev.yaml" || fail "overlays/dev renders no ServiceMonitor"
if grep -q '^kind: ServiceMonitor' "$T/dev-without-servicemonitor.yaml"; then
  fail "components/without-servicemonitor left the ServiceMonitor in"
fi
[[ $(grep -c '^kind: ' "$T/dev-without-servicemonitor.yaml") -eq $(($(grep -c '^kind: ' "$T/dev.yaml") - 1)) ]] ||
  fail "components/without-servicemonitor removed more than the ServiceMonitor"

# ---- 2. yamllint
CONF="$K8S/.yamllint"
[[ -f $CONF ]] || fail "$CONF missing"
mapfile -t sources < <(find "$K8S" \( -name '*.yaml' -o -name '*.yml' -o -name .yamllint \) -type f | sort)
[[ ${#sources[@]} -gt 0 ]] || fail "no YAML files under $K8S"
if ! yamllint --strict -c "$CONF" "${sources[@]}"; then
  fail "yamllint found problems in deploy/k8s (config $CONF)"
fi
echo "ok yamllint: ${#sources[@]} files under deploy/k8s"
# Rendered output: the same rules except line length (kustomize writes the
# files it put into ConfigMaps as they are).
RENDERED_CONF="{extends: $CONF, rules: {line-length: disable}}"
for r in base dev prod dev-without-servicemonitor; do
  yamllint --strict -d "$RENDERED_CONF" "$T/$r.yaml" || fail "yamllint found problems in the rendered $r"
done
echo "ok yamllint: rendered base, dev, prod, dev-without-servicemonitor"
# The config must be able to fail: a duplicate key, bad indentation and a yes.
printf 'a: 1\na: 2\nb:\n   - x\nc: yes\n' >"$T/broken.yaml"
if yamllint --strict -c "$CONF" "$T/broken.yaml" >"$T/broken.out" 2>&1; then
  fail "yamllint with $CONF accepted a broken file"
fi
for rule in key-duplicates indentation truthy; do
  grep -q "($rule)" "$T/broken.out" || fail "yamllint with $CONF did not report $rule on a broken file"
done
echo "ok yamllint rejects a broken file (key-duplicates, indentation, truthy)"

# ---- 3. schemas and cross-object checks
# The images come from deploy/docker: command paths, uid and ports must agree.
for img in server worker; do
  [[ -f "$SRC/deploy/docker/$img.Dockerfile" ]] || fail "deploy/docker/$img.Dockerfile missing"
done
node "$TESTS/k8s_validate.js" --expect-sync=prod \
  --dockerfile=memmgr-server="$SRC/deploy/docker/server.Dockerfile" \
  --dockerfile=memmgr-worker="$SRC/deploy/docker/worker.Dockerfile" \
  base="$T/base.yaml" dev="$T/dev.yaml" prod="$T/prod.yaml" \
  dev-without-servicemonitor="$T/dev-without-servicemonitor.yaml" ||
  fail "k8s_validate.js found problems (above)"

# ---- 4. a flag change renames the flags ConfigMap the pods mount
cp -r "$K8S" "$T/k8s-copy"
cfg_ref() { # RENDER KIND -> the configMap volume name in the workload
  node -e '
    const L = require(process.argv[1]);
    const w = L.loadRender(process.argv[2]).find((o) => o.kind === process.argv[3]);
    const v = w.spec.template.spec.volumes.find((x) => x.configMap);
    console.log(v.configMap.name);' "$TESTS/k8s_lib.js" "$1" "$2"
}
before_s=$(cfg_ref "$T/base.yaml" StatefulSet)
before_w=$(cfg_ref "$T/base.yaml" DaemonSet)
sed -i 's/^--lease_ttl=.*/--lease_ttl=45s/' "$T/k8s-copy/base/config/server.flags"
sed -i 's/^--memory_percent=.*/--memory_percent=70/' "$T/k8s-copy/base/config/worker.flags"
kubectl kustomize "$T/k8s-copy/base" >"$T/changed.yaml"
after_s=$(cfg_ref "$T/changed.yaml" StatefulSet)
after_w=$(cfg_ref "$T/changed.yaml" DaemonSet)
[[ $before_s == memmgr-server-flags-* && $before_s != "$after_s" ]] ||
  fail "changing server.flags did not change the ConfigMap name the StatefulSet mounts ($before_s -> $after_s): pods would not roll"
[[ $before_w == memmgr-worker-flags-* && $before_w != "$after_w" ]] ||
  fail "changing worker.flags did not change the ConfigMap name the DaemonSet mounts ($before_w -> $after_w): pods would not roll"
grep -q -- '--lease_ttl=45s' "$T/changed.yaml" || fail "the changed flag is not in the rendered ConfigMap"
echo "ok a flag change renames the flags ConfigMaps ($before_s -> $after_s, $before_w -> $after_w)"

echo "k8s_manifests_test: all checks passed in $((SECONDS - start)) s"
