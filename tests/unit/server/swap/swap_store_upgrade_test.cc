// Opening a format-1 data directory (one "s" SlotMeta record per slot) with
// the format-2 store: it is converted to run records, nothing is lost, and
// a conversion cut short is finished by the next open. The format-1
// directories are written here record by record with the format-1 encoding
// (EncodeSlotMetaV1ForTest), as a format-1 server left them.
#include <algorithm>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "server/lease/lease_record.pb.h"
#include "server/swap/rocksdb_slot_storage.h"
#include "server/swap/storage_format.h"
#include "server/swap/swap_store.h"
#include "tests/testing/fault_injecting_storage.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_page.h"

namespace memmgr {
namespace {

using ::memmgr::testing::FaultInjectingStorage;
using ::memmgr::testing::OwningFaultInjectingStorage;
using ::memmgr::testing::Page;
using ::memmgr::testing::TempDir;

std::string LeaseId(uint32_t number) {
  return std::string(32, static_cast<char>('a' + number));
}

struct V1Slot {
  uint64_t slot;
  uint64_t generation;
  uint64_t owner;
  uint32_t refcount;
};

class SwapStoreUpgradeTest : public ::testing::Test {
 protected:
  // A format-1 database: markers, lease records for `leases`, and for each
  // slot its "s" record and its page record (page contents Page(slot)).
  void WriteV1(const std::vector<uint32_t>& leases,
               const std::vector<V1Slot>& slots, uint64_t next_generation) {
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    ASSERT_TRUE(storage.ok()) << storage.status();
    StorageBatch b;
    b.Put(std::string(kFormatKey), EncodeU64(1));
    b.Put(std::string(kGenerationKey), EncodeU64(next_generation));
    uint32_t next_lease = 1;
    for (uint32_t number : leases) {
      internal::LeaseRecord record;
      record.set_lease_id(LeaseId(number));
      record.set_number(number);
      record.mutable_spec()->set_node_name("node-" + std::to_string(number));
      record.mutable_spec()->set_frame_capacity_pages(1024);
      b.Put(NumberKey(kLeasePrefix, number), record.SerializeAsString());
      next_lease = std::max(next_lease, number + 1);
    }
    b.Put(std::string(kNextLeaseKey), EncodeU64(next_lease));
    for (const V1Slot& s : slots) {
      b.Put(NumberKey(kSlotMetaV1Prefix, s.slot),
            EncodeSlotMetaV1ForTest(
                SlotMetaV1{s.generation, s.owner, s.refcount}));
      std::string record;
      EncodePageRecord(Page(s.slot), s.generation, &record);
      b.Put(NumberKey(kPageDataPrefix, s.slot), record);
    }
    ASSERT_TRUE((*storage)->Write(b, /*sync=*/true).ok());
  }

  absl::Status Open() {
    store_.reset();
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    if (!storage.ok()) return storage.status();
    SwapStoreOptions o;
    o.capacity_pages = 1 << 16;
    o.clock = &clock_;
    auto store =
        SwapStore::Open(o, std::make_unique<OwningFaultInjectingStorage>(
                               *std::move(storage), &faults_));
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
    return absl::OkStatus();
  }

  // Reads the directory directly (no store open).
  size_t CountKeys(char prefix) {
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    EXPECT_TRUE(storage.ok()) << storage.status();
    size_t n = 0;
    EXPECT_TRUE((*storage)
                    ->Scan(std::string(1, prefix),
                           [&](absl::string_view, absl::string_view) {
                             ++n;
                             return absl::OkStatus();
                           })
                    .ok());
    return n;
  }
  uint64_t StoredFormat() {
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    EXPECT_TRUE(storage.ok()) << storage.status();
    auto v = (*storage)->Get(kFormatKey);
    EXPECT_TRUE(v.ok() && v->has_value());
    return DecodeU64(**v).value();
  }

