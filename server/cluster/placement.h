// Placement: which cluster node a new sandbox goes to, by its mempolicy
// (Linux's mempolicy, applied to whole sandboxes instead of pages):
//
//   default     the node with most free frames above its `high` watermark;
//               with nodes[0] given, the nearest node (by distance from
//               nodes[0]) first, most free above high among equals.
//   preferred   nodes[0] if it has frames above high, else the others by
//               distance from nodes[0] (like MPOL_PREFERRED's fallback).
//   bind        only the listed nodes; never spills (MPOL_BIND).
//   interleave  a group of sandboxes round-robin over the listed nodes, one
//               cursor per interleave_group (MPOL_INTERLEAVE's il_next).
//
// Place() returns an ordered candidate list, not one node: the caller tries
// them in order, and a worker that refuses (its own admission control:
// --max_sandboxes, a pool below min without swap) makes it go to the next.
// Nodes below high come after every node above it (for bind as well: the
// worker may still reclaim). Nodes that cannot take work (disconnected,
// draining) are never candidates. Every step is written into `explanation`.
//
// A pure function of its inputs, so it is tested without a cluster;
// ClusterState feeds it the members' views (RegisterWorker + heartbeats).
#ifndef MEMMGR_SERVER_CLUSTER_PLACEMENT_H_
#define MEMMGR_SERVER_CLUSTER_PLACEMENT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "memmgr/v1/common.pb.h"

namespace memmgr {

// What placement knows of one node (a cluster member).
struct NodeView {
  uint32_t node = 0;
  std::string name;
  uint64_t free_frames = 0;
  uint64_t high_pages = 0;  // the node's high watermark
  uint64_t capacity_frames = 0;
  uint32_t sandboxes = 0;
  std::map<uint32_t, uint32_t> distances;  // as the node registered them
  // Empty when the node can take new sandboxes; else why not.
  std::string unavailable;

  uint64_t free_above_high() const {
    return free_frames > high_pages ? free_frames - high_pages : 0;
  }
};

// SLIT-style distance between two nodes: `from`'s table, else `to`'s
// (distances are symmetric in practice), else 10 for the same node and 20
// otherwise (the kernel's defaults: LOCAL_DISTANCE, REMOTE_DISTANCE).
uint32_t NodeDistance(const std::vector<NodeView>& nodes, uint32_t from,
                      uint32_t to);

// Round-robin cursors of interleave groups; owned by the caller (one per
// cluster), advanced by Place.
using InterleaveCursors = absl::flat_hash_map<std::string, uint64_t>;

struct Placement {
  std::vector<uint32_t> candidates;  // node ids, best first; never empty
  std::string explanation;           // several lines, one per node
};

// INVALID_ARGUMENT for a malformed policy (bind/interleave without nodes, a
// node listed twice, more than 1024 nodes); RESOURCE_EXHAUSTED when a bind
// policy's nodes all are unavailable, no node can take work, or a new
// interleave group would exceed 65536; UNAVAILABLE when there is no node.
// Interleave reads the group's cursor in *cursors (not null) and moves it on
// when `advance` (false for a dry run).
absl::StatusOr<Placement> Place(const v1::Mempolicy& policy,
                                const std::vector<NodeView>& nodes,
                                InterleaveCursors* cursors, bool advance);

// "default", "preferred(2)", "bind(0,1)", "interleave(0,1,2 group=g)".
std::string DescribePolicy(const v1::Mempolicy& policy);

}  // namespace memmgr

#endif  // MEMMGR_SERVER_CLUSTER_PLACEMENT_H_
