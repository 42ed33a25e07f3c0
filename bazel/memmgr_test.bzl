"""memmgr_test(): Bazel counterpart of memmgr_test() in tests/CMakeLists.txt."""

load("@rules_cc//cc:defs.bzl", "cc_test")
load("//bazel:copts.bzl", "MEMMGR_COPTS")

def memmgr_test(name, srcs, libs = [], labels = [], data = [], local_defines = []):
    """A GoogleTest binary linked with the test support library.

    CMake's LABELS become tags (bazel test --test_tag_filters=unit), its
    300 s TIMEOUT is size "medium".
    """
    cc_test(
        name = name,
        srcs = srcs,
        copts = MEMMGR_COPTS,
        data = data,
        local_defines = local_defines,
        size = "medium",
        tags = labels,
        deps = libs + [
            "//tests:memmgr_test_support",
            "@system//:gmock",
            "@system//:gtest",
            "@system//:gtest_main",
        ],
    )
