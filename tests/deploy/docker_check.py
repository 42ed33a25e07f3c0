#!/usr/bin/python3
"""Offline checks of memmgr's Dockerfiles (deploy/docker/*.Dockerfile).

No registry is reachable where the tests run, so the images are not built.
Instead this script checks, from the Dockerfile text, this machine's Debian 12
package database and the project's real CMake build directory:

  lint     hadolint-like rules (pinned FROM tags, non-root numeric USER, apt-get
           hygiene, COPY not ADD, exec-form ENTRYPOINT/CMD, shellcheck of RUN
           lines, EXPOSE == the ports of CMD == the binary's default ports ==
           the k8s containerPorts, CMD flags known to the binary's --help, ...)
  runtime  every shared library `ldd` resolves for the binaries the final
           stage copies belongs to a package inside the closure (Depends and
           Pre-Depends) of the final stage's apt-get install list plus the
           debian:12 base image; every listed package is needed by a binary.
  build    the build stage's cmake/ninja commands match the build dir (same
           generator and -D values, the ninja targets exist, COPY --from paths
           are the targets' outputs); its apt-get list is scripts/install-deps
           minus the test/lint-only packages named in BUILD_EXCLUDED below, and
           the closure of that list holds every package whose files the real
           build read (CMake's configure inputs and found programs, the linked
           libraries, the compilers and code generators, every header of the
           objects of the copied targets, per ninja's deps log).
  smoke    starts each image's ENTRYPOINT+CMD binary on this machine with the
           image's own flags (listen addresses moved to 127.0.0.1:0, data dir
           to a temp dir) and runs the image's HEALTHCHECK command against it.

  dockerignore  the context filter excludes build*/, bazel-*, .git and every
           node_modules, and excludes no file the CMake build reads.

Each problem is printed as `FAIL [RULE] file:line: message`; exit status 1 if
there is one, 0 otherwise, 2 on a usage error. Stdlib only (/usr/bin/python3).
"""

import argparse
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# --------------------------------------------------------------------------
# Policy. Everything else is computed.

# scripts/install-deps packages the image build stage leaves out, and why.
# The build check fails if one of them is needed after all (the real build
# read a file of it), if install-deps gains a package that is neither here nor
# in the Dockerfile, or if an entry here is no longer in install-deps.
BUILD_EXCLUDED = {
    "clang": "scripts/check-thread-safety (lint test) only; CMake uses g++",
    "clang-format": "scripts/check-format (lint test) only",
    "git": "no part of the CMake build runs git (.git is not in the context)",
    "prometheus": "promtool for the metrics tests; optional to CMake "
                  "(MEMMGR_PROMTOOL, see BUILD_OPTIONAL_CACHE)",
    "curl": "used by tests and scripts/demo, not by the build",
    "ca-certificates": "no TLS download during the build",
    "yamllint": "lints deploy/k8s (tests/deploy), not a build input",
    "shellcheck": "lints scripts and these Dockerfiles' RUN lines (tests/deploy)",
}

# Like BUILD_EXCLUDED, for packages install-deps lists only on some machines
# (so their absence from its list is no staleness): it adds Debian's nodejs
# and npm where no node is installed yet, kubernetes-client where no kubectl.
BUILD_EXCLUDED_SOMETIMES = {
    "nodejs": "runs the deploy/ validators (tests/deploy), not the build",
    "npm": "installs the validators' npm packages (tests/deploy)",
    "kubernetes-client": "kubectl kustomize for the deploy/k8s tests, where "
                         "no kubectl is installed yet",
}

# CMakeCache entries that name a program the configure step accepts missing,
# so a found value is no evidence that the build needs the package. The check
# verifies that the CMake code really has an if(NOT VAR) fallback without
# FATAL_ERROR.
BUILD_OPTIONAL_CACHE = {
    "MEMMGR_PROMTOOL": "tests/CMakeLists.txt sets \"promtool-not-found\"",
}

# Build-stage packages that no file evidence shows, and why they are needed.
BUILD_EXTRA = {
    "libc6-dev-riscv64-cross": "tests/guest/CMakeLists.txt's configure-time "
                               "probe links a static RISC-V program (only a "
                               "Recommends of gcc-riscv64-linux-gnu)",
}

# Runtime packages the binaries do not load but the image deliberately has.
RUNTIME_EXTRA = {}

# Commands the final stage may RUN that are not checked against packages
# (shell builtins and keywords).
SHELL_BUILTINS = {"cd", "set", "export", "true", "false", "test", "[", "echo",
                  "exit", "if", "then", "else", "fi", "for", "do", "done",
                  "while", "case", "esac", ":", ".", "command", "umask"}

# How debian:12 images are made: debuerreotype runs debootstrap
# --variant=minbase, which installs the packages of Priority "required" plus
# apt, with their dependencies. We take that set from this machine's dpkg
# database (installed packages whose control file says required) intersected
# with the archive's own priority (apt-cache, i.e. the Packages lists that
# debootstrap reads; the archive's overrides win, e.g. sensible-utils is
# required in its control file but optional in bookworm), plus apt, and close
# it under Depends/Pre-Depends. A required package not installed here would be
# missing from the set, which can only make the check stricter.
BASE_EXTRA_ROOTS = ["apt"]


failures = []


def fail(rule, where, msg):
    failures.append(f"FAIL [{rule}] {where}: {msg}")


def note(msg):
    print("  " + msg)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# --------------------------------------------------------------------------
# Dockerfile parsing

class Instr:
    def __init__(self, path, line, keyword, rest):
        self.path, self.line, self.keyword, self.rest = path, line, keyword, rest

    @property
    def where(self):
        return f"{os.path.basename(self.path)}:{self.line}"

    def json_form(self):
        """The instruction's JSON array (exec form), or None (shell form)."""
        s = self.rest.strip()
        if not s.startswith("["):
            return None
        try:
            v = json.loads(s)
        except ValueError:
            return None
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            return v
        return None

    def flags_and_args(self):
        """Leading --flag=value options (FROM, COPY, HEALTHCHECK) and the rest."""
        toks = self.rest.split()
        flags = {}
        while toks and toks[0].startswith("--"):
            k, _, v = toks.pop(0)[2:].partition("=")
            flags[k] = v
        return flags, toks


class Stage:
    def __init__(self, index, instr, image, name):
        self.index, self.from_instr, self.image, self.name = index, instr, image, name
        self.instrs = []

    def all(self, keyword):
        return [i for i in self.instrs if i.keyword == keyword]

    def last(self, keyword):
        found = self.all(keyword)
        return found[-1] if found else None

    def workdir_at(self, instr):
        wd = "/"
        for i in self.instrs:
            if i is instr:
                break
            if i.keyword == "WORKDIR":
                wd = os.path.normpath(os.path.join(wd, i.rest.strip()))
        return wd


