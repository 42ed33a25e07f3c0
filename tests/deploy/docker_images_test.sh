#!/usr/bin/env bash
# Offline checks of the container images (deploy/docker/*.Dockerfile) and
# .dockerignore; no registry is reachable here, so the images are not built.
#
#   tests/deploy/docker_images_test.sh SOURCE_DIR BUILD_DIR
#
# tests/deploy/docker_check.py does the work (see its docstring):
#   lint     hadolint-like rules, shellcheck of RUN lines, EXPOSE == CMD ports
#            == the binaries' default ports == the k8s overlays' containerPorts,
#            USER == the k8s runAsUser, CMD/HEALTHCHECK flags known to --help
#   runtime  `ldd` of the real binaries of BUILD_DIR -> Debian packages
#            (dpkg file lists, merged-/usr aware) must lie in the Depends
#            closure of the runtime apt-get list + the debian:12 base image,
#            and every listed package must be needed
#   build    the build stage's cmake/ninja line matches BUILD_DIR, its targets
#            exist and the COPY --from paths are their outputs, its apt list is
#            scripts/install-deps minus named test-only packages, and its
#            closure holds every package whose files the real build read
#   smoke    each image's ENTRYPOINT+CMD runs here (addresses moved to
#            127.0.0.1:0, data dir to a temp dir) and its HEALTHCHECK passes
#   dockerignore  build*/, bazel-*, .git, node_modules excluded, no build
#            input excluded
# Then every rule family is shown to fail on broken copies of the files.
# Exit 77 (skip) for a sanitizer build dir: the images are built without one,
# so its ldd closure (libasan, ...) is not the images'.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

deploy_args "$@"
PY=/usr/bin/python3
CHECK=$HERE/docker_check.py
DOCKER=$SRC/deploy/docker

sanitize=$(sed -n 's/^MEMMGR_SANITIZE:STRING=//p' "$BUILD/CMakeCache.txt")
if [ -n "$sanitize" ]; then
  echo "SKIP: $BUILD is a sanitizer build (MEMMGR_SANITIZE=$sanitize); the images are not"
  exit 77
fi

deploy_tmpdir docker_images
start=$SECONDS

