// --numa_node=auto's topology reading, on fake sysfs trees in a temp dir
// (this VM has one node, so the real /sys shows only the one-node case).
#include "worker/mmu/numa_topology.h"

#include <sys/stat.h>

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace memmgr::mmu {
namespace {

using ::memmgr::testing::TempDir;

void AddNode(const TempDir& dir, int node, const std::string& cpulist) {
  const std::string d = dir.Sub("node" + std::to_string(node));
  ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
  std::ofstream(d + "/cpulist") << cpulist << "\n";
}

TEST(NumaTopologyTest, ParsesKernelCpuLists) {
  EXPECT_EQ(*ParseCpuList("0-3,8,10-11\n"),
            (std::set<int>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_EQ(*ParseCpuList("5"), std::set<int>{5});
  EXPECT_TRUE(ParseCpuList("")->empty());  // a memory-only node
  for (const char* bad :
       {"a", "3-1", "1,,2", "-1", "0-", "1-2-3", "99999999"}) {
    EXPECT_FALSE(ParseCpuList(bad).ok()) << bad;
  }
}

TEST(NumaTopologyTest, CpusOnOneNodeChooseThatNode) {
  TempDir dir;
  AddNode(dir, 0, "0-3");
  AddNode(dir, 1, "4-7");
  ASSERT_EQ(::mkdir(dir.Sub("possible_not_a_node").c_str(), 0755), 0);
  auto choice = NumaNodeOfCpus({5, 6}, dir.path());
  ASSERT_TRUE(choice.ok()) << choice.status();
  EXPECT_EQ(choice->node, 1);
  EXPECT_TRUE(absl::StrContains(choice->explanation, "node 1 of 2"))
      << choice->explanation;
}

TEST(NumaTopologyTest, CpusSpanningNodesLeaveThePoolUnbound) {
  TempDir dir;
  AddNode(dir, 0, "0-3");
  AddNode(dir, 1, "4-7");
  AddNode(dir, 2, "");  // memory only: never chosen for CPUs
  auto choice = NumaNodeOfCpus({3, 4}, dir.path());
  ASSERT_TRUE(choice.ok()) << choice.status();
  EXPECT_EQ(choice->node, -1);
  EXPECT_TRUE(absl::StrContains(choice->explanation, "span NUMA nodes 0,1"))
      << choice->explanation;
}

TEST(NumaTopologyTest, NoTopologyLeavesThePoolUnbound) {
  TempDir dir;
  auto missing = NumaNodeOfCpus({0}, dir.Sub("absent"));
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->node, -1);
  auto empty = NumaNodeOfCpus({0}, dir.path());
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->node, -1);
  // CPUs that no node lists.
  AddNode(dir, 0, "0-1");
  auto unlisted = NumaNodeOfCpus({9}, dir.path());
  ASSERT_TRUE(unlisted.ok());
  EXPECT_EQ(unlisted->node, -1);
}

TEST(NumaTopologyTest, MalformedSysfsIsAnError) {
  TempDir dir;
  AddNode(dir, 0, "0-x");
  auto choice = NumaNodeOfCpus({0}, dir.path());
  EXPECT_EQ(choice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(choice.status().message(), "node0/cpulist"));
  EXPECT_EQ(NumaNodeOfCpus({}, dir.path()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NumaTopologyTest, ThisHostAnswersForItsOwnCpus) {
  auto cpus = AllowedCpus();
  ASSERT_TRUE(cpus.ok()) << cpus.status();
  ASSERT_FALSE(cpus->empty());
  auto choice = NumaNodeOfCpus(*cpus, kSysfsNodeDir);
  ASSERT_TRUE(choice.ok()) << choice.status();
  EXPECT_GE(choice->node, -1);
  EXPECT_FALSE(choice->explanation.empty());
}

}  // namespace
}  // namespace memmgr::mmu