def parse_dockerfile(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    instrs = []
    buf, start = None, 0
    for n, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (buf is not None and stripped == ""):
            continue  # comments (also inside continuations) are dropped
        if buf is None:
            if stripped == "":
                continue
            buf, start = "", n
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        buf += raw
        kw, _, rest = buf.strip().partition(" ")
        instrs.append(Instr(path, start, kw.upper(), rest.strip()))
        buf = None
    if buf is not None:
        fail("PARSE", f"{os.path.basename(path)}:{start}", "continuation at end of file")
    stages = []
    for i in instrs:
        if i.keyword == "FROM":
            flags, args = i.flags_and_args()
            image = args[0] if args else ""
            name = args[2] if len(args) >= 3 and args[1].lower() == "as" else None
            stages.append(Stage(len(stages), i, image, name))
        elif i.keyword in ("ARG",) and not stages:
            continue
        elif not stages:
            fail("PARSE", i.where, f"{i.keyword} before the first FROM")
        else:
            stages[-1].instrs.append(i)
    if not stages:
        fail("PARSE", os.path.basename(path), "no FROM")
    return stages


SPLIT_OPS = re.compile(r"&&|\|\||;|\||\n|\(|\)")


def simple_commands(shell):
    """Splits a RUN shell string into its simple commands' token lists."""
    out = []
    for part in SPLIT_OPS.split(shell):
        try:
            toks = shlex.split(part, comments=True)
        except ValueError:
            toks = part.split()
        while toks and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", toks[0]):
            toks.pop(0)  # VAR=value prefix
        if toks:
            out.append(toks)
    return out


def apt_installs(instr):
    """[(options, packages)] of each `apt-get install` in a RUN."""
    res = []
    for toks in simple_commands(instr.rest):
        if os.path.basename(toks[0]) not in ("apt-get", "apt"):
            continue
        opts, words, i = [], [], 1
        while i < len(toks):
            t = toks[i]
            if t in ("-o", "-c", "-t", "--option", "--target-release"):
                opts.append(t + " " + (toks[i + 1] if i + 1 < len(toks) else ""))
                i += 2
                continue
            (opts if t.startswith("-") else words).append(t)
            i += 1
        if words and words[0] == "install":
            res.append((opts, words[1:]))
    return res


def stage_apt_packages(stage):
    pkgs = []
    for r in stage.all("RUN"):
        for _, p in apt_installs(r):
            pkgs.extend(p)
    return pkgs


# --------------------------------------------------------------------------
# Debian package database (this machine)

class PackageDB:
    def __init__(self):
        self.installed = {}   # name -> {"prio": Priority, "deps": [[alternatives]...]}
        self.providers = {}   # virtual name -> [real packages]
        out = run(["dpkg-query", "-W", "-f",
                   "${Package}\t${db:Status-Abbrev}\t${Priority}\t"
                   "${Pre-Depends}\t${Depends}\t${Provides}\n"]).stdout
        for line in out.splitlines():
            name, status, prio, pre, dep, prov = (line.split("\t") + [""] * 6)[:6]
            if not status.startswith("ii"):
                continue
            self.installed[name] = {"prio": prio, "deps": self._groups(pre) + self._groups(dep)}
            for p in self._names(prov):
                self.providers.setdefault(p, []).append(name)
        self.apt_cache = {}   # name -> dependency groups of apt's candidate, or None
        self.apt_prio = {}    # name -> archive Priority
        self.apt_providers = {}  # virtual name -> providers (apt-cache depends)
        self.cache_file = None
        self._owners = None

    def load_cache(self, path):
        """apt-cache answers of an earlier run (apt-cache is slow here: the
        image-style apt config keeps no pkgcache.bin)."""
        self.cache_file = path
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                c = json.load(f)
            self.apt_cache, self.apt_prio = c["deps"], c["prio"]
            self.apt_providers = c["providers"]

    def save_cache(self):
        if self.cache_file:
            with open(self.cache_file, "w", encoding="utf-8") as f:
                json.dump({"deps": self.apt_cache, "prio": self.apt_prio,
                           "providers": self.apt_providers}, f)

    @staticmethod
    def _names(field):
        return [re.split(r"[\s(:]", x.strip())[0] for x in field.split(",") if x.strip()]

    @classmethod
    def _groups(cls, field):
        groups = []
        for item in field.split(","):
            if item.strip():
                groups.append([re.split(r"[\s(:]", a.strip())[0] for a in item.split("|")])
        return groups

    def fetch(self, names):
        """Dependencies of names and, recursively, of all they depend on, from
        one `apt-cache depends --recurse` (the archive's candidate versions)."""
        names = sorted(set(n for n in names if n not in self.apt_cache))
        if not names:
            return
        out = run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                   "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"] + names).stdout
        for n in names:
            self.apt_cache[n] = None
        cur, group, last_virtual = None, [], None
        for line in out.splitlines():
            if not line.startswith(" "):
                cur = None if line.startswith("<") else line.strip()
                if cur:
                    self.apt_cache[cur] = []
                group, last_virtual = [], None
                continue
            m = re.match(r"^ ([ |])(?:Pre)?Depends: (<)?([^>\s]+)>?$", line)
            if m and cur:
                name = m.group(3).split(":")[0]
                group.append(name)
                last_virtual = name if m.group(2) else None
                if m.group(1) == " ":
                    self.apt_cache[cur].append(group)
                    group = []
            elif line.startswith("    ") and last_virtual:
                provs = self.apt_providers.setdefault(last_virtual, [])
                if line.strip() not in provs:
                    provs.append(line.strip())

    def priorities(self, names):
        names = sorted(set(n for n in names if n not in self.apt_prio))
        if names:
            out = run(["apt-cache", "show", "--no-all-versions"] + names).stdout
            cur = None
            for n in names:
                self.apt_prio[n] = None
            for line in out.splitlines():
                if line.startswith("Package: "):
                    cur = line.split()[1]
                elif line.startswith("Priority: ") and cur in self.apt_prio:
                    self.apt_prio[cur] = line.split()[1]
        return self.apt_prio

    def known(self, name):
        if name in self.installed:
            return True
        self.fetch([name])
        return self.apt_cache.get(name) is not None

    def deps(self, name):
        if name in self.installed:
            return self.installed[name]["deps"]
        return self.apt_cache.get(name) or []

    def closure(self, roots):
        """Packages apt would install for roots (Depends + Pre-Depends).

        For `a | b` where neither is present yet, take the one installed on
        this machine, else the first that exists (apt's choice); a virtual
        name is satisfied by any present provider, else by its first
        installed provider. Packages not installed on this machine are looked
        up with apt-cache, in batches."""
        self.fetch([r for r in roots if r not in self.installed])
        while True:
            pending = set()
            have = self._closure(roots, pending)
            if not pending:
                return have
            self.fetch(pending)

    def _closure(self, roots, pending):
        have = set()
        todo = list(roots)
        deferred = []

        def present(alt):
            return alt in have or any(p in have for p in self.providers.get(alt, []) +
                                      self.apt_providers.get(alt, []))

        def real(alt):
            if alt in self.installed:
                return alt
            if alt not in self.providers:
                if alt not in self.apt_cache:
                    pending.add(alt)
                    return None
                if self.apt_cache[alt] is not None:
                    return alt
            provs = sorted(self.providers.get(alt, [])) or self.apt_providers.get(alt, [])
            return provs[0] if provs else None

        while todo or deferred:
            while todo:
                p = todo.pop()
                if p in have:
                    continue
                have.add(p)
                for g in self.deps(p):
                    if len(g) == 1 and not present(g[0]):
                        r = real(g[0])
                        if r:
                            todo.append(r)
                    elif len(g) > 1:
                        deferred.append(g)
            while deferred and not todo:
                g = deferred.pop(0)
                if any(present(a) for a in g):
                    continue
                # The alternative this (Debian 12) machine chose, else the
                # first one that exists, as apt does.
                choice = [a for a in g if a in self.installed] + g
                for a in choice:
                    r = real(a)
                    if r:
                        todo.append(r)
                        break
        return have

    def base_image(self):
        req = sorted(n for n, v in self.installed.items() if v["prio"] == "required")
        prio = self.priorities(req)
        roots = [n for n in req if prio.get(n) == "required"]
        if not roots:
            fail("APT", "apt-cache", "apt's package lists know none of the installed Priority: "
                 "required packages: run apt-get update")
        return self.closure(roots + BASE_EXTRA_ROOTS)

    def owners_map(self):
        if self._owners is None:
            m = {}
            for lst in glob.glob("/var/lib/dpkg/info/*.list"):
                pkg = os.path.basename(lst)[:-5].split(":")[0]
                with open(lst, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        m.setdefault(line.rstrip("\n"), set()).add(pkg)
            self._owners = m
        return self._owners

    def owner_hops(self, path):
        """Owners of path and of every symlink hop to the real file, one set
        per hop that some package ships, each hop also tried with /lib, /bin,
        /sbin <-> /usr/... (merged-usr: dpkg records the path the package
        ships, which may be either)."""
        m = self.owners_map()
        hops, p = [path], path
        for _ in range(40):
            if not os.path.islink(p):
                break
            p = os.path.normpath(os.path.join(os.path.dirname(p), os.readlink(p)))
            hops.append(p)
        hops.append(os.path.realpath(path))
        res = []
        for h in hops:
            variants = {h, os.path.join(os.path.realpath(os.path.dirname(h)), os.path.basename(h))}
            for v in list(variants):
                for top in ("/lib", "/lib64", "/bin", "/sbin", "/lib32", "/libx32"):
                    if v.startswith(top + "/"):
                        variants.add("/usr" + v)
                    if v.startswith("/usr" + top + "/"):
                        variants.add(v[4:])
            found = set()
            for v in variants:
                found |= m.get(v, set())
            if found and found not in res:
                res.append(found)
        return res

    def owners(self, path):
        return set().union(*self.owner_hops(path))

    def missing(self, path, have):
        """The owners of the first hop of path that have does not provide."""
        for hop in self.owner_hops(path):
            if not hop & have:
                return hop
        return None


# --------------------------------------------------------------------------
# lint

UNTAGGED_OK = {"scratch"}


def lint(path, stages, bin_help, k8s):
    base = os.path.basename(path)
    names = set()
    for st in stages:
        img = st.image
        if img.startswith("$"):
            fail("DL3006", st.from_instr.where, f"FROM {img}: the checker needs a literal image")
        elif img in names or img in UNTAGGED_OK:
            pass
        elif "@sha256:" in img:
            pass
        else:
            tag = img.rsplit("/", 1)[-1].partition(":")[2]
            if not tag:
                fail("DL3006", st.from_instr.where, f"FROM {img}: pin a tag (e.g. debian:12-slim)")
            elif tag == "latest":
                fail("DL3007", st.from_instr.where, f"FROM {img}: :latest is not a pin")
        if st.name:
            names.add(st.name)
        for kw in ("CMD", "ENTRYPOINT", "HEALTHCHECK"):
            if len(st.all(kw)) > 1:
                fail("DL4003", st.all(kw)[-1].where, f"more than one {kw} in a stage")
        for i in st.instrs:
            check_instr(st, stages, i)
    final = stages[-1]

    # USER: final stage, not root, numeric (runAsNonRoot can verify it), the
    # uid the image creates.
    user = final.last("USER")
    uid = gid = None
    if not user:
        fail("DL3002", f"{base}:{final.from_instr.line}", "the final stage has no USER: it would run as root")
    else:
        u, _, g = user.rest.strip().partition(":")
        if u in ("root", "0") or g in ("root", "0"):
            fail("DL3002", user.where, f"USER {user.rest}: the final stage must not run as root")
        elif not (u.isdigit() and (g == "" or g.isdigit())):
            fail("MM002", user.where, f"USER {user.rest}: use numeric uid:gid so Kubernetes "
                 "runAsNonRoot can verify it")
        else:
            uid, gid = int(u), int(g) if g else None
            made = created_ids(final)
            if ("uid", uid) not in made:
                fail("MM003", user.where, f"USER {uid}: no useradd --uid {uid} in the final stage")
            if gid is not None and ("gid", gid) not in made:
                fail("MM003", user.where, f"USER group {gid}: no groupadd --gid {gid} in the final stage")

    ep = final.last("ENTRYPOINT")
    cmd = final.last("CMD")
    ep_argv = ep.json_form() if ep else None
    cmd_argv = (cmd.json_form() or []) if cmd else []
    copied = final_copies(final, stages)
    dests = {d for d, _, _ in copied}
    if not ep_argv:
        fail("MM007", f"{base}:{final.from_instr.line}", "the final stage needs an exec-form ENTRYPOINT")
        return None
    if ep_argv[0] not in dests:
        fail("MM007", ep.where, f"ENTRYPOINT {ep_argv[0]} is not a file the stage COPYs from the build")
    hc = final.last("HEALTHCHECK")
    hc_argv = None
    if hc and hc.rest.strip().upper() != "NONE":
        _, args = hc.flags_and_args()
        rest = " ".join(args)
        if not rest.upper().startswith("CMD "):
            fail("MM007", hc.where, "HEALTHCHECK needs CMD [...]")
        else:
            hc_argv = Instr(path, hc.line, "CMD", rest[4:]).json_form()
            if not hc_argv:
                fail("DL3025", hc.where, "HEALTHCHECK CMD must be exec (JSON) form")
            elif hc_argv[0] not in dests:
                fail("MM007", hc.where, f"HEALTHCHECK runs {hc_argv[0]}, which the image does not hold")

    argv = ep_argv[1:] + cmd_argv
    binary = os.path.basename(ep_argv[0])
    cw = (cmd or ep).where
    # CMD flags must be flags the binary knows.
    sub = [a for a in argv if not a.startswith("-")]
    help_text = bin_help(ep_argv[0], sub)
    for a in argv:
        if a.startswith("--"):
            flag = a[2:].split("=", 1)[0]
            if not re.search(r"--" + re.escape(flag) + r"([\s=(]|$)", help_text):
                fail("MM006", cw,
                     f"{a}: {binary} {' '.join(sub)} --help has no --{flag}")
    if hc_argv:
        ht = bin_help(hc_argv[0], [])
        for a in hc_argv[1:]:
            if a.startswith("--"):
                flag = a[2:].split("=", 1)[0]
                if not re.search(r"--" + re.escape(flag) + r"([\s=(]|$)", ht):
                    fail("MM006", hc.where, f"{a}: {os.path.basename(hc_argv[0])} --help has no --{flag}")

    # Ports: EXPOSE == ports in the CMD's listen flags == the binary's defaults
    # == containerPorts of the k8s containers running this image.
    exposed = set()
    for e in final.all("EXPOSE"):
        for p in e.rest.split():
            num = p.split("/")[0]
            if not num.isdigit():
                fail("MM005", e.where, f"EXPOSE {p}: not a port number")
            else:
                exposed.add(int(num))
    listen = {}
    for a in argv:
        m = re.match(r"^--(\w*listen)=(.*):(\d+)$", a)
        if m:
            listen[m.group(1)] = int(m.group(3))
    defaults = {}
    for flag in listen:
        # The flag's own entry: from its definition line to the next flag's.
        m = re.search(r"^\s*--" + flag + r"[= (](.*?)(?=^\s*--\w+[= (]|\Z)", help_text, re.S | re.M)
        d = re.search(r"default:? \"?[^\s\"]*:(\d+)", m.group(1)) if m else None
        if d:
            defaults[flag] = int(d.group(1))
        else:
            fail("MM005", cw, f"{binary} --help shows no default port for --{flag}")
    expose_where = final.all("EXPOSE")[-1].where if final.all("EXPOSE") else base
    if exposed != set(listen.values()):
        fail("MM005", expose_where, f"EXPOSE {sorted(exposed)} != the ports CMD listens on "
             f"{sorted(set(listen.values()))}")
    if set(defaults.values()) != set(listen.values()):
        fail("MM005", cw, f"CMD ports {listen} != {binary}'s default ports {defaults}")

    # The data dirs the CMD names are VOLUMEs.
    vols = set()
    for v in final.all("VOLUME"):
        arr = v.json_form()
        vols |= set(arr if arr is not None else v.rest.split())
    for a in argv:
        m = re.match(r"^--(data_dir|swap_dir)=(.+)$", a)
        if m and m.group(2) not in vols:
            fail("MM008", cw, f"{a}: make {m.group(2)} a VOLUME")
    if k8s is not None:
        check_k8s(binary, exposed, uid, gid, vols, dests, k8s, expose_where)
    return {"argv": [ep_argv[0]] + argv, "hc": hc_argv, "binary": binary,
            "listen": listen, "copied": copied, "labels": labels(final)}


def labels(stage):
    res = {}
    for lab in stage.all("LABEL"):
        for t in shlex.split(lab.rest):
            k, _, v = t.partition("=")
            res[k] = v
    return res


def created_ids(stage):
    made = set()
    for r in stage.all("RUN"):
        for toks in simple_commands(r.rest):
            cmd = os.path.basename(toks[0])
            for i, t in enumerate(toks[:-1]):
                if not toks[i + 1].isdigit():
                    continue
                if cmd in ("useradd", "adduser") and t in ("--uid", "-u"):
                    made.add(("uid", int(toks[i + 1])))
                if cmd in ("useradd", "adduser") and t in ("--gid", "-g"):
                    made.add(("user-gid", int(toks[i + 1])))
                if cmd in ("groupadd", "addgroup") and t in ("--gid", "-g"):
                    made.add(("gid", int(toks[i + 1])))
    return made


def final_copies(final, stages):
    """[(dest file, source stage, source path)] of COPY --from in a stage."""
    res = []
    for c in final.all("COPY"):
        flags, args = c.flags_and_args()
        if "from" not in flags or len(args) < 2:
            continue
        src_stage = next((s for s in stages if s.name == flags["from"] or str(s.index) == flags["from"]), None)
        dest = args[-1]
        if not dest.startswith("/"):
            dest = os.path.join(final.workdir_at(c), dest)
        for s in args[:-1]:
            d = os.path.join(dest, os.path.basename(s)) if (dest.endswith("/") or len(args) > 2) else dest
            res.append((os.path.normpath(d), src_stage, s))
    return res


def check_instr(st, stages, i):
    kw = i.keyword
    if kw == "ADD":
        fail("DL3020", i.where, "use COPY, not ADD (ADD fetches URLs and unpacks archives)")
    elif kw == "MAINTAINER":
        fail("DL4000", i.where, "MAINTAINER is deprecated; use a LABEL")
    elif kw == "WORKDIR":
        if not i.rest.strip().startswith("/"):
            fail("DL3000", i.where, f"WORKDIR {i.rest}: use an absolute path")
    elif kw in ("CMD", "ENTRYPOINT"):
        if i.json_form() is None:
            fail("DL3025", i.where, f"{kw} must be exec (JSON) form so signals reach the binary")
    elif kw == "COPY":
        flags, args = i.flags_and_args()
        if "from" in flags:
            prev = stages[:st.index]
            if not any(s.name == flags["from"] or str(s.index) == flags["from"] for s in prev):
                fail("DL3022", i.where, f"COPY --from={flags['from']}: no earlier stage of that name")
    elif kw == "USER":
        pass
    elif kw == "ENV":
        if "DEBIAN_FRONTEND" in i.rest:
            fail("MM012", i.where, "set DEBIAN_FRONTEND with ARG, not ENV (it would stay in the image)")
    elif kw == "RUN":
        if i.json_form() is not None:
            return
        if i.rest.lstrip().startswith("<<"):
            fail("PARSE", i.where, "RUN heredocs are not supported by this checker")
            return
        cmds = simple_commands(i.rest)
        words = [os.path.basename(t[0]) for t in cmds]
        if "sudo" in words:
            fail("DL3004", i.where, "do not use sudo (the build runs as root; the final USER is not)")
        if "cd" in words:
            fail("DL3003", i.where, "use WORKDIR instead of cd")
        uses_apt = False
        for toks in cmds:
            name = os.path.basename(toks[0])
            if name == "apt":
                fail("DL3027", i.where, "use apt-get, not apt, in scripts")
            if name not in ("apt-get", "apt"):
                continue
            uses_apt = True
            verbs = [t for t in toks[1:] if not t.startswith("-")]
            if verbs and verbs[0] in ("upgrade", "dist-upgrade", "full-upgrade"):
                fail("DL3005", i.where, f"apt-get {verbs[0]}: rebuild on a newer base image instead")
        for opts, pkgs in apt_installs(i):
            short = "".join(o[1:] for o in opts if re.match(r"^-[A-Za-z]+$", o))
            if not ("y" in short or any(o in ("--yes", "--assume-yes") for o in opts)):
                fail("DL3014", i.where, "apt-get install needs -y")
            if "--no-install-recommends" not in opts:
                fail("DL3015", i.where, "apt-get install needs --no-install-recommends")
            if not pkgs:
                fail("DL3014", i.where, "apt-get install without packages")
            for p in pkgs:
                if "$" in p or "=" in p:
                    fail("MM009", i.where, f"{p}: the checker needs literal, unversioned package names")
        if uses_apt:
            if not any(os.path.basename(t[0]) == "apt-get" and "update" in t for t in cmds) \
                    and apt_installs(i):
                fail("DL3009", i.where, "run apt-get update in the same RUN as apt-get install")
            if not re.search(r"\brm\s+-(rf|fr|r)\s+/var/lib/apt/lists(/\*?)?(\s|$)", i.rest):
                fail("DL3009", i.where, "remove /var/lib/apt/lists/* in the same RUN as apt-get")
        shellcheck(i)


SHELLCHECK_CACHE = {}


def shellcheck(i):
    """shellcheck -s sh (the RUN shell is /bin/sh, dash) of a RUN line."""
    script = "#!/bin/sh\n" + i.rest + "\n"
    if script not in SHELLCHECK_CACHE:
        r = run(["shellcheck", "-s", "sh", "-f", "gcc", "-"], input=script)
        msgs = []
        if r.returncode != 0:
            for line in r.stdout.splitlines():
                m = re.match(r"^-:(\d+):(\d+): (\w+): (.*)$", line)
                msgs.append(m.group(4) if m else line)
            if not msgs:
                msgs.append(f"failed: {r.stderr.strip()}")
        SHELLCHECK_CACHE[script] = msgs
    for msg in SHELLCHECK_CACHE[script]:
        fail("SC", i.where, f"shellcheck: {msg}")


# PATH of the debian:12 image (its ENV PATH), for a bare k8s command name.
IMAGE_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]


