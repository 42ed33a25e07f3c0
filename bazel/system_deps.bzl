"""Declares @system: the Debian libraries and tools memmgr builds against.

Mirrors the find_package()/pkg_check_modules() calls of the CMake build.
Targets are named after the CMake imported targets (gRPC::grpc++ ->
@system//:grpc++, absl::statusor -> @system//:absl_statusor, ...).
"""

load("//bazel:system_libs.bzl", "system_libs")

_ABSL = "dep:absl_headers"

def memmgr_system_deps():
    system_libs(
        name = "system",
        include_entries = [
            "absl",
            "benchmark",
            "gmock",
            "google/protobuf",
            "grpc",
            "grpc++",
            "grpcpp",
            "gtest",
            "lz4.h",
            "lz4frame.h",
            "lz4hc.h",
            "numa.h",
            "numaif.h",
            "prometheus",
            "rocksdb",
            "zdict.h",
            "zstd.h",
            "zstd_errors.h",
        ],
        # Like find_program(MEMMGR_PROMTOOL promtool) and
        # find_program(MEMMGR_RISCV64_GCC riscv64-linux-gnu-gcc) in
        # tests/CMakeLists.txt.
        optional_programs = {
            "PROMTOOL": "promtool",
            "RISCV64_GCC": "riscv64-linux-gnu-gcc",
        },
        tools = {
            "protoc": "protoc",
            "grpc_cpp_plugin": "grpc_cpp_plugin",
        },
        libs = {
            # Abseil 20220623: headers once, link flags per component.
            "absl_headers": ["hdrs:include/absl/**"],
            "absl_endian": [_ABSL, "pkg:absl_endian"],
            "absl_flags": [_ABSL, "pkg:absl_flags"],
            "absl_flags_parse": [_ABSL, "pkg:absl_flags_parse"],
            "absl_flags_reflection": [_ABSL, "pkg:absl_flags_reflection"],
            "absl_flags_usage": [_ABSL, "pkg:absl_flags_usage"],
            "absl_flags_usage_internal": [_ABSL, "pkg:absl_flags_usage_internal"],
            "absl_flat_hash_map": [_ABSL, "pkg:absl_flat_hash_map"],
            "absl_flat_hash_set": [_ABSL, "pkg:absl_flat_hash_set"],
            "absl_random_random": [_ABSL, "pkg:absl_random_random"],
            "absl_span": [_ABSL, "pkg:absl_span"],
            "absl_status": [_ABSL, "pkg:absl_status"],
            "absl_statusor": [_ABSL, "pkg:absl_statusor"],
            "absl_str_format": [_ABSL, "pkg:absl_str_format"],
            "absl_strings": [_ABSL, "pkg:absl_strings"],
            "absl_synchronization": [_ABSL, "pkg:absl_synchronization"],
            "absl_time": [_ABSL, "pkg:absl_time"],
            # protobuf 3.21 / gRPC 1.51.
            "protobuf": [
                "hdrs:include/google/protobuf/**",
                _ABSL,
                "pkg:protobuf",
            ],
            "grpc": [
                "hdrs:include/grpc/**",
                _ABSL,
                "pkg:grpc",
            ],
            "grpc++": [
                "hdrs:include/grpc++/**",
                "hdrs:include/grpcpp/**",
                "dep:grpc",
                "dep:protobuf",
                "pkg:grpc++",
            ],
            # No grpc++_reflection.pc in Debian: link it by name.
            "grpc++_reflection": [
                "dep:grpc++",
                "-lgrpc++_reflection",
            ],
            # Storage, metrics, compression.
            "rocksdb": ["hdrs:include/rocksdb/**", "pkg:rocksdb"],
            "prometheus_core": [
                "hdrs:include/prometheus/**",
                "pkg:prometheus-cpp-core",
            ],
            "prometheus_pull": ["dep:prometheus_core", "pkg:prometheus-cpp-pull"],
            "lz4": [
                "hdrs:include/lz4.h",
                "hdrs:include/lz4frame.h",
                "hdrs:include/lz4hc.h",
                "pkg:liblz4",
            ],
            "zstd": [
                "hdrs:include/zdict.h",
                "hdrs:include/zstd.h",
                "hdrs:include/zstd_errors.h",
                "pkg:libzstd",
            ],
            # The worker's frame pool binds to host NUMA nodes.
            "numa": [
                "hdrs:include/numa.h",
                "hdrs:include/numaif.h",
                "pkg:numa",
            ],
            # Tests and benchmarks.
            "gtest": ["hdrs:include/gtest/**", "pkg:gtest"],
            "gtest_main": ["dep:gtest", "pkg:gtest_main"],
            "gmock": ["hdrs:include/gmock/**", "dep:gtest", "pkg:gmock"],
            "gmock_main": ["dep:gmock", "pkg:gmock_main"],
            "benchmark": ["hdrs:include/benchmark/**", "pkg:benchmark"],
            "benchmark_main": ["dep:benchmark", "-lbenchmark_main"],
        },
    )
