// Placement by mempolicy over node views: every policy's order, fallbacks,
// the bind no-spill rule, interleave's round-robin, bad policies, and the
// explanation naming each node considered.
#include "server/cluster/placement.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace memmgr {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

NodeView Node(uint32_t id, uint64_t free_frames, uint64_t high = 100,
              std::map<uint32_t, uint32_t> distances = {}) {
  NodeView n;
  n.node = id;
  n.name = "worker-" + std::to_string(id);
  n.free_frames = free_frames;
  n.high_pages = high;
  n.capacity_frames = 10000;
  n.distances = std::move(distances);
  return n;
}

v1::Mempolicy Policy(v1::Mempolicy::Mode mode, std::vector<uint32_t> nodes,
                     const std::string& group = "") {
  v1::Mempolicy p;
  p.set_mode(mode);
  for (uint32_t n : nodes) p.add_nodes(n);
  p.set_interleave_group(group);
  return p;
}

std::vector<uint32_t> Candidates(const v1::Mempolicy& policy,
                                 const std::vector<NodeView>& nodes,
                                 InterleaveCursors* cursors = nullptr) {
  InterleaveCursors local;
  auto p = Place(policy, nodes, cursors ? cursors : &local, /*advance=*/true);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? p->candidates : std::vector<uint32_t>{};
}

// Three nodes in a line: 0 - 1 - 2 (distance 20 to a neighbour, 30 beyond).
std::vector<NodeView> Line(uint64_t free0, uint64_t free1, uint64_t free2) {
  return {Node(0, free0, 100, {{0, 10}, {1, 20}, {2, 30}}),
          Node(1, free1, 100, {{0, 20}, {1, 10}, {2, 20}}),
          Node(2, free2, 100, {{0, 30}, {1, 20}, {2, 10}})};
}

TEST(PlacementTest, DefaultPicksMostFreeAboveHighAndBelowHighLast) {
  std::vector<NodeView> nodes = Line(500, 2000, 90);  // node 2 below high
  EXPECT_THAT(Candidates(Policy(v1::Mempolicy::MODE_DEFAULT, {}), nodes),
              ElementsAre(1, 0, 2));
  // Equal room: the lower node id first (deterministic).
  nodes = Line(700, 700, 700);
  EXPECT_THAT(Candidates(Policy(v1::Mempolicy::MODE_DEFAULT, {}), nodes),
              ElementsAre(0, 1, 2));
}

TEST(PlacementTest, DefaultNearANodeGoesByDistanceThenRoom) {
  const std::vector<NodeView> nodes = Line(5000, 300, 9000);
  // Near node 1: itself, then its two neighbours at distance 20, the one
  // with more room first.
  EXPECT_THAT(Candidates(Policy(v1::Mempolicy::MODE_DEFAULT, {1}), nodes),
              ElementsAre(1, 2, 0));
  // Near node 0: 0, then 1 (20), then 2 (30) although 2 has most room.
  EXPECT_THAT(Candidates(Policy(v1::Mempolicy::MODE_DEFAULT, {0}), nodes),
              ElementsAre(0, 1, 2));
}

TEST(PlacementTest, PreferredFallsBackByDistanceWhenFull) {
  EXPECT_THAT(Candidates(Policy(v1::Mempolicy::MODE_PREFERRED, {2}),
                         Line(9000, 500, 400)),
              ElementsAre(2, 1, 0));
  // Node 2 below high: the others first (nearest first), node 2 last.
  EXPECT_THAT(Candidates(Policy(v1::Mempolicy::MODE_PREFERRED, {2}),
                         Line(9000, 500, 50)),
              ElementsAre(1, 0, 2));
  // A preferred node that is not a member: fall back, and say so.
  InterleaveCursors c;
  auto p = Place(Policy(v1::Mempolicy::MODE_PREFERRED, {7}), Line(1, 500, 400),
                 &c, true);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(p->candidates, ElementsAre(1, 2, 0));
  EXPECT_THAT(p->explanation, HasSubstr("node 7 is not a cluster member"));
}

TEST(PlacementTest, BindNeverSpills) {
  std::vector<NodeView> nodes = Line(100000, 200, 150);
  // Only 1 and 2 although 0 has by far the most room.
  EXPECT_THAT(Candidates(Policy(v1::Mempolicy::MODE_BIND, {1, 2}), nodes),
              ElementsAre(1, 2));
  // Every bound node unavailable: RESOURCE_EXHAUSTED, not node 0.
  nodes[1].unavailable = "draining";
  nodes[2].unavailable = "not connected";
  InterleaveCursors c;
  auto p = Place(Policy(v1::Mempolicy::MODE_BIND, {1, 2}), nodes, &c, true);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("never spills"));
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("draining"));
  // A bound node that is not a member is skipped, the others used.
  EXPECT_THAT(Candidates(Policy(v1::Mempolicy::MODE_BIND, {5, 0}), nodes),
              ElementsAre(0));
}

