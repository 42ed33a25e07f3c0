// Which host NUMA node a worker runs on, read from sysfs
// (/sys/devices/system/node/nodeN/cpulist), for `--numa_node=auto`: in a
// Kubernetes pod pinned by the kubelet's static CPU manager and the Topology
// Manager (single-numa-node), the CPUs the process may run on all belong to
// one node, and the frame pool should be bound to that node's memory.
//
// Plain functions, no state; safe from any thread.
#ifndef MEMMGR_WORKER_MMU_NUMA_TOPOLOGY_H_
#define MEMMGR_WORKER_MMU_NUMA_TOPOLOGY_H_

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memmgr::mmu {

inline constexpr absl::string_view kSysfsNodeDir = "/sys/devices/system/node";

// Parses a kernel cpulist ("0-3,8,10-11", as in nodeN/cpulist and
// /proc/self/status Cpus_allowed_list). INVALID_ARGUMENT on anything else.
absl::StatusOr<std::set<int>> ParseCpuList(absl::string_view list);

struct NumaNodeChoice {
  int node = -1;            // -1: unbound
  std::string explanation;  // one line for the log: why this node (or none)
};

// The node whose CPUs contain every CPU in `allowed_cpus`, from the
// nodeN/cpulist files under `node_dir` (a one-node host answers node 0).
// node -1 when the host shows no NUMA nodes (no such directory: a kernel
// without NUMA, or sysfs not mounted) or when the allowed CPUs span several
// nodes: binding the pool to one of them would make the other CPUs'
// accesses remote, so the kernel's default (first-touch) placement is left
// alone. INVALID_ARGUMENT for an unreadable or malformed cpulist, or an
// empty CPU set.
absl::StatusOr<NumaNodeChoice> NumaNodeOfCpus(const std::set<int>& allowed_cpus,
                                              absl::string_view node_dir);

// The CPUs this process may run on (sched_getaffinity).
absl::StatusOr<std::set<int>> AllowedCpus();

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_NUMA_TOPOLOGY_H_