def check_k8s(binary, exposed, uid, gid, vols, dests, k8s, where):
    """The rendered overlays run this image the way the image expects."""
    for overlay, containers in sorted(k8s.items()):
        mine = [c for c in containers
                if c["image"].split("@")[0].rsplit("/", 1)[-1].split(":")[0] == binary]
        if not [c for c in mine if not c.get("init")]:
            fail("MM005", where, f"k8s {overlay}: no container runs image {binary}")
        for c in mine:
            what = f"k8s {overlay} {c['kind']}/{c['name']} container {c['container']}"
            ru, rg = c.get("runAsUser"), c.get("runAsGroup")
            if uid is not None and ru is not None and ru != uid:
                fail("MM003", where, f"{what}: runAsUser {ru} != image USER {uid}")
            if gid is not None and rg is not None and rg != gid:
                fail("MM003", where, f"{what}: runAsGroup {rg} != image group {gid}")
            cmd = c.get("command")
            if cmd:
                exe = cmd[0]
                ok = exe in dests if exe.startswith("/") else \
                    any(os.path.join(d, exe) in dests for d in IMAGE_PATH)
                if not ok:
                    fail("MM007", where, f"{what}: command {exe} is not in the image "
                         f"(it holds {sorted(dests)}, PATH {':'.join(IMAGE_PATH)})")
            if c.get("init"):
                continue
            ports = {p["containerPort"] for p in c.get("ports", [])}
            if ports != exposed:
                fail("MM005", where, f"{what}: ports {sorted(ports)} != EXPOSE {sorted(exposed)}")
            for v in sorted(vols):
                if v not in c.get("mounts", []):
                    fail("MM008", where, f"{what}: mounts no volume at the image's VOLUME {v}")


