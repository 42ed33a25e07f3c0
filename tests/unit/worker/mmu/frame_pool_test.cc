#include "worker/mmu/frame_pool.h"

#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace memmgr::mmu {
namespace {

std::unique_ptr<FramePool> MakePool(uint64_t bytes, uint64_t min_free = 0,
                                    bool background_zeroing = true) {
  FramePool::Options o;
  o.bytes = bytes;
  o.min_free_frames = min_free;
  o.background_zeroing = background_zeroing;
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

bool AllZero(const uint8_t* page) {
  for (uint64_t i = 0; i < kPageSize; ++i) {
    if (page[i] != 0) return false;
  }
  return true;
}

TEST(FramePoolTest, FreshFramesAreHandedOutZeroedWithoutAMemset) {
  auto pool = MakePool(1 << 20, 0, /*background_zeroing=*/false);
  EXPECT_EQ(pool->GetStats().zeroed_free_frames, pool->free_frames());
  Pfn p = pool->AllocZeroed();
  ASSERT_NE(p, kNoPfn);
  EXPECT_TRUE(AllZero(pool->FrameAddress(p)));
  EXPECT_EQ(pool->GetStats().zeroed_allocs, 1u);
  pool->PutPage(p);
}

TEST(FramePoolTest, TheZeroerCleansFreedFramesForAllocZeroed) {
  auto pool = MakePool(4 << 20, 0, /*background_zeroing=*/false);
  // Dirty 200 frames and free them.
  std::vector<Pfn> frames;
  for (int i = 0; i < 200; ++i) {
    Pfn p = pool->Alloc();
    ASSERT_NE(p, kNoPfn);
    std::memset(pool->FrameAddress(p), 0xAB, kPageSize);
    frames.push_back(p);
  }
  for (Pfn p : frames) pool->PutPage(p);
  const uint64_t zeroed_before = pool->GetStats().zeroed_free_frames;
  // A plain Alloc prefers a dirty frame: the zeroed ones stay for
  // AllocZeroed.
  Pfn d = pool->Alloc();
  EXPECT_EQ(pool->FrameAddress(d)[0], 0xAB);
  EXPECT_EQ(pool->GetStats().zeroed_free_frames, zeroed_before);
  pool->PutPage(d);

  const uint64_t cleaned = pool->ZeroFreeFramesForTest(1000);
  EXPECT_GE(cleaned, 192u) << "every dirty frame on the shared list";
  EXPECT_EQ(pool->GetStats().background_zeroed, cleaned);
  EXPECT_EQ(pool->free_frames(), pool->total_frames() - 1);
  // Take every free frame with AllocZeroed: each is zero, whether it came
  // pre-zeroed or was cleared on the spot.
  std::vector<Pfn> all;
  for (;;) {
    Pfn p = pool->AllocZeroed(FramePool::AllocMode::kReserve);
    if (p == kNoPfn) break;
    ASSERT_TRUE(AllZero(pool->FrameAddress(p))) << "frame " << p;
    std::memset(pool->FrameAddress(p), 0xCD, kPageSize);
    all.push_back(p);
  }
  EXPECT_EQ(all.size(), pool->total_frames() - 1);
  EXPECT_GE(pool->GetStats().zeroed_allocs, all.size() - 200);
  for (Pfn p : all) pool->PutPage(p);
}

TEST(FramePoolTest, ZeroingRacesAllocationsWithoutLosingFrames) {
  auto pool = MakePool(8 << 20, /*min_free=*/1, /*background_zeroing=*/false);
  const uint64_t free_at_start = pool->free_frames();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0};
  std::thread zeroer([&] {
    while (!stop.load()) pool->ZeroFreeFramesForTest(64);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Pfn> mine;
      for (int round = 0; round < 3000; ++round) {
        if (mine.size() < 300 && (round + t) % 3 != 0) {
          Pfn p = round % 2 ? pool->AllocZeroed() : pool->Alloc();
          if (p == kNoPfn) continue;
          uint8_t* page = pool->FrameAddress(p);
          if (round % 2 && !AllZero(page)) bad.fetch_add(1);
          std::memset(page, 0x10 + t, kPageSize);
          mine.push_back(p);
        } else if (!mine.empty()) {
          Pfn p = mine.back();
          mine.pop_back();
          if (pool->FrameAddress(p)[kPageSize - 1] != 0x10 + t) {
            bad.fetch_add(1);
          }
          pool->PutPage(p);
        }
      }
      for (Pfn p : mine) pool->PutPage(p);
    });
  }
  for (auto& th : threads) th.join();
  stop = true;
  zeroer.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_EQ(pool->free_frames(), free_at_start);
  EXPECT_EQ(pool->GetStats().used_frames, 0u);
}

}  // namespace
}  // namespace memmgr::mmu
