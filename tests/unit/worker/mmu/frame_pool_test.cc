#include "worker/mmu/frame_pool.h"

#include <sys/mman.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace memmgr::mmu {
namespace {

std::unique_ptr<FramePool> MakePool(uint64_t bytes, uint64_t min_free = 0) {
  FramePool::Options o;
  o.bytes = bytes;
  o.min_free_frames = min_free;
  auto pool = FramePool::Create(o);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? std::move(*pool) : nullptr;
}

TEST(WatermarksTest, FollowMinFreeKbytesRuleAndLinuxRatios) {
  // 64 MiB: sqrt(65536 KiB * 16) = 1024 KiB = 256 frames.
  Watermarks wm = ComputeWatermarks(16384);
  EXPECT_EQ(wm.min, 256u);
  EXPECT_EQ(wm.low, 256u + 64u);
  EXPECT_EQ(wm.high, 256u + 128u);
  // 1 GiB: sqrt(1048576 * 16) = 4096 KiB = 1024 frames.
  EXPECT_EQ(ComputeWatermarks(262144).min, 1024u);
  // Tiny pools: the reserve is capped at 1/32 of the pool.
  EXPECT_EQ(ComputeWatermarks(64).min, 2u);
  // Huge pools: min_free_kbytes is clamped at 256 MiB.
  EXPECT_EQ(ComputeWatermarks(uint64_t{1} << 32).min, 65536u);
  EXPECT_EQ(ComputeWatermarks(16384, 1000).min, 1000u);
  EXPECT_EQ(ComputeWatermarks(16384, 1000).low, 1250u);
}

TEST(FramePoolTest, RejectsBadSizesAndNodes) {
  FramePool::Options o;
  o.bytes = 100 * 1024;
  EXPECT_EQ(FramePool::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.bytes = uint64_t{1} << 50;
  EXPECT_EQ(FramePool::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.bytes = 1 << 20;
  o.numa_node = 4096;
  EXPECT_EQ(FramePool::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.numa_node = -1;
  o.min_free_frames = 1000;
  EXPECT_EQ(FramePool::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FramePoolTest, BindsToNodeZeroWhereTheHostHasNuma) {
  FramePool::Options o;
  o.bytes = 1 << 20;
  o.numa_node = 0;
  auto pool = FramePool::Create(o);
  ASSERT_TRUE(pool.ok()) << pool.status();
  // Either bound to node 0, or the host has no NUMA and it says so.
  EXPECT_TRUE((*pool)->GetStats().numa_node == 0 ||
              (*pool)->GetStats().numa_node == -1);
}

TEST(FramePoolTest, ZeroPageIsReservedAndNeverHandedOut) {
  auto pool = MakePool(1 << 20);
  EXPECT_TRUE(pool->Descriptor(FramePool::kZeroPfn).TestFlag(kPgReserved));
  std::set<Pfn> seen;
  Pfn pfn;
  while ((pfn = pool->Alloc(FramePool::AllocMode::kReserve)) != kNoPfn) {
    EXPECT_NE(pfn, FramePool::kZeroPfn);
    EXPECT_TRUE(seen.insert(pfn).second) << "frame handed out twice";
  }
  EXPECT_EQ(seen.size(), pool->total_frames() - 1);
  EXPECT_EQ(pool->free_frames(), 0u);
  EXPECT_EQ(pool->GetStats().alloc_empty_failures, 1u);
}

TEST(FramePoolTest, NormalAllocationsStopAtTheMinWatermark) {
  auto pool = MakePool(4 << 20);  // 1024 frames, min 32
  const uint64_t min = pool->watermarks().min;
  std::vector<Pfn> held;
  Pfn pfn;
  while ((pfn = pool->Alloc()) != kNoPfn) held.push_back(pfn);
  EXPECT_EQ(pool->free_frames(), min);
  EXPECT_TRUE(pool->BelowLow());
  EXPECT_FALSE(pool->BelowMin());
  EXPECT_EQ(pool->GetStats().alloc_pressure_failures, 1u);
  // The reserve is there for reclaim.
  Pfn reserve = pool->Alloc(FramePool::AllocMode::kReserve);
  EXPECT_NE(reserve, kNoPfn);
  EXPECT_TRUE(pool->BelowMin());
  pool->PutPage(reserve);
  for (Pfn p : held) pool->PutPage(p);
  EXPECT_EQ(pool->free_frames(), pool->total_frames() - 1);
  EXPECT_FALSE(pool->BelowHigh());
}

TEST(FramePoolTest, RefcountFreesOnLastPut) {
  auto pool = MakePool(1 << 20);
  Pfn pfn = pool->AllocZeroed();
  ASSERT_NE(pfn, kNoPfn);
  EXPECT_EQ(pool->FrameAddress(pfn)[100], 0);
  pool->GetPage(pfn);
  const uint64_t free_before = pool->free_frames();
  pool->PutPage(pfn);
  EXPECT_EQ(pool->free_frames(), free_before);
  pool->PutPage(pfn);
  EXPECT_EQ(pool->free_frames(), free_before + 1);
}

TEST(FramePoolTest, FramesLiveInsideTheArena) {
  auto pool = MakePool(1 << 20);
  Pfn pfn = pool->Alloc();
  EXPECT_TRUE(pool->Contains(pool->FrameAddress(pfn), kPageSize));
  EXPECT_FALSE(pool->Contains(pool->FrameAddress(pfn) + kPageSize * 1000, 1));
  uint8_t local;
  EXPECT_FALSE(pool->Contains(&local, 1));
  pool->PutPage(pfn);
}

TEST(FramePoolDeathTest, TheZeroPageIsReadOnlyInTheHost) {
  auto pool = MakePool(1 << 20);
  EXPECT_DEATH(
      { *reinterpret_cast<volatile uint8_t*>(pool->FrameAddress(0)) = 1; }, "");
}

TEST(FramePoolTest, FramesCachedByOneThreadAreFoundByAnother) {
  auto pool = MakePool(1 << 20, /*min_free=*/1);
  // Thread A allocates and frees a few frames: they stay in its cache.
  std::thread([&] {
    std::vector<Pfn> v;
    for (int i = 0; i < 20; ++i) v.push_back(pool->Alloc());
    for (Pfn p : v) pool->PutPage(p);
  }).join();
  // Thread B (this one) can still take every frame above min.
  uint64_t n = 0;
  while (pool->Alloc() != kNoPfn) ++n;
  EXPECT_EQ(n, pool->total_frames() - 1 - 1);
}

TEST(FramePoolTest, ConcurrentAllocAndFreeKeepCountsExact) {
  auto pool = MakePool(8 << 20, /*min_free=*/1);
  const uint64_t free_at_start = pool->free_frames();
  std::atomic<uint64_t> double_handouts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Pfn> mine;
      for (int round = 0; round < 2000; ++round) {
        if (mine.size() < 200 && (round + t) % 3 != 0) {
          Pfn p = pool->Alloc();
          if (p == kNoPfn) continue;
          // Each frame is ours alone: stamp it and check the stamp later.
          uint8_t* page = pool->FrameAddress(p);
          page[0] = static_cast<uint8_t>(t);
          mine.push_back(p);
        } else if (!mine.empty()) {
          Pfn p = mine.back();
          mine.pop_back();
          if (pool->FrameAddress(p)[0] != t) double_handouts.fetch_add(1);
          pool->PutPage(p);
        }
      }
      for (Pfn p : mine) pool->PutPage(p);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(double_handouts.load(), 0u);
  EXPECT_EQ(pool->free_frames(), free_at_start);
  FramePool::Stats s = pool->GetStats();
  EXPECT_EQ(s.allocs, s.frees);
  EXPECT_EQ(s.used_frames, 0u);
}

}  // namespace
}  // namespace memmgr::mmu
