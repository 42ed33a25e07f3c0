#include "server/cluster/placement.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/optional.h"

namespace memmgr {
namespace {

constexpr uint32_t kLocalDistance = 10;
constexpr uint32_t kRemoteDistance = 20;
constexpr int kMaxPolicyNodes = 1024;
// Interleave cursors are per group name, which clients choose: bounded so a
// client cannot grow the server's memory without limit.
constexpr size_t kMaxInterleaveGroups = 65536;

const NodeView* Find(const std::vector<NodeView>& nodes, uint32_t id) {
  for (const NodeView& n : nodes) {
    if (n.node == id) return &n;
  }
  return nullptr;
}

std::string Describe(const NodeView& n) {
  return absl::StrCat("node ", n.node, " (", n.name, "): ", n.free_frames,
                      " free frames, high ", n.high_pages, ", ",
                      n.free_above_high(), " above high, ", n.sandboxes,
                      " sandboxes");
}

// Appends one line per node of `order` to *why and returns the usable ones:
// first those with frames above high, then those below (in `order`).
std::vector<uint32_t> Usable(const std::vector<const NodeView*>& order,
                             const std::vector<NodeView>& nodes,
                             absl::optional<uint32_t> distance_from,
                             std::string* why) {
  std::vector<uint32_t> above, below;
  for (const NodeView* n : order) {
    std::string line = absl::StrCat("  ", Describe(*n));
    if (distance_from.has_value()) {
      absl::StrAppend(&line, ", distance ",
                      NodeDistance(nodes, *distance_from, n->node));
    }
    if (!n->unavailable.empty()) {
      absl::StrAppend(&line, " -> skipped: ", n->unavailable);
    } else if (n->free_above_high() == 0) {
      absl::StrAppend(&line, " -> below high: last resort");
      below.push_back(n->node);
    } else {
      absl::StrAppend(&line, " -> candidate");
      above.push_back(n->node);
    }
    absl::StrAppend(why, line, "\n");
  }
  above.insert(above.end(), below.begin(), below.end());
  return above;
}

absl::Status ValidateNodes(const v1::Mempolicy& policy) {
  if (policy.nodes_size() > kMaxPolicyNodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy lists ", policy.nodes_size(), " nodes; at most ",
                     kMaxPolicyNodes));
  }
  absl::flat_hash_set<uint32_t> seen;
  for (uint32_t n : policy.nodes()) {
    if (!seen.insert(n).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy lists node ", n, " twice"));
    }
  }
  if (policy.interleave_group().size() > 128) {
    return absl::InvalidArgumentError(
        "interleave_group is longer than 128 bytes");
  }
  switch (policy.mode()) {
    case v1::Mempolicy::MODE_DEFAULT:
      if (policy.nodes_size() > 1) {
        return absl::InvalidArgumentError(
            "default policy takes at most one node (the one to be near)");
      }
      return absl::OkStatus();
    case v1::Mempolicy::MODE_PREFERRED:
      if (policy.nodes_size() != 1) {
        return absl::InvalidArgumentError(
            "preferred policy takes exactly one node");
      }
      return absl::OkStatus();
    case v1::Mempolicy::MODE_BIND:
    case v1::Mempolicy::MODE_INTERLEAVE:
      if (policy.nodes_size() == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            DescribePolicy(policy), " policy needs at least one node"));
      }
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown mempolicy mode ", policy.mode()));
  }
}

}  // namespace

uint32_t NodeDistance(const std::vector<NodeView>& nodes, uint32_t from,
                      uint32_t to) {
  if (const NodeView* f = Find(nodes, from); f != nullptr) {
    if (auto it = f->distances.find(to); it != f->distances.end()) {
      return it->second;
    }
  }
  if (const NodeView* t = Find(nodes, to); t != nullptr) {
    if (auto it = t->distances.find(from); it != t->distances.end()) {
      return it->second;
    }
  }
  return from == to ? kLocalDistance : kRemoteDistance;
}

std::string DescribePolicy(const v1::Mempolicy& policy) {
  const std::string nodes = absl::StrJoin(policy.nodes(), ",");
  switch (policy.mode()) {
    case v1::Mempolicy::MODE_DEFAULT:
      return nodes.empty() ? "default"
                           : absl::StrCat("default(near ", nodes, ")");
    case v1::Mempolicy::MODE_PREFERRED:
      return absl::StrCat("preferred(", nodes, ")");
    case v1::Mempolicy::MODE_BIND:
      return absl::StrCat("bind(", nodes, ")");
    case v1::Mempolicy::MODE_INTERLEAVE:
      return absl::StrCat("interleave(", nodes,
                          policy.interleave_group().empty()
                              ? ""
                              : " group=" + policy.interleave_group(),
                          ")");
    default:
      return absl::StrCat("mode ", policy.mode());
  }
}

