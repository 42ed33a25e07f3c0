"""C++ protobuf/gRPC code generation with the system protoc + grpc_cpp_plugin.

Bazel counterpart of memmgr_protos() in the top-level CMakeLists.txt.
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

def memmgr_cc_proto_library(
        name,
        srcs,
        import_root,
        proto_deps = [],
        extra_import_roots = [],
        grpc = False,
        deps = [],
        visibility = None):
    """Generates C++ for `srcs` and wraps it in a cc_library.

    Args:
      name: cc_library name; the genrule is `<name>_gen`.
      srcs: .proto files, relative to this package.
      import_root: workspace-relative directory the import paths of `srcs`
        are relative to: this package ("proto" for proto/memmgr/v1/*.proto)
        or "" for the repo root (server/lease/lease_record.proto).
      proto_deps: filegroups with the .proto files that `srcs` import.
      extra_import_roots: further -I directories (workspace-relative),
        searched before `import_root`, as in CMake (-Iproto -I<root>).
      grpc: also run grpc_cpp_plugin (.grpc.pb.{h,cc}).
      deps: cc deps of the generated code (other *_proto libraries).
      visibility: visibility of the cc_library.
    """
    pkg = native.package_name()
    if import_root not in ("", pkg):
        fail("import_root must be \"\" or this package (%r), got %r" % (pkg, import_root))

    bases = []
    for src in srcs:
        if not src.endswith(".proto"):
            fail("%r is not a .proto file" % src)
        bases.append(src[:-len(".proto")])

    hdrs = [b + ".pb.h" for b in bases]
    cc_srcs = [b + ".pb.cc" for b in bases]
    if grpc:
        hdrs += [b + ".grpc.pb.h" for b in bases]
        cc_srcs += [b + ".grpc.pb.cc" for b in bases]

    out_dir = "$(GENDIR)/" + import_root if import_root else "$(GENDIR)"
    includes = ["-I" + (d or ".") for d in extra_import_roots + [import_root]]
    cmd = ["$(execpath @system//:protoc)"] + includes + ["--cpp_out=" + out_dir]
    tools = ["@system//:protoc"]
    if grpc:
        cmd += [
            "--plugin=protoc-gen-grpc=$(execpath @system//:grpc_cpp_plugin)",
            "--grpc_out=" + out_dir,
        ]
        tools.append("@system//:grpc_cpp_plugin")
    cmd += ["$(execpath %s)" % src for src in srcs]

    native.genrule(
        name = name + "_gen",
        srcs = srcs + proto_deps,
        outs = hdrs + cc_srcs,
        cmd = " ".join(cmd),
        tools = tools,
        message = "protoc %s" % name,
        visibility = ["//visibility:private"],
    )

    cc_library(
        name = name,
        srcs = cc_srcs,
        hdrs = hdrs,
        # Headers are included relative to import_root, e.g.
        # "memmgr/v1/memory_manager.pb.h" or "server/lease/lease_record.pb.h"
        # (the latter needs no -I: the bin directory is on the include path).
        includes = ["."] if import_root else [],
        # Generated code is not ours to warn about (as in CMake).
        copts = ["-w"],
        deps = deps + [
            "@system//:grpc++",
            "@system//:protobuf",
        ],
        visibility = visibility,
    )
