#include "worker/swap/embedded_swap_device.h"

#include <stdlib.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "memmgr/v1/memory_manager.pb.h"
#include "server/swap/rocksdb_slot_storage.h"
#include "server/swap/swap_store.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_page.h"
#include "worker/mmu/mmu_types.h"

namespace memmgr::worker {
namespace {

using memmgr::testing::Page;
using memmgr::testing::TempDir;

// Small swap areas keep the tests' swap_maps small.
EmbeddedSwapDeviceOptions Small() {
  EmbeddedSwapDeviceOptions options;
  options.capacity_pages = 4096;
  return options;
}

std::unique_ptr<EmbeddedSwapDevice> OpenDevice(
    EmbeddedSwapDeviceOptions options = Small()) {
  auto d = EmbeddedSwapDevice::Open(options);
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *std::move(d) : nullptr;
}

std::vector<std::string> Pages(uint64_t seed, size_t n) {
  std::vector<std::string> pages;
  for (size_t i = 0; i < n; ++i) pages.push_back(Page(seed * 1000 + i));
  return pages;
}

std::vector<absl::string_view> Views(const std::vector<std::string>& pages) {
  return std::vector<absl::string_view>(pages.begin(), pages.end());
}

// Reads `slots` and returns their bytes (empty strings on failure).
absl::StatusOr<std::vector<std::string>> Read(
    mmu::SwapDevice& d, const std::vector<mmu::SwapSlot>& slots) {
  std::vector<std::string> out(slots.size(), std::string(mmu::kPageSize, 0));
  std::vector<uint8_t*> dst;
  for (std::string& p : out)
    dst.push_back(reinterpret_cast<uint8_t*>(p.data()));
  absl::Status s = d.ReadPages(slots, dst);
  if (!s.ok()) return s;
  return out;
}

TEST(EmbeddedSwapDeviceTest, BatchesWithDistinctPatternsReadBackIntact) {
  auto d = OpenDevice();
  ASSERT_NE(d, nullptr);
  std::vector<std::vector<std::string>> batches;
  std::vector<std::vector<mmu::SwapSlot>> slots;
  for (uint64_t b = 0; b < 4; ++b) {
    batches.push_back(Pages(b + 1, 1 + b * 20));  // 1, 21, 41, 61 pages
    auto written = d->WritePages(Views(batches.back()));
    ASSERT_TRUE(written.ok()) << written.status();
    ASSERT_EQ(written->size(), batches.back().size());
    slots.push_back(*written);
  }
  // Read back in another order than written, one batch at a time.
  for (int b = 3; b >= 0; --b) {
    auto pages = Read(*d, slots[b]);
    ASSERT_TRUE(pages.ok()) << pages.status();
    for (size_t i = 0; i < pages->size(); ++i) {
      EXPECT_EQ((*pages)[i], batches[b][i]) << "batch " << b << " page " << i;
    }
  }
  EXPECT_EQ(d->stats().slots_used, 1u + 21 + 41 + 61);
  EXPECT_EQ(d->stats().swap_out_pages, 1u + 21 + 41 + 61);
  EXPECT_NE(d->Describe().find("embedded RocksDB at "), std::string::npos);
}

TEST(EmbeddedSwapDeviceTest, DupedSlotStaysReadableUntilItsLastFree) {
  auto d = OpenDevice();
  ASSERT_NE(d, nullptr);
  const std::vector<std::string> pages = Pages(7, 3);
  auto slots = d->WritePages(Views(pages));
  ASSERT_TRUE(slots.ok()) << slots.status();
  const mmu::SwapSlot shared = (*slots)[1];
  // Three references to slot 1 in all: the write's and two sharers'
  // (a slot may repeat within a batch).
  ASSERT_TRUE(d->DupSlots({shared, shared}).ok());

  ASSERT_TRUE(d->FreeSlots(*slots).ok());  // drops one reference each
  EXPECT_EQ(d->stats().slots_used, 1u);
  auto one = Read(*d, {shared});
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ((*one)[0], pages[1]);
  EXPECT_FALSE(Read(*d, {(*slots)[0]}).ok()) << "slot 0 had one reference";

  ASSERT_TRUE(d->FreeSlots({shared}).ok());
  one = Read(*d, {shared});
  ASSERT_TRUE(one.ok()) << "one reference left: " << one.status();
  EXPECT_EQ((*one)[0], pages[1]);

  ASSERT_TRUE(d->FreeSlots({shared}).ok());
  EXPECT_EQ(Read(*d, {shared}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(d->stats().slots_used, 0u);
  // Freeing past zero is an error, not a crash or a negative count.
  EXPECT_FALSE(d->FreeSlots({shared}).ok());
  EXPECT_EQ(d->stats().slots_used, 0u);
}

TEST(EmbeddedSwapDeviceTest, BadBatchesAreInvalidArgument) {
  EmbeddedSwapDeviceOptions options = Small();
  options.max_batch_pages = 8;
  auto d = OpenDevice(options);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->max_batch_pages(), 8u);

  EXPECT_EQ(d->WritePages({}).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<std::string> nine = Pages(1, 9);
  EXPECT_EQ(d->WritePages(Views(nine)).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string short_page(100, 'x');
  const std::string long_page(mmu::kPageSize + 1, 'x');
  EXPECT_EQ(d->WritePages({short_page}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->WritePages({nine[0], long_page}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->stats().slots_used, 0u) << "a bad batch stores nothing";

  auto slots = d->WritePages(Views(Pages(2, 8)));
  ASSERT_TRUE(slots.ok()) << slots.status();
  std::string buf(mmu::kPageSize, 0);
  uint8_t* p = reinterpret_cast<uint8_t*>(buf.data());
  EXPECT_EQ(d->ReadPages({}, {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->ReadPages(*slots, {p}).code(),
            absl::StatusCode::kInvalidArgument)
      << "8 slots, 1 destination";
  EXPECT_EQ(d->ReadPages({(*slots)[0]}, {nullptr}).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<mmu::SwapSlot> too_many(*slots);
  too_many.push_back((*slots)[0]);
  EXPECT_EQ(d->FreeSlots(too_many).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->DupSlots(too_many).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->FreeSlots({}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->DupSlots({}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->stats().slots_used, 8u) << "rejected calls changed nothing";
}

TEST(EmbeddedSwapDeviceTest, UnknownOrStaleSlotsAreErrorsNotCrashes) {
  auto d = OpenDevice();
  ASSERT_NE(d, nullptr);
  const std::vector<std::string> pages = Pages(3, 2);
  auto slots = d->WritePages(Views(pages));
  ASSERT_TRUE(slots.ok()) << slots.status();
  std::string buf(mmu::kPageSize, 'u');
  uint8_t* p = reinterpret_cast<uint8_t*>(buf.data());

  const mmu::SwapSlot stale{(*slots)[0].slot, (*slots)[0].generation + 100};
  const mmu::SwapSlot never_written{4000, 1};
  const mmu::SwapSlot outside{uint64_t{1} << 40, 1};
  for (const mmu::SwapSlot& bad : {stale, never_written, outside}) {
    SCOPED_TRACE(::testing::Message()
                 << "slot " << bad.slot << " generation " << bad.generation);
    EXPECT_FALSE(d->ReadPages({bad}, {p}).ok());
    EXPECT_FALSE(d->FreeSlots({bad}).ok());
    EXPECT_FALSE(d->DupSlots({bad}).ok());
    // All or nothing: one bad entry fails the batch and frees nothing.
    EXPECT_FALSE(d->FreeSlots({(*slots)[1], bad}).ok());
  }
  EXPECT_EQ(buf, std::string(mmu::kPageSize, 'u')) << "failed reads wrote";
  EXPECT_EQ(d->stats().slots_used, 2u);
  auto back = Read(*d, *slots);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, pages);

  // A freed slot's entry stays dead even after the slot is reused.
  ASSERT_TRUE(d->FreeSlots(*slots).ok());
  auto again = d->WritePages(Views(Pages(4, 2)));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Read(*d, {(*slots)[0]}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(EmbeddedSwapDeviceTest, ConcurrentWritersReadBackTheirOwnPages) {
  auto d = OpenDevice();
  ASSERT_NE(d, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 10; ++round) {
        const std::vector<std::string> pages = Pages(100 * t + round, 16);
        auto slots = d->WritePages(Views(pages));
        if (!slots.ok()) {
          ++failures;
          return;
        }
        auto back = Read(*d, *slots);
        if (!back.ok() || *back != pages) ++failures;
        if (!d->FreeSlots(*slots).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(d->stats().slots_used, 0u);
}

TEST(EmbeddedSwapDeviceTest, TempDirIsRemovedOnDestruction) {
  TempDir tmp;
  // Open's temp dir goes under $TMPDIR: point it at a dir we can inspect.
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("TMPDIR", tmp.path().c_str(), 1);
  auto d = OpenDevice();
  if (old != nullptr) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  ASSERT_NE(d, nullptr);
  const std::string dir = d->dir();
  EXPECT_EQ(dir.rfind(tmp.path() + "/memmgr-swap-", 0), 0u) << dir;
  ASSERT_TRUE(d->WritePages(Views(Pages(5, 4))).ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  d.reset();
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(EmbeddedSwapDeviceTest, GivenDirIsKeptAndReopensWithoutOldSlots) {
  TempDir tmp;
  EmbeddedSwapDeviceOptions options = Small();
  options.dir = tmp.Sub("swap");
  {
    auto d = OpenDevice(options);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->dir(), options.dir);
    ASSERT_TRUE(d->WritePages(Views(Pages(6, 10))).ok());
    EXPECT_EQ(d->stats().slots_used, 10u);
  }
  EXPECT_TRUE(std::filesystem::is_directory(options.dir));
  auto d = OpenDevice(options);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->stats().slots_used, 0u) << "the last device freed its slots";
  EXPECT_EQ(d->stats().leases, 1u);
}

TEST(EmbeddedSwapDeviceTest, SlotsOfACrashedWorkerAreFreedOnReopen) {
  TempDir tmp;
  EmbeddedSwapDeviceOptions options = Small();
  options.dir = tmp.Sub("swap");
  options.capacity_pages = 64;
  {
    // What a crashed worker leaves behind: a lease holding slots, never
    // ended. Written with the store itself, as the device would have.
    auto storage = RocksDbSlotStorage::Open(options.dir);
    ASSERT_TRUE(storage.ok()) << storage.status();
    SwapStoreOptions store_options;
    store_options.capacity_pages = 64;
    auto store = SwapStore::Open(store_options, *std::move(storage));
    ASSERT_TRUE(store.ok()) << store.status();
    v1::RegisterWorkerRequest spec;
    spec.set_node_name("embedded");
    spec.set_frame_capacity_pages(1);
    auto lease = (*store)->RegisterLease(spec);
    ASSERT_TRUE(lease.ok()) << lease.status();
    const std::vector<std::string> pages = Pages(8, 40);
    ASSERT_TRUE((*store)->SwapOut(lease->lease_id, Views(pages)).ok());
  }
  auto d = OpenDevice(options);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->stats().slots_used, 0u);
  EXPECT_EQ(d->stats().leases, 1u) << "only the device's own";
  // The whole swap area is usable again.
  auto all = d->WritePages(Views(Pages(9, 64)));
  EXPECT_TRUE(all.ok()) << all.status();
}

TEST(EmbeddedSwapDeviceTest, OpenRejectsBadOptions) {
  EmbeddedSwapDeviceOptions options;
  options.capacity_pages = 0;
  EXPECT_EQ(EmbeddedSwapDevice::Open(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.capacity_pages = 16;
  options.max_batch_pages = 0;
  EXPECT_EQ(EmbeddedSwapDevice::Open(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace memmgr::worker