absl::StatusOr<Placement> Place(const v1::Mempolicy& policy,
                                const std::vector<NodeView>& nodes,
                                InterleaveCursors* cursors, bool advance) {
  if (absl::Status s = ValidateNodes(policy); !s.ok()) return s;
  Placement out;
  out.explanation = absl::StrCat("policy ", DescribePolicy(policy), "\n");
  std::vector<const NodeView*> order;
  absl::optional<uint32_t> distance_from;
  const auto more_free = [](const NodeView* a, const NodeView* b) {
    if (a->free_above_high() != b->free_above_high()) {
      return a->free_above_high() > b->free_above_high();
    }
    return a->node < b->node;
  };

  switch (policy.mode()) {
    case v1::Mempolicy::MODE_DEFAULT:
    case v1::Mempolicy::MODE_PREFERRED: {
      for (const NodeView& n : nodes) order.push_back(&n);
      if (policy.nodes_size() == 0) {
        std::sort(order.begin(), order.end(), more_free);
      } else {
        const uint32_t near = policy.nodes(0);
        distance_from = near;
        // Preferred: the node itself first whenever it has room; default:
        // nearest first. Both fall back by distance, most free among equals.
        std::sort(order.begin(), order.end(),
                  [&](const NodeView* a, const NodeView* b) {
                    const uint32_t da = NodeDistance(nodes, near, a->node);
                    const uint32_t db = NodeDistance(nodes, near, b->node);
                    return da != db ? da < db : more_free(a, b);
                  });
        if (policy.mode() == v1::Mempolicy::MODE_PREFERRED &&
            Find(nodes, near) == nullptr) {
          absl::StrAppend(&out.explanation, "  node ", near,
                          " is not a cluster member -> fall back\n");
        }
      }
      break;
    }
    case v1::Mempolicy::MODE_BIND: {
      for (uint32_t id : policy.nodes()) {
        if (const NodeView* n = Find(nodes, id); n != nullptr) {
          order.push_back(n);
        } else {
          absl::StrAppend(&out.explanation, "  node ", id,
                          " -> skipped: not a cluster member\n");
        }
      }
      std::sort(order.begin(), order.end(), more_free);
      break;
    }
    case v1::Mempolicy::MODE_INTERLEAVE: {
      const std::string key =
          policy.interleave_group().empty()
              ? absl::StrCat("nodes:", absl::StrJoin(policy.nodes(), ","))
              : policy.interleave_group();
      if (!cursors->contains(key) && cursors->size() >= kMaxInterleaveGroups) {
        return absl::ResourceExhaustedError(
            absl::StrCat("more than ", kMaxInterleaveGroups,
                         " interleave groups; reuse a group name"));
      }
      uint64_t& next = (*cursors)[key];
      const uint64_t cursor = next;
      if (advance) ++next;
      const size_t n = policy.nodes_size();
      absl::StrAppend(&out.explanation, "  interleave turn ", cursor % n,
                      " of ", n, "\n");
      // This sandbox's turn first, then the rest of the ring in order, so a
      // refusing node shifts only this sandbox, not the group's rotation.
      for (size_t i = 0; i < n; ++i) {
        const uint32_t id = policy.nodes((cursor + i) % n);
        if (const NodeView* v = Find(nodes, id); v != nullptr) {
          order.push_back(v);
        } else {
          absl::StrAppend(&out.explanation, "  node ", id,
                          " -> skipped: not a cluster member\n");
        }
      }
      break;
    }
    default:
      break;  // ValidateNodes refused it
  }

  out.candidates = Usable(order, nodes, distance_from, &out.explanation);
  if (out.candidates.empty()) {
    if (policy.mode() == v1::Mempolicy::MODE_BIND) {
      return absl::ResourceExhaustedError(
          absl::StrCat(out.explanation,
                       "no node of the bind policy can take a sandbox (bind "
                       "never spills to other nodes)"));
    }
    if (nodes.empty()) {
      return absl::UnavailableError(
          "no worker is a cluster member (start memmgr-worker serve "
          "--server=...)");
    }
    return absl::ResourceExhaustedError(
        absl::StrCat(out.explanation, "no node can take a sandbox"));
  }
  return out;
}

}  // namespace memmgr