# The k8s overlays as rendered, reduced to what the images must agree with.
overlays=()
for dir in "$SRC"/deploy/k8s/overlays/*/; do
  name=$(basename "$dir")
  kubectl kustomize "$dir" >"$T/k8s-$name.yaml"
  node "$HERE/docker_k8s_facts.js" "$T/k8s-$name.yaml" >"$T/k8s-$name.json"
  overlays+=("$name")
done
[ ${#overlays[@]} -gt 0 ] || fail "no overlays under $SRC/deploy/k8s/overlays"
"$PY" - "$T" "${overlays[@]}" <<'EOF' >"$T/k8s.json"
import json, sys
tmp, names = sys.argv[1], sys.argv[2:]
print(json.dumps({n: json.load(open(f"{tmp}/k8s-{n}.json")) for n in names}))
EOF

check() {
  "$PY" "$CHECK" --source "$SRC" --build "$BUILD" --apt-cache "$T/apt.json" \
    --k8s "$T/k8s.json" "$@"
}

echo "== the real files"
check --only dockerignore,lint,runtime,build,smoke \
  "$DOCKER/server.Dockerfile" "$DOCKER/worker.Dockerfile"

# ---------------------------------------------------------------------------
# Negative cases: broken copies must fail with the expected rule.
neg=$T/neg
mkdir -p "$neg"
expected=()  # "file|rule|text"

# mutant NAME FROM-DOCKERFILE RULE TEXT SED-SCRIPT
mutant() {
  local name=$1 from=$2 rule=$3 text=$4 script=$5
  sed -e "$script" "$DOCKER/$from" >"$neg/$name.Dockerfile"
  if cmp -s "$DOCKER/$from" "$neg/$name.Dockerfile"; then
    fail "mutant $name did not change $from (sed: $script)"
  fi
  expected+=("$name.Dockerfile|$rule|$text")
}

# check_fails WHAT [checker options]: the checker must exit 1 (failures
# found); its report is in OUT.
check_fails() {
  local what=$1 rc=0
  shift
  OUT=$(check "$@") || rc=$?
  [ "$rc" -eq 1 ] || fail_out "the checker exited $rc on the $what (want 1)"
}
# fail_out MESSAGE: fail, after the checker's report.
fail_out() {
  echo "$OUT"
  fail "$@"
}

# run_mutants ONLY NAME-PREFIX [checker options]: runs the checker once over
# the mutants of that group; each must fail, with its rule and text.
run_mutants() {
  local only=$1 prefix=$2
  shift 2
  local files=("$neg/$prefix"*.Dockerfile)
  check_fails "$prefix mutants" --only "$only" "$@" "${files[@]}"
  local e file rule text n=0
  for e in "${expected[@]}"; do
    IFS='|' read -r file rule text <<<"$e"
    case $file in "$prefix"*) ;; *) continue ;; esac
    n=$((n + 1))
    grep -q "^$file: FAILED$" <<<"$OUT" || fail_out "mutant $file passed the $only check"
    grep -F "FAIL [$rule] $file:" <<<"$OUT" | grep -qF -- "$text" ||
      fail_out "mutant $file: no [$rule] failure mentioning '$text'"
  done
  echo "ok: $n $prefix mutants fail as expected ($only)"
}

# lint
mutant lint-latest server.Dockerfile DL3007 ":latest is not a pin" \
  's/^FROM debian:12-slim$/FROM debian:latest/'
mutant lint-untagged worker.Dockerfile DL3006 "pin a tag" \
  's/^FROM debian:12-slim AS build$/FROM debian AS build/'
mutant lint-recommends server.Dockerfile DL3015 "--no-install-recommends" \
  '0,/--no-install-recommends/s/ --no-install-recommends//'
mutant lint-yes worker.Dockerfile DL3014 "needs -y" \
  '0,/install -y/s/install -y/install/'
mutant lint-lists server.Dockerfile DL3009 "/var/lib/apt/lists" \
  's|^ && rm -rf /var/lib/apt/lists/\*$| \&\& true|'
mutant lint-upgrade worker.Dockerfile DL3005 "apt-get upgrade" \
  's/^RUN apt-get update \\$/RUN apt-get update \&\& apt-get upgrade -y \\/'
mutant lint-root server.Dockerfile DL3002 "must not run as root" \
  's/^USER 10001:10001$/USER root/'
mutant lint-nouser worker.Dockerfile DL3002 "has no USER" \
  '/^USER /d'
mutant lint-username server.Dockerfile MM002 "numeric uid" \
  's/^USER 10001:10001$/USER memmgr/'
mutant lint-uid worker.Dockerfile MM003 "no useradd --uid 10002" \
  's/^USER 10001:10001$/USER 10002:10001/'
mutant lint-add server.Dockerfile DL3020 "use COPY, not ADD" \
  's/^COPY \. \.$/ADD . ./'
mutant lint-sudo worker.Dockerfile DL3004 "sudo" \
  's/^RUN groupadd /RUN sudo groupadd /'
mutant lint-workdir server.Dockerfile DL3000 "absolute path" \
  's|^WORKDIR /src$|WORKDIR src|'
mutant lint-from worker.Dockerfile DL3022 "no earlier stage" \
  's/^COPY --from=build \/src\/build\/worker/COPY --from=builder \/src\/build\/worker/'
mutant lint-shellform server.Dockerfile DL3025 "exec (JSON) form" \
  's|^ENTRYPOINT .*|ENTRYPOINT /usr/local/bin/memmgr-server|'
mutant lint-expose worker.Dockerfile MM005 "EXPOSE [7071, 8080]" \
  's/^EXPOSE 7071 9465$/EXPOSE 7071 8080/'
mutant lint-port server.Dockerfile MM005 "default ports" \
  's/--metrics_listen=0.0.0.0:9464/--metrics_listen=0.0.0.0:9999/; s/^EXPOSE 7070 9464$/EXPOSE 7070 9999/'
mutant lint-flag worker.Dockerfile MM006 "has no --metrics_listn" \
  's/--metrics_listen=/--metrics_listn=/'
mutant lint-volume server.Dockerfile MM008 "make /var/lib/memmgr a VOLUME" \
  '/^VOLUME /d'
# shellcheck disable=SC2016  # $HOME is for the Dockerfile, unexpanded
mutant lint-shellcheck worker.Dockerfile SC "shellcheck: Double quote to prevent globbing" \
  's|^WORKDIR /tmp$|RUN cp $HOME/x /tmp/y\nWORKDIR /tmp|'
mutant lint-version server.Dockerfile MM010 "CMake project VERSION" \
  's/org.opencontainers.image.version="0.1.0"/org.opencontainers.image.version="9.9.9"/'
mutant lint-entrypoint worker.Dockerfile MM007 "ENTRYPOINT /usr/bin/memmgr-worker" \
  's|^ENTRYPOINT \["/usr/local/bin/memmgr-worker"\]|ENTRYPOINT ["/usr/bin/memmgr-worker"]|'
run_mutants lint lint-

# The k8s overlays must agree with the images: break their facts.
"$PY" - "$T/k8s.json" "$T/k8s-bad.json" <<'EOF'
import json, sys
k = json.load(open(sys.argv[1]))
for c in k[sorted(k)[0]]:
    if c["image"].split(":")[0].endswith("memmgr-worker") and not c["init"]:
        c["ports"][-1]["containerPort"] = 9999
    if c["image"].split(":")[0].endswith("memmgr-server") and not c["init"]:
        c["runAsUser"] = 0
        c["command"] = ["/bin/memmgr-server"]
        c["mounts"] = [m for m in c["mounts"] if m != "/var/lib/memmgr"]
json.dump(k, open(sys.argv[2], "w"))
EOF
cp "$DOCKER/worker.Dockerfile" "$neg/k8s-worker.Dockerfile"
cp "$DOCKER/server.Dockerfile" "$neg/k8s-server.Dockerfile"
expected+=("k8s-worker.Dockerfile|MM005|ports [7071, 9999] != EXPOSE [7071, 9465]")
expected+=("k8s-server.Dockerfile|MM003|runAsUser 0 != image USER 10001")
expected+=("k8s-server.Dockerfile|MM007|command /bin/memmgr-server is not in the image")
expected+=("k8s-server.Dockerfile|MM008|mounts no volume at the image's VOLUME /var/lib/memmgr")
run_mutants lint k8s- --k8s "$T/k8s-bad.json"

# runtime: a needed package removed, an unneeded one or a base one added
mutant rt-missing server.Dockerfile RT003 "add package librocksdb7.8" \
  '/libprotobuf32 libre2-9 librocksdb7.8/s/ librocksdb7.8//'
mutant rt-numa worker.Dockerfile RT003 "libnuma.so.1, not in the image: add package libnuma1" \
  's/ libgrpc29 libnuma1 / libgrpc29 /'
mutant rt-bloat server.Dockerfile RT005 "curl: no binary of this image loads" \
  's/ libsnappy1v5 libssl3 \\$/ libsnappy1v5 libssl3 curl \\/'
mutant rt-base worker.Dockerfile RT005 "zlib1g is already in the debian:12 base image" \
  's/ libsnappy1v5 libssl3 \\$/ libsnappy1v5 libssl3 zlib1g \\/'
mutant rt-unknown server.Dockerfile RT004 "no-such-lib9: no such Debian 12 package" \
  's/ libsnappy1v5 libssl3 \\$/ libsnappy1v5 libssl3 no-such-lib9 \\/'
run_mutants runtime rt-

# build stage
mutant bs-target server.Dockerfile BS003 "ninja target memmgr-servr does not exist" \
  's/ninja -C build memmgr-server memmgrctl/ninja -C build memmgr-servr memmgrctl/'
mutant bs-path worker.Dockerfile BS003 "CMake puts no output of the built targets" \
  's|/src/build/worker/memmgr-worker /usr/local|/src/build/memmgr-worker /usr/local|'
mutant bs-notbuilt server.Dockerfile BS003 "at worker/memmgr-worker" \
  's|/src/build/server/memmgr-server /usr/local|/src/build/worker/memmgr-worker /usr/local|'
mutant bs-dev worker.Dockerfile BS006 "add libnuma-dev to the build stage" \
  's/ libzstd-dev libnuma-dev \\$/ libzstd-dev \\/'
mutant bs-type server.Dockerfile BS002 "-DCMAKE_BUILD_TYPE=Debug" \
  's/-DCMAKE_BUILD_TYPE=RelWithDebInfo/-DCMAKE_BUILD_TYPE=Debug/'
mutant bs-extra worker.Dockerfile BS004 "clang-format is both installed by the build stage and in BUILD_EXCLUDED" \
  's/ cmake ninja-build pkg-config g++ \\$/ cmake ninja-build pkg-config g++ clang-format \\/'
mutant bs-unlisted server.Dockerfile BS004 "libyaml-cpp-dev is in the build stage but not in scripts/install-deps" \
  's/ cmake ninja-build pkg-config g++ \\$/ cmake ninja-build pkg-config g++ libyaml-cpp-dev \\/'
run_mutants build bs-

# scripts/install-deps gains a package the Dockerfiles do not have
"$SRC/scripts/install-deps" --list >"$T/deps.list"
echo libyaml-cpp-dev >>"$T/deps.list"
cp "$DOCKER/worker.Dockerfile" "$neg/drift-worker.Dockerfile"
expected+=("drift-worker.Dockerfile|BS004|scripts/install-deps lists libyaml-cpp-dev: add it to the build stage")
run_mutants build drift- --install-deps-list "$T/deps.list"

# smoke: a CMD the binary refuses
mutant smoke-flags server.Dockerfile SMOKE "did not start" \
  's/"--metrics_listen=0.0.0.0:9464"\]/"--metrics_listen=0.0.0.0:9464", "--zswap_compressor=bogus"]/'
run_mutants lint,smoke smoke-

# .dockerignore
"$PY" - "$SRC/.dockerignore" "$T" <<'EOF'
import sys
rules = open(sys.argv[1]).read().splitlines()
open(sys.argv[2] + "/di-node", "w").write("\n".join(r for r in rules if "node_modules" not in r) + "\n")
open(sys.argv[2] + "/di-git", "w").write("\n".join(r for r in rules if r != ".git") + "\n")
open(sys.argv[2] + "/di-src", "w").write("\n".join(rules + ["worker/service"]) + "\n")
open(sys.argv[2] + "/di-negated", "w").write("\n".join(rules + ["!build/CMakeCache.txt"]) + "\n")
EOF
check_fails ".dockerignore mutants" --only dockerignore --dockerignore "$T/di-node" --dockerignore "$T/di-git" \
  --dockerignore "$T/di-src" --dockerignore "$T/di-negated"
for c in "DI001] di-node: does not exclude tests/deploy/node_modules/yaml/package.json" \
    "DI001] di-git: does not exclude .git/HEAD" \
    "DI002] di-src: excludes worker/service/" \
    "DI001] di-negated: does not exclude build/CMakeCache.txt"; do
  grep -qF -- "FAIL [$c" <<<"$OUT" || fail_out ".dockerignore mutant: no 'FAIL [$c'"
done
echo "ok: 4 .dockerignore mutants fail as expected"

echo "PASS: docker images ($((SECONDS - start)) s)"