  void ExpectPagesOf(uint32_t lease, const std::vector<V1Slot>& slots) {
    std::vector<SwapEntry> entries;
    for (const V1Slot& s : slots) {
      if (s.owner == lease) entries.push_back({s.slot, s.generation});
    }
    for (size_t i = 0; i < entries.size(); i += 256) {
      const size_t n = std::min<size_t>(256, entries.size() - i);
      std::vector<std::string> back;
      absl::Status st = store_->SwapIn(
          LeaseId(lease), absl::MakeSpan(entries).subspan(i, n), &back);
      ASSERT_TRUE(st.ok()) << st;
      for (size_t j = 0; j < n; ++j) {
        ASSERT_EQ(back[j], Page(entries[i + j].slot))
            << "slot " << entries[i + j].slot;
      }
    }
  }

  TempDir dir_;
  ManualClock clock_;
  FaultInjectingStorage* faults_ = nullptr;
  std::unique_ptr<SwapStore> store_;
};

TEST_F(SwapStoreUpgradeTest, V1DirectoryIsConvertedAndReadsBackByteIdentical) {
  std::vector<V1Slot> slots;
  // Lease 1: slots 0..99, generations not in slot order (format 1 kept no
  // runs), two of them shared.
  for (uint64_t s = 0; s < 100; ++s) {
    slots.push_back({s, 4000 - 7 * s, 1, s == 5 ? 3u : s == 6 ? 2u : 1u});
  }
  // Lease 2: slots 200..249.
  for (uint64_t s = 200; s < 250; ++s) slots.push_back({s, 10 + s, 2, 1});
  // Orphans: lease 3 has no record, and an owner no lease number can be.
  for (uint64_t s = 300; s < 310; ++s) slots.push_back({s, 300 + s, 3, 1});
  slots.push_back({400, 999, uint64_t{1} << 33, 1});
  WriteV1({1, 2}, slots, /*next_generation=*/5000);

  ASSERT_TRUE(Open().ok());
  EXPECT_EQ(store_->GetStats().leases, 2u);
  EXPECT_EQ(store_->GetStats().slots_used, 150u);
  ExpectPagesOf(1, slots);
  ExpectPagesOf(2, slots);

  // Refcounts came along: slot 5 takes three frees, slot 6 two.
  const std::vector<SwapEntry> five = {{5, 4000 - 35}};
  const std::vector<SwapEntry> six = {{6, 4000 - 42}};
  EXPECT_EQ(store_->FreeSlots(LeaseId(1), five).value(), 0u);
  EXPECT_EQ(store_->FreeSlots(LeaseId(1), six).value(), 0u);
  // New pages get generations above the format-1 reservation.
  std::vector<std::string> fresh = {Page(1 << 20)};
  auto e = store_->SwapOut(LeaseId(2), {fresh[0]});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_GE((*e)[0].generation, 5000u);

  ASSERT_TRUE(Open().ok());  // a plain format-2 restart now
  EXPECT_EQ(store_->GetStats().slots_used, 151u);
  EXPECT_EQ(store_->FreeSlots(LeaseId(1), five).value(), 0u);
  EXPECT_EQ(store_->FreeSlots(LeaseId(1), five).value(), 1u);
  EXPECT_EQ(store_->FreeSlots(LeaseId(1), six).value(), 1u);
  std::vector<std::string> back;
  ASSERT_TRUE(store_->SwapIn(LeaseId(2), *e, &back).ok());
  EXPECT_EQ(back, fresh);
  store_.reset();

  // On disk: format 2, no "s" records, one run per slot still live (148
  // converted + the new batch), orphans gone with their pages.
  EXPECT_EQ(StoredFormat(), 2u);
  EXPECT_EQ(CountKeys('s'), 0u);
  EXPECT_EQ(CountKeys('r'), 149u);
  EXPECT_EQ(CountKeys('d'), 149u);
  ASSERT_TRUE(Open().ok());
  ExpectPagesOf(2, slots);
}

TEST_F(SwapStoreUpgradeTest, InterruptedConversionIsFinishedByTheNextOpen) {
  std::vector<V1Slot> slots;
  for (uint64_t s = 0; s < 2500; ++s) slots.push_back({s, 1 + s, 1, 1});
  slots[1234].refcount = 4;
  WriteV1({1}, slots, /*next_generation=*/1 << 20);

  // The second conversion batch fails, as if the server died there.
  {
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    ASSERT_TRUE(storage.ok());
    FaultInjectingStorage* faults = nullptr;
    auto wrapped = std::make_unique<OwningFaultInjectingStorage>(
        *std::move(storage), &faults);
    int conversion_batches = 0;
    faults->SetWriteHook([&](const StorageBatch& batch) -> absl::Status {
      for (const StorageBatch::Op& op : batch.ops()) {
        if (op.is_delete && op.key[0] == kSlotMetaV1Prefix) {
          if (++conversion_batches == 2) {
            return absl::UnavailableError("injected: died mid-conversion");
          }
          break;
        }
      }
      return absl::OkStatus();
    });
    SwapStoreOptions o;
    o.capacity_pages = 1 << 16;
    o.clock = &clock_;
    auto store = SwapStore::Open(o, std::move(wrapped));
    EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(conversion_batches, 2);
  }
  // Half converted: already marked format 2 (a format-1 server refuses it),
  // the first batch's records are runs, the rest still "s" records.
  EXPECT_EQ(StoredFormat(), 2u);
  EXPECT_EQ(CountKeys('r'), 1024u);
  EXPECT_EQ(CountKeys('s'), 2500u - 1024u);
  EXPECT_EQ(CountKeys('d'), 2500u);

  ASSERT_TRUE(Open().ok());
  EXPECT_EQ(store_->GetStats().slots_used, 2500u);
  ExpectPagesOf(1, slots);
  const std::vector<SwapEntry> shared = {{1234, 1235}};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(store_->FreeSlots(LeaseId(1), shared).value(), 0u);
  }
  EXPECT_EQ(store_->FreeSlots(LeaseId(1), shared).value(), 1u);
  store_.reset();
  EXPECT_EQ(CountKeys('s'), 0u);
  EXPECT_EQ(CountKeys('r'), 2499u);
}

TEST_F(SwapStoreUpgradeTest, MalformedV1RecordRefusesTheStart) {
  WriteV1({1}, {{0, 1, 1, 1}, {1, 2, 1, 1}}, /*next_generation=*/100);
  {
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    ASSERT_TRUE(storage.ok());
    StorageBatch b;
    b.Put(NumberKey(kSlotMetaV1Prefix, 1), "not 21 bytes");
    ASSERT_TRUE((*storage)->Write(b, true).ok());
  }
  absl::Status s = Open();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "slot 1: malformed")) << s;
  // Two slots claiming one generation cannot both become runs.
  WriteV1({1}, {{0, 1, 1, 1}, {1, 1, 1, 1}}, /*next_generation=*/100);
  s = Open();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "repeats generation 1")) << s;
}

TEST_F(SwapStoreUpgradeTest, OtherFormatsAreRefusedUntouched) {
  for (uint64_t version : {uint64_t{0}, uint64_t{3}, uint64_t{1} << 40}) {
    WriteV1({1}, {{0, 1, 1, 1}}, /*next_generation=*/100);
    {
      auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
      ASSERT_TRUE(storage.ok());
      StorageBatch b;
      b.Put(std::string(kFormatKey), EncodeU64(version));
      ASSERT_TRUE((*storage)->Write(b, true).ok());
    }
    EXPECT_EQ(Open().code(), absl::StatusCode::kFailedPrecondition) << version;
    EXPECT_EQ(StoredFormat(), version);
    EXPECT_EQ(CountKeys('s'), 1u);
    EXPECT_EQ(CountKeys('r'), 0u);
  }
}

}  // namespace
}  // namespace memmgr