TEST(PlacementTest, InterleaveSpreadsAGroupEvenly) {
  const std::vector<NodeView> nodes = Line(1000, 1000, 1000);
  InterleaveCursors cursors;
  std::map<uint32_t, int> first;
  for (int i = 0; i < 9; ++i) {
    ++first[Candidates(Policy(v1::Mempolicy::MODE_INTERLEAVE, {0, 1, 2}, "g"),
                       nodes, &cursors)[0]];
  }
  EXPECT_EQ(first, (std::map<uint32_t, int>{{0, 3}, {1, 3}, {2, 3}}));
  // Another group has its own cursor; a dry run does not move it.
  EXPECT_EQ(Candidates(Policy(v1::Mempolicy::MODE_INTERLEAVE, {0, 1, 2}, "h"),
                       nodes, &cursors)[0],
            0u);
  auto dry = Place(Policy(v1::Mempolicy::MODE_INTERLEAVE, {0, 1, 2}, "h"),
                   nodes, &cursors, /*advance=*/false);
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->candidates[0], 1u);
  EXPECT_EQ(Candidates(Policy(v1::Mempolicy::MODE_INTERLEAVE, {0, 1, 2}, "h"),
                       nodes, &cursors)[0],
            1u);
  // A full node's turn goes to the next in the ring; the rotation goes on.
  std::vector<NodeView> full = nodes;
  full[1].free_frames = 10;
  InterleaveCursors c2;
  std::vector<uint32_t> turns;
  for (int i = 0; i < 3; ++i) {
    turns.push_back(Candidates(
        Policy(v1::Mempolicy::MODE_INTERLEAVE, {0, 1, 2}, "g"), full, &c2)[0]);
  }
  EXPECT_THAT(turns, ElementsAre(0, 2, 2));
}

TEST(PlacementTest, UnavailableNodesAreNeverCandidates) {
  std::vector<NodeView> nodes = Line(9000, 500, 400);
  nodes[0].unavailable = "draining";
  EXPECT_THAT(Candidates(Policy(v1::Mempolicy::MODE_DEFAULT, {}), nodes),
              ElementsAre(1, 2));
  for (NodeView& n : nodes) n.unavailable = "not connected";
  InterleaveCursors c;
  EXPECT_EQ(Place(Policy(v1::Mempolicy::MODE_DEFAULT, {}), nodes, &c, true)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Place(Policy(v1::Mempolicy::MODE_DEFAULT, {}), {}, &c, true)
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
}

TEST(PlacementTest, BadPoliciesAreInvalidArguments) {
  const std::vector<NodeView> nodes = Line(1000, 1000, 1000);
  InterleaveCursors c;
  std::vector<v1::Mempolicy> bad = {
      Policy(v1::Mempolicy::MODE_BIND, {}),
      Policy(v1::Mempolicy::MODE_INTERLEAVE, {}),
      Policy(v1::Mempolicy::MODE_BIND, {1, 1}),
      Policy(v1::Mempolicy::MODE_PREFERRED, {}),
      Policy(v1::Mempolicy::MODE_PREFERRED, {0, 1}),
      Policy(v1::Mempolicy::MODE_DEFAULT, {0, 1}),
      Policy(v1::Mempolicy::MODE_INTERLEAVE, {0}, std::string(129, 'g')),
  };
  v1::Mempolicy unknown;
  unknown.set_mode(static_cast<v1::Mempolicy::Mode>(42));
  bad.push_back(unknown);
  v1::Mempolicy many = Policy(v1::Mempolicy::MODE_BIND, {});
  for (uint32_t i = 0; i < 1025; ++i) many.add_nodes(i);
  bad.push_back(many);
  for (const v1::Mempolicy& p : bad) {
    EXPECT_EQ(Place(p, nodes, &c, true).status().code(),
              absl::StatusCode::kInvalidArgument)
        << p.ShortDebugString();
  }
  EXPECT_TRUE(c.empty());  // no cursor made for a refused policy
}

TEST(PlacementTest, InterleaveGroupsAreBounded) {
  const std::vector<NodeView> nodes = Line(1000, 1000, 1000);
  InterleaveCursors c;
  for (int i = 0; i < 65536; ++i) c["g" + std::to_string(i)] = 0;
  EXPECT_EQ(
      Place(Policy(v1::Mempolicy::MODE_INTERLEAVE, {0}, "new"), nodes, &c, true)
          .status()
          .code(),
      absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(
      Place(Policy(v1::Mempolicy::MODE_INTERLEAVE, {0}, "g7"), nodes, &c, true)
          .ok());
}

TEST(PlacementTest, DistancesComeFromEitherNodeOrTheKernelDefaults) {
  std::vector<NodeView> nodes = {Node(0, 1, 100, {{1, 17}}), Node(1, 1),
                                 Node(2, 1)};
  EXPECT_EQ(NodeDistance(nodes, 0, 1), 17u);
  EXPECT_EQ(NodeDistance(nodes, 1, 0), 17u);  // from 0's table
  EXPECT_EQ(NodeDistance(nodes, 1, 2), 20u);  // REMOTE_DISTANCE
  EXPECT_EQ(NodeDistance(nodes, 2, 2), 10u);  // LOCAL_DISTANCE
  EXPECT_EQ(NodeDistance(nodes, 9, 9), 10u);  // unknown nodes too
}

TEST(PlacementTest, ExplanationNamesThePolicyAndEveryNode) {
  std::vector<NodeView> nodes = Line(5000, 50, 700);
  nodes[2].unavailable = "draining";
  InterleaveCursors c;
  auto p = Place(Policy(v1::Mempolicy::MODE_DEFAULT, {0}), nodes, &c, true);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(p->explanation, HasSubstr("policy default(near 0)"));
  EXPECT_THAT(p->explanation,
              HasSubstr("node 0 (worker-0): 5000 free frames, high 100, 4900 "
                        "above high, 0 sandboxes, distance 10 -> candidate"));
  EXPECT_THAT(p->explanation, HasSubstr("node 1 (worker-1)"));
  EXPECT_THAT(p->explanation, HasSubstr("-> below high: last resort"));
  EXPECT_THAT(p->explanation, HasSubstr("-> skipped: draining"));
  EXPECT_EQ(DescribePolicy(Policy(v1::Mempolicy::MODE_INTERLEAVE, {0, 2}, "g")),
            "interleave(0,2 group=g)");
  EXPECT_EQ(DescribePolicy(Policy(v1::Mempolicy::MODE_BIND, {3})), "bind(3)");
}

}  // namespace
}  // namespace memmgr
