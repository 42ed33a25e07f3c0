"""Compile options shared by memmgr's own targets (as in the top-level
CMakeLists.txt; -std=c++20 comes from .bazelrc)."""

MEMMGR_COPTS = [
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
]
