#include "server/swap/swap_map.h"

#include <set>

#include "gtest/gtest.h"

namespace memmgr {
namespace {

TEST(SwapMapTest, AllocatesNeighbouringSlotsWithConsecutiveGenerations) {
  SwapMap map(1000);
  std::vector<uint64_t> slots;
  ASSERT_TRUE(map.Allocate(16, 3, 100, &slots).ok());
  ASSERT_EQ(slots.size(), 16u);
  for (size_t i = 0; i < slots.size(); ++i) {
    EXPECT_EQ(slots[i], i);
    EXPECT_EQ(map.slot(slots[i]).generation, 100 + i);
    EXPECT_EQ(map.slot(slots[i]).owner, 3u);
    EXPECT_EQ(map.slot(slots[i]).count, 1u);
    EXPECT_EQ(map.state(slots[i]), SwapMap::State::kAllocating);
  }
  EXPECT_EQ(map.used(), 16u);
  // Next-fit: the next batch continues after the last one.
  ASSERT_TRUE(map.Allocate(4, 3, 200, &slots).ok());
  EXPECT_EQ(slots.front(), 16u);
}

// The allocator's promise the run records rely on: a batch's generations
// follow batch order, and each maximal run of neighbouring slots is one run
// whose slot first_slot+i has generation first_generation+i.
TEST(SwapMapTest, BatchesSplitIntoRunsOfNeighbouringSlots) {
  SwapMap map(16);
  std::vector<uint64_t> slots;
  ASSERT_TRUE(map.Allocate(16, 1, 1, &slots).ok());
  for (uint64_t s = 0; s < 16; ++s) {
    EXPECT_EQ(map.run(s).offset, s);
    EXPECT_EQ(map.run(s).length, 16u);
    EXPECT_EQ(map.run_first_slot(s), 0u);
    EXPECT_EQ(map.run_first_generation(s), 1u);
  }
  // Holes at 3 and 7..8 and 15: the next batch wraps around and gets four
  // slots in three runs: [3], [7, 8], [15]... in slot order from the cursor
  // (which wrapped to 0), so 3, 7, 8, 15 with generations 100..103.
  for (uint64_t s : {3, 7, 8, 15}) map.Release(s);
  ASSERT_TRUE(map.Allocate(4, 2, 100, &slots).ok());
  ASSERT_EQ(slots, (std::vector<uint64_t>{3, 7, 8, 15}));
  struct Want {
    uint64_t slot, generation, first_slot, first_generation;
    uint16_t offset, length;
  };
  for (const Want& w :
       {Want{3, 100, 3, 100, 0, 1}, Want{7, 101, 7, 101, 0, 2},
        Want{8, 102, 7, 101, 1, 2}, Want{15, 103, 15, 103, 0, 1}}) {
    EXPECT_EQ(map.slot(w.slot).generation, w.generation) << w.slot;
    EXPECT_EQ(map.run_first_slot(w.slot), w.first_slot) << w.slot;
    EXPECT_EQ(map.run_first_generation(w.slot), w.first_generation) << w.slot;
    EXPECT_EQ(map.run(w.slot).offset, w.offset) << w.slot;
    EXPECT_EQ(map.run(w.slot).length, w.length) << w.slot;
  }
  // Membership is by generation: slot 8 belongs to the new run, not to the
  // first batch's run any more, and nothing past the capacity belongs.
  EXPECT_TRUE(map.InRun(8, 101, 1));
  EXPECT_FALSE(map.InRun(8, 1, 8));
  EXPECT_TRUE(map.InRun(9, 1, 9));
  EXPECT_FALSE(map.InRun(16, 1, 16));
  map.Release(9);
  EXPECT_FALSE(map.InRun(9, 1, 9));
}

TEST(SwapMapTest, ExhaustionAllocatesNothing) {
  SwapMap map(70);  // not a multiple of 64: tail bits must never be handed out
  std::vector<uint64_t> slots;
  ASSERT_TRUE(map.Allocate(65, 1, 1, &slots).ok());
  EXPECT_EQ(map.Allocate(6, 1, 100, &slots).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(map.used(), 65u);
  ASSERT_TRUE(map.Allocate(5, 1, 100, &slots).ok());
  for (uint64_t s : slots) EXPECT_LT(s, 70u);
  EXPECT_EQ(map.free(), 0u);
}

TEST(SwapMapTest, ReleasedSlotsAreReusedAfterWrapAround) {
  SwapMap map(128);
  std::vector<uint64_t> slots;
  ASSERT_TRUE(map.Allocate(128, 1, 1, &slots).ok());
  map.Release(5);
  map.Release(77);
  ASSERT_TRUE(map.Allocate(2, 2, 500, &slots).ok());
  EXPECT_EQ(std::set<uint64_t>(slots.begin(), slots.end()),
            (std::set<uint64_t>{5, 77}));
}

TEST(SwapMapTest, CheckOwnedClassifiesEveryBadEntry) {
  SwapMap map(64);
  std::vector<uint64_t> slots;
  ASSERT_TRUE(
      map.Allocate(2, /*owner=*/1, /*first_generation=*/10, &slots).ok());
  // Allocating is not yet readable.
  EXPECT_EQ(map.CheckOwned({0, 10}, 1).code(), absl::StatusCode::kNotFound);
  map.SetState(0, SwapMap::State::kLive);
  map.SetState(1, SwapMap::State::kLive);
  EXPECT_TRUE(map.CheckOwned({0, 10}, 1).ok());
  EXPECT_EQ(map.CheckOwned({0, 9}, 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(map.CheckOwned({1, 11}, 2).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(map.CheckOwned({2, 12}, 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(map.CheckOwned({64, 1}, 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(map.CheckOwned({~uint64_t{0}, 1}, 1).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SwapMapTest, RestoreRejectsOutOfRangeAndDuplicates) {
  SwapMap map(10);
  EXPECT_TRUE(map.RestoreLive(3, {7, 1, 2}, {1, 4}).ok());
  EXPECT_EQ(map.state(3), SwapMap::State::kLive);
  EXPECT_EQ(map.run_first_slot(3), 2u);
  EXPECT_EQ(map.run_first_generation(3), 6u);
  EXPECT_EQ(map.RestoreLive(3, {7, 1, 2}, {0, 1}).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(map.RestoreLive(10, {7, 1, 2}, {0, 1}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(map.RestoreLive(4, {8, 1, 1}, {4, 4}).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(map.state(4), SwapMap::State::kFree);
  std::vector<uint64_t> slots;
  ASSERT_TRUE(map.Allocate(9, 1, 1, &slots).ok());
  for (uint64_t s : slots) EXPECT_NE(s, 3u);
}

TEST(SwapMapTest, ForEachUsedVisitsExactlyTheUsedSlots) {
  SwapMap map(200);
  std::vector<uint64_t> slots;
  ASSERT_TRUE(map.Allocate(130, 1, 1, &slots).ok());
  for (uint64_t s = 0; s < 130; ++s) {
    if (s % 3 != 0) map.Release(s);
  }
  std::vector<uint64_t> seen;
  map.ForEachUsed([&](uint64_t s) { seen.push_back(s); });
  std::vector<uint64_t> want;
  for (uint64_t s = 0; s < 130; s += 3) want.push_back(s);
  EXPECT_EQ(seen, want);
}

}  // namespace
}  // namespace memmgr