# --------------------------------------------------------------------------
# runtime

def ldd(binary):
    r = run(["ldd", binary])
    libs = []
    if r.returncode != 0:
        fail("RT001", binary, f"ldd failed: {r.stderr.strip()}")
        return libs
    for line in r.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            fail("RT001", binary, f"ldd: {line}")
        m = re.match(r"^\S+ => (/\S+)", line) or re.match(r"^(/\S+) \(", line)
        if m:
            libs.append(m.group(1))
    return libs


def check_runtime(path, stages, build_dir, db, base):
    final = stages[-1]
    base_name = os.path.basename(path)
    pkgs = stage_apt_packages(final)
    where = next((r.where for r in final.all("RUN") if apt_installs(r)), f"{base_name}:{final.from_instr.line}")
    for p in pkgs:
        if not db.known(p):
            fail("RT004", where, f"{p}: no such Debian 12 package")
    have = db.closure(pkgs) | base
    needed = {}   # package -> [(binary, library)]
    missing = {}  # "pkg or pkg" -> [(binary, library)]
    binaries = []
    for dest, src_stage, src in final_copies(final, stages):
        rel = build_rel(src_stage, src)
        if rel is None:
            continue
        binaries.append((dest, os.path.join(build_dir, rel)))
    if not binaries:
        fail("RT001", where, "the final stage copies no binary from the build stage")
    for dest, b in binaries:
        if not os.path.exists(b):
            fail("RT001", where, f"{b} (for {dest}) does not exist in the build dir")
            continue
        for lib in ldd(b):
            owners = db.owners(lib)
            if not owners:
                fail("RT002", where, f"{os.path.basename(b)} loads {lib}, which no Debian package owns")
                continue
            for o in owners:
                needed.setdefault(o, []).append((os.path.basename(b), lib))
            lack = db.missing(lib, have)
            if lack:
                missing.setdefault(" or ".join(sorted(lack)), []).append((os.path.basename(b), lib))
    nlibs = len({lib for v in needed.values() for _, lib in v})
    note(f"runtime: {len(binaries)} binaries load {nlibs} libraries from {len(needed)} packages; "
         f"image = debian:12 base ({len(base)} packages) + {len(pkgs)} listed "
         f"(closure {len(have - base)} more)")
    for pkg, uses in sorted(missing.items()):
        libs = sorted({os.path.basename(lib) for _, lib in uses})
        bins = sorted({b for b, _ in uses})
        shown = ", ".join(libs[:3]) + (f" and {len(libs) - 3} more" if len(libs) > 3 else "")
        fail("RT003", where, f"{'/'.join(bins)} load(s) {shown}, not in the image: add package "
             f"{pkg} to the runtime apt-get install")
    for p in pkgs:
        if p in RUNTIME_EXTRA:
            continue
        if p in base:
            fail("RT005", where, f"{p} is already in the debian:12 base image: drop it")
        elif p not in needed:
            fail("RT005", where, f"{p}: no binary of this image loads a library of it "
                 "(unneeded; or add it to RUNTIME_EXTRA with a reason)")
    # Programs the final stage RUNs come from its packages or the base.
    for r in final.all("RUN"):
        for toks in simple_commands(r.rest):
            check_program(toks[0], have, r.where, db, "runtime")
    return sorted(needed), sorted(p for p in needed if p not in base)


