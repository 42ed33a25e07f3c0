#include "worker/mmu/numa_topology.h"

#include <dirent.h>
#include <sched.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace memmgr::mmu {
namespace {

// Bounds a cpulist so a corrupt file cannot make us allocate without limit
// (Linux's NR_CPUS is at most 8192).
constexpr int kMaxCpu = 1 << 16;

bool ParseCpu(absl::string_view s, int* cpu) {
  return absl::SimpleAtoi(s, cpu) && *cpu >= 0 && *cpu < kMaxCpu;
}

}  // namespace

absl::StatusOr<std::set<int>> ParseCpuList(absl::string_view list) {
  std::set<int> cpus;
  list = absl::StripAsciiWhitespace(list);
  if (list.empty()) return cpus;  // a memory-only node has no CPUs
  for (absl::string_view part : absl::StrSplit(list, ',')) {
    std::pair<absl::string_view, absl::string_view> range =
        absl::StrSplit(part, absl::MaxSplits('-', 1));
    int first = 0, last = 0;
    if (!ParseCpu(range.first, &first)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad cpulist '", list, "': '", part, "'"));
    }
    last = first;
    const bool is_range = absl::StrContains(part, '-');
    if (is_range && (!ParseCpu(range.second, &last) || last < first)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad cpulist '", list, "': '", part, "'"));
    }
    for (int c = first; c <= last; ++c) cpus.insert(c);
  }
  return cpus;
}

absl::StatusOr<NumaNodeChoice> NumaNodeOfCpus(const std::set<int>& allowed,
                                              absl::string_view node_dir) {
  if (allowed.empty()) {
    return absl::InvalidArgumentError("no CPUs allowed to this process");
  }
  NumaNodeChoice choice;
  const std::string dir(node_dir);
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    choice.explanation = absl::StrCat(
        dir, ": ", std::strerror(errno),
        " (no NUMA topology visible); the frame pool is not bound");
    return choice;
  }
  std::map<int, std::set<int>> nodes;  // node -> its CPUs
  absl::Status error;
  while (dirent* entry = readdir(d)) {
    absl::string_view name = entry->d_name;
    int node = 0;
    if (!absl::ConsumePrefix(&name, "node") || !absl::SimpleAtoi(name, &node) ||
        node < 0) {
      continue;
    }
    const std::string path = absl::StrCat(dir, "/", entry->d_name, "/cpulist");
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      error = absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
      break;
    }
    absl::StatusOr<std::set<int>> cpus = ParseCpuList(text.str());
    if (!cpus.ok()) {
      error = absl::InvalidArgumentError(
          absl::StrCat(path, ": ", cpus.status().message()));
      break;
    }
    nodes[node] = *std::move(cpus);
  }
  closedir(d);
  if (!error.ok()) return error;
  if (nodes.empty()) {
    choice.explanation =
        absl::StrCat(dir, " lists no NUMA nodes; the frame pool is not bound");
    return choice;
  }
  std::vector<int> spanned;
  for (const auto& [node, cpus] : nodes) {
    for (int cpu : allowed) {
      if (cpus.count(cpu) != 0) {
        spanned.push_back(node);
        break;
      }
    }
  }
  const std::string cpu_text = absl::StrJoin(allowed, ",");
  if (spanned.size() == 1) {
    choice.node = spanned[0];
    choice.explanation = absl::StrCat("the CPUs this worker may run on (",
                                      cpu_text, ") are all on NUMA node ",
                                      choice.node, " of ", nodes.size());
  } else if (spanned.empty()) {
    choice.explanation =
        absl::StrCat("the CPUs this worker may run on (", cpu_text,
                     ") are on no NUMA node listed in ", dir,
                     "; the frame pool is not bound");
  } else {
    choice.explanation = absl::StrCat(
        "the CPUs this worker may run on (", cpu_text, ") span NUMA nodes ",
        absl::StrJoin(spanned, ","),
        "; the frame pool is not bound (pin the worker to one node, e.g. "
        "the kubelet's static CPU manager with the single-numa-node "
        "Topology Manager policy)");
  }
  return choice;
}

absl::StatusOr<std::set<int>> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) {
    return absl::InternalError(
        absl::StrCat("sched_getaffinity: ", std::strerror(errno)));
  }
  std::set<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.insert(c);
  }
  return cpus;
}

}  // namespace memmgr::mmu
