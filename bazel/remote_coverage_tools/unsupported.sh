#!/bin/sh
# Coverage tooling is not available in the offline Debian Bazel build.
echo "memmgr: coverage tools are not available in the offline Bazel build;" \
     "use the CMake build for coverage." >&2
exit 1