def check_program(word, have, where, db, what):
    if word in SHELL_BUILTINS or word.startswith("$"):
        return
    exe = word if word.startswith("/") else shutil.which(word)
    if not exe:
        fail("MM011", where, f"{word}: not a program on this Debian 12 machine")
        return
    owners = db.owners(exe)
    if not owners or db.missing(exe, have):
        fail("MM011", where, f"{word} ({', '.join(sorted(owners)) or 'no package'}) is not in the "
             f"{what} stage's packages or the base image")


def build_rel(src_stage, src):
    """A COPY --from source path relative to the stage's CMake build dir."""
    if src_stage is None:
        return None
    cm = cmake_invocation(src_stage)
    if not cm:
        return None
    bdir = cm["B"]
    p = os.path.normpath(src)
    if not p.startswith(bdir + "/"):
        fail("BS003", src_stage.from_instr.where, f"COPY --from source {src} is not inside the "
             f"build stage's build dir {bdir}")
        return None
    return p[len(bdir) + 1:]


# --------------------------------------------------------------------------
# build stage

def cmake_invocation(stage):
    for r in stage.all("RUN"):
        wd = stage.workdir_at(r)
        res = None
        for toks in simple_commands(r.rest):
            name = os.path.basename(toks[0])
            if name == "cmake" and "-S" in toks and "-B" in toks:
                res = {"instr": r, "wd": wd, "defs": {}, "G": None}
                res["S"] = os.path.normpath(os.path.join(wd, toks[toks.index("-S") + 1]))
                res["B"] = os.path.normpath(os.path.join(wd, toks[toks.index("-B") + 1]))
                if "-G" in toks:
                    res["G"] = toks[toks.index("-G") + 1]
                for t in toks:
                    if t.startswith("-D"):
                        k, _, v = t[2:].partition("=")
                        res["defs"][k.split(":")[0]] = v
            if name == "ninja" and res is not None:
                args = toks[1:]
                cdir, targets, i = None, [], 0
                while i < len(args):
                    if args[i] == "-C":
                        cdir = os.path.normpath(os.path.join(wd, args[i + 1]))
                        i += 2
                        continue
                    if args[i] in ("-j", "-l", "-k"):
                        i += 2
                        continue
                    if not args[i].startswith("-"):
                        targets.append(args[i])
                    i += 1
                res["ninja_dir"], res["targets"] = cdir, targets
        if res:
            return res
    return None


def read_cache(build_dir):
    cache = {}
    with open(os.path.join(build_dir, "CMakeCache.txt"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^([^#/][^:=]*):([A-Z]+)=(.*)$", line.rstrip("\n"))
            if m:
                cache[m.group(1)] = (m.group(2), m.group(3))
    return cache


def optional_fallback_ok(source_dir, var):
    for cml in source_files(source_dir, "CMakeLists.txt"):
        with open(cml, encoding="utf-8") as f:
            text = f.read()
        m = re.search(r"if\(NOT " + re.escape(var) + r"\)(.*?)endif\(\)", text, re.S)
        if m and "FATAL_ERROR" not in m.group(1):
            return True
    return False


def check_build(path, stages, source_dir, build_dir, db, base, install_deps):
    base_name = os.path.basename(path)
    bstage = None
    for st in stages[:-1]:
        if cmake_invocation(st):
            bstage = st
    if bstage is None:
        fail("BS001", base_name, "no build stage runs cmake -S ... -B ... && ninja -C ...")
        return
    cm = cmake_invocation(bstage)
    w = cm["instr"].where
    cache = read_cache(build_dir)
    # Same configuration as the build dir under test.
    if cm["G"] != cache.get("CMAKE_GENERATOR", ("", ""))[1]:
        fail("BS002", w, f"-G {cm['G']} != the build dir's generator {cache.get('CMAKE_GENERATOR')}")
    for k, v in cm["defs"].items():
        have = cache.get(k, (None, None))[1]
        if have != v:
            fail("BS002", w, f"-D{k}={v} but the build dir under test has {k}={have}")
    if cm.get("ninja_dir") != cm["B"]:
        fail("BS002", w, f"ninja -C {cm.get('ninja_dir')} is not the cmake -B dir {cm['B']}")
    copies = [c for c in stages[-1].all("COPY") if c.flags_and_args()[0].get("from") in (bstage.name, str(bstage.index))]
    src_copy = [c for c in bstage.all("COPY") if c.flags_and_args()[1][:1] == ["."]]
    if not src_copy or os.path.normpath(os.path.join(bstage.workdir_at(src_copy[0]),
                                                      src_copy[0].flags_and_args()[1][-1])) != cm["S"]:
        fail("BS002", w, f"the build stage does not COPY the context (.) to the cmake -S dir {cm['S']}")

    # Targets exist; COPY --from paths are their outputs.
    targets_out = run(["ninja", "-C", build_dir, "-t", "targets", "all"]).stdout
    known = {line.split(":")[0] for line in targets_out.splitlines()}
    outputs = set()
    for t in cm.get("targets", []):
        if t not in known:
            fail("BS003", w, f"ninja target {t} does not exist in {build_dir}")
            continue
        q = run(["ninja", "-C", build_dir, "-t", "query", t]).stdout
        m = re.search(r"input: phony\n((?:    .*\n)+)", q)
        outputs |= {x.strip() for x in m.group(1).splitlines()} if m else {t}
    if not cm.get("targets"):
        fail("BS003", w, "ninja builds no explicit target")
    for c in copies:
        _, args = c.flags_and_args()
        for s in args[:-1]:
            rel = build_rel(bstage, s)
            if rel is not None and rel not in outputs:
                fail("BS003", c.where, f"COPY --from {s}: CMake puts no output of the built targets "
                     f"{cm.get('targets')} at {rel} (outputs: {sorted(outputs)})")

    # The apt list against scripts/install-deps.
    pkgs = stage_apt_packages(bstage)
    aw = next((r.where for r in bstage.all("RUN") if apt_installs(r)), w)
    pset = set(pkgs)
    for p in pkgs:
        if p not in install_deps:
            fail("BS004", aw, f"{p} is in the build stage but not in scripts/install-deps --list")
    excluded = dict(BUILD_EXCLUDED, **BUILD_EXCLUDED_SOMETIMES)
    for p in sorted(install_deps - pset):
        if p not in excluded:
            fail("BS004", aw, f"scripts/install-deps lists {p}: add it to the build stage, or to "
                 "BUILD_EXCLUDED in tests/deploy/docker_check.py with the reason the build needs it not")
    for p in sorted(excluded):
        if p not in install_deps and p in BUILD_EXCLUDED:
            fail("BS004", aw, f"BUILD_EXCLUDED names {p}, which scripts/install-deps no longer lists")
        elif p in pset:
            fail("BS004", aw, f"{p} is both installed by the build stage and in BUILD_EXCLUDED")
    for var in BUILD_OPTIONAL_CACHE:
        if not optional_fallback_ok(source_dir, var):
            fail("BS005", aw, f"BUILD_OPTIONAL_CACHE: no CMakeLists.txt accepts {var} missing "
                 "(if(NOT ...) without FATAL_ERROR)")

    # Evidence: the files the real build read.
    evidence = build_evidence(source_dir, build_dir, cm.get("targets", []), cache)
    have = db.closure(pkgs) | base
    used = {}
    for f, why in evidence:
        owners = db.owners(f)
        if not owners:
            fail("BS006", aw, f"the build read {f} ({why}), which no Debian package owns")
            continue
        for o in owners:
            used.setdefault(o, (f, why))
        lack = db.missing(f, have)
        if lack:
            fail("BS006", aw, f"the build read {f} ({why}): add {' or '.join(sorted(lack))} "
                 "to the build stage's apt-get install")
    note(f"build: {len(evidence)} system files read by the build (targets {' '.join(cm.get('targets', []))}) "
         f"come from {len(used)} packages; the build stage installs {len(pkgs)} (+closure)")
    for p in sorted(excluded):
        if p in used and p not in have:
            f, why = used[p]
            fail("BS004", aw, f"BUILD_EXCLUDED {p} is needed: the build read {f} ({why})")
    for p in pkgs:
        if p in BUILD_EXTRA:
            continue
        if not db.closure([p]) & set(used):
            fail("BS007", aw, f"{p}: the build reads no file of it or of its dependencies "
                 "(drop it, or add it to BUILD_EXTRA with a reason)")
    for p in BUILD_EXTRA:
        if p not in pset:
            fail("BS007", aw, f"BUILD_EXTRA names {p}, which the build stage does not install")
    for r in bstage.all("RUN"):
        for toks in simple_commands(r.rest):
            check_program(toks[0], have, r.where, db, "build")


EVIDENCE_CACHE = {}


def build_evidence(source_dir, build_dir, targets, cache):
    """(absolute file, reason) of every system file the build read."""
    key = tuple(targets)
    if key not in EVIDENCE_CACHE:
        EVIDENCE_CACHE[key] = _build_evidence(source_dir, build_dir, targets, cache)
    return EVIDENCE_CACHE[key]


def _build_evidence(source_dir, build_dir, targets, cache):
    mine = (os.path.realpath(source_dir) + "/", os.path.realpath(build_dir) + "/")
    raw = {}

    def add(p, why):
        if p.startswith("/") and not p.startswith(mine):
            raw.setdefault(os.path.normpath(p), why)

    for k, (typ, v) in cache.items():
        if typ == "FILEPATH" and k not in BUILD_OPTIONAL_CACHE:
            add(v, f"CMakeCache {k}")
    with open(os.path.join(build_dir, "build.ninja"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("build build.ninja: RERUN_CMAKE"):
                for p in line.split("|", 1)[1].split():
                    add(p, "read by cmake's configure")
    if targets:
        inputs = run(["ninja", "-C", build_dir, "-t", "inputs"] + targets).stdout.split()
        for p in inputs:
            add(p, "a linked input of " + "/".join(targets))
        objs = [p for p in inputs if p.endswith(".o")]
        if objs:
            out = run(["ninja", "-C", build_dir, "-t", "deps"] + objs).stdout
            for line in out.splitlines():
                if line.startswith("    "):
                    add(line.strip(), "a header the compiler read")
        for cmd in run(["ninja", "-C", build_dir, "-t", "commands"] + targets).stdout.splitlines():
            try:
                toks = shlex.split(cmd)
            except ValueError:
                toks = cmd.split()
            for t in toks:
                add(t.rsplit("=", 1)[-1], "a program or file a build command names")
    ev = {}
    for p, why in raw.items():
        if os.path.isfile(p) and not os.path.realpath(p).startswith(mine):
            ev[p] = why
    return sorted(ev.items())


def source_files(source_dir, name):
    """Files called name in the source tree (not in build dirs, .git, npm trees)."""
    for root, dirs, files in os.walk(source_dir):
        dirs[:] = [d for d in dirs if not (d.startswith("build") or d.startswith("bazel-")
                                            or d in (".git", "node_modules"))]
        if name in files:
            yield os.path.join(root, name)


# --------------------------------------------------------------------------
# smoke: the image's own command line, on this machine

def smoke(path, info, build_dir, stages):
    base = os.path.basename(path)
    copied = {d: build_rel(s, src) for d, s, src in info["copied"]}
    exe = os.path.join(build_dir, copied.get(info["argv"][0]) or "")
    if not os.path.isfile(exe):
        fail("SMOKE", base, f"{info['argv'][0]}: not built at {exe}")
        return
    tmp = tempfile.mkdtemp(prefix="memmgr-docker-smoke-")
    args = []
    for a in info["argv"][1:]:
        m = re.match(r"^--(\w+)=(.*)$", a)
        if m and re.match(r"^[^:/]*:\d+$", m.group(2)):
            a = f"--{m.group(1)}=127.0.0.1:0"
        elif m and m.group(1) in ("data_dir", "swap_dir"):
            a = f"--{m.group(1)}={tmp}/data"
        args.append(a)
    args += [f"--port_file={tmp}/port", f"--metrics_port_file={tmp}/mport"]
    if info["binary"] == "memmgr-worker" and not any(a.startswith("--memory=") for a in args):
        args.append("--memory=64M")  # keep the frame pool small on a test machine
    env = dict(os.environ, TMPDIR=tmp)
    log = open(os.path.join(tmp, "log"), "w")
    proc = subprocess.Popen([exe] + args, stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        port = mport = None
        deadline = time.time() + 20
        while time.time() < deadline and proc.poll() is None:
            try:
                port = int(open(f"{tmp}/port").read().strip())
                mport = int(open(f"{tmp}/mport").read().strip())
                break
            except (OSError, ValueError):
                time.sleep(0.1)
        if port is None or mport is None:
            log.flush()
            fail("SMOKE", base, f"{info['binary']} {' '.join(args)} did not start: "
                 f"{open(os.path.join(tmp, 'log')).read()[-800:]}")
            return
        hc = info["hc"]
        if hc:
            grpc_port = info["listen"].get("listen")
            hc_args = [re.sub(r"(=|^)[^=:/]*:" + str(grpc_port) + "$", rf"\g<1>127.0.0.1:{port}", a)
                       for a in hc[1:]]
            hexe = os.path.join(build_dir, copied.get(hc[0]) or "")
            r = run([hexe] + hc_args, timeout=30)
            if r.returncode != 0:
                fail("SMOKE", base, f"HEALTHCHECK {' '.join(hc_args)} against the running "
                     f"{info['binary']} exited {r.returncode}: {r.stderr.strip()[-400:]}")
            else:
                note(f"smoke: HEALTHCHECK {os.path.basename(hc[0])} {' '.join(hc_args)}: exit 0")
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
            if rc != 0:
                fail("SMOKE", base, f"{info['binary']} exited {rc} on SIGTERM")
            else:
                note(f"smoke: {info['binary']} {' '.join(args)} served gRPC :{port}, "
                     f"metrics :{mport}; SIGTERM: exit 0")
        except subprocess.TimeoutExpired:
            fail("SMOKE", base, f"{info['binary']} did not stop within 30 s of SIGTERM")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# .dockerignore

def ignore_regex(pattern):
    """A .dockerignore pattern (Go filepath.Match plus **) as a regex."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = pattern.find("]", i)
            if j < 0:
                out += re.escape(c)
            else:
                body = pattern[i + 1:j]
                if body.startswith("^") or body.startswith("!"):
                    body = "^" + body[1:]
                out += "[" + body + "]"
                i = j
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile("^" + out + "$")


def read_dockerignore(path):
    rules = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            neg = line.startswith("!")
            if neg:
                line = line[1:].strip()
            line = os.path.normpath(line).lstrip("/")
            rules.append((neg, ignore_regex(line)))
    return rules


def ignored(rules, rel):
    """moby's patternmatcher: a path is excluded if the last rule matching it
    or one of its parent directories is not a `!` exception."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    res = False
    for neg, rx in rules:
        if any(rx.match(p) for p in prefixes):
            res = not neg
    return res


def build_source_files(source_dir, build_dir):
    """Files of the source tree the CMake build reads (relative paths):
    cmake's configure inputs, every target's inputs, every recorded header."""
    needed = set()
    with open(os.path.join(build_dir, "build.ninja"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("build build.ninja: RERUN_CMAKE"):
                needed |= set(line.split("|", 1)[1].split())
    needed |= set(run(["ninja", "-C", build_dir, "-t", "inputs", "all"]).stdout.split())
    for line in run(["ninja", "-C", build_dir, "-t", "deps"]).stdout.splitlines():
        if line.startswith("    "):
            needed.add(line.strip())
    src = os.path.realpath(source_dir) + "/"
    bld = os.path.realpath(build_dir) + "/"
    res = set()
    for p in needed:
        ap = os.path.realpath(p if p.startswith("/") else os.path.join(build_dir, p))
        if ap.startswith(src) and not ap.startswith(bld):
            res.add(ap[len(src):])
    return sorted(res)


IGNORE_MUST = ["build/CMakeCache.txt", "build-asan/build.ninja", "build-tsan/x.o",
               "bazel-bin/server/memmgr-server", "bazel-out/k8-fastbuild/x", "bazel-main/WORKSPACE",
               ".git/HEAD", ".git/objects/pack/x.pack", "node_modules/yaml/package.json",
               "tests/deploy/node_modules/yaml/package.json"]


def check_dockerignore(path, sources):
    where = os.path.basename(path)
    if not os.path.isfile(path):
        fail("DI001", where, "missing")
        return
    rules = read_dockerignore(path)
    for rel in IGNORE_MUST:
        if not ignored(rules, rel):
            fail("DI001", where, f"does not exclude {rel}")
    # No file the CMake build reads may be excluded.
    for rel in sources:
        if ignored(rules, rel):
            fail("DI002", where, f"excludes {rel}, which the CMake build reads")
    if len(sources) < 10:
        fail("DI002", where, f"only {len(sources)} source files found in the build's inputs: wrong build dir?")
    note(f"{where}: {len(rules)} rules exclude the {len(IGNORE_MUST)} probe paths and none of the "
         f"{len(sources)} source files the CMake build reads")


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--install-deps-list", help="file with scripts/install-deps --list output "
                    "(default: run the script)")
    ap.add_argument("--k8s", help="JSON {overlay: [container facts]} from docker_k8s_facts.js")
    ap.add_argument("--only", default="lint,runtime,build,smoke",
                    help="comma list of lint,runtime,build,smoke,dockerignore")
    ap.add_argument("--dockerignore", action="append",
                    help="a .dockerignore to check (repeatable; default: SOURCE's)")
    ap.add_argument("--apt-cache", help="JSON file caching apt-cache answers between runs")
    ap.add_argument("--print-runtime", action="store_true",
                    help="print the packages the binaries need beyond the base image")
    ap.add_argument("dockerfiles", nargs="*")
    a = ap.parse_args()
    only = set(a.only.split(","))
    source_dir, build_dir = os.path.abspath(a.source), os.path.abspath(a.build)
    if "dockerignore" in only:
        sources = build_source_files(source_dir, build_dir)
        for path in a.dockerignore or [os.path.join(source_dir, ".dockerignore")]:
            check_dockerignore(path, sources)
    db = base = None
    if only & {"runtime", "build"}:
        db = PackageDB()
        db.load_cache(a.apt_cache)
        base = db.base_image()
    if a.install_deps_list:
        install_deps = set(open(a.install_deps_list).read().split())
    elif "build" in only:
        install_deps = set(run([os.path.join(source_dir, "scripts", "install-deps"), "--list"]).stdout.split())
    k8s = json.load(open(a.k8s)) if a.k8s else None
    version = None
    m = re.search(r"project\(memmgr VERSION ([0-9.]+)", open(os.path.join(source_dir, "CMakeLists.txt")).read())
    if m:
        version = m.group(1)
    help_cache = {}
    current = {}

    def bin_help(dest, sub):
        """--help of a binary the image holds (dest), run from the build dir."""
        rel = None
        stages = current["stages"]
        for d, s, src in final_copies(stages[-1], stages):
            if d == dest:
                rel = build_rel(s, src)
        exe = os.path.join(build_dir, rel) if rel else None
        if not exe or not os.path.isfile(exe):
            return ""
        key = (exe, tuple(sub))
        if key not in help_cache:
            r = run([exe] + list(sub) + ["--help"], timeout=30)
            help_cache[key] = r.stdout + r.stderr
        return help_cache[key]

    for df in a.dockerfiles:
        n0 = len(failures)
        stages = parse_dockerfile(df)
        if not stages:
            continue
        current["stages"] = stages
        info = None
        if only & {"lint", "smoke"}:
            info = lint(df, stages, bin_help, k8s)
            if info and version and info["labels"].get("org.opencontainers.image.version") != version:
                fail("MM010", os.path.basename(df), "LABEL org.opencontainers.image.version="
                     f"{info['labels'].get('org.opencontainers.image.version')} != CMake project "
                     f"VERSION {version}")
        if "runtime" in only:
            needed, extra = check_runtime(df, stages, build_dir, db, base)
            if a.print_runtime:
                print(f"{df}: packages the binaries load beyond debian:12: {' '.join(extra)}")
        if "build" in only:
            check_build(df, stages, source_dir, build_dir, db, base, install_deps)
        if "smoke" in only and info and len(failures) == n0:
            smoke(df, info, build_dir, stages)
        print(f"{os.path.basename(df)}: {'ok' if len(failures) == n0 else 'FAILED'}")
    if db:
        db.save_cache()
    for f in failures:
        print(f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
