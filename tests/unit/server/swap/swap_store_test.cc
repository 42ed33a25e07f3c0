#include "server/swap/swap_store.h"

#include <random>
#include <thread>

#include "common/crc32c.h"
#include "gtest/gtest.h"
#include "server/swap/rocksdb_slot_storage.h"
#include "server/swap/storage_format.h"
#include "tests/testing/fault_injecting_storage.h"
#include "tests/testing/temp_dir.h"

namespace memmgr {
namespace {

using ::memmgr::testing::FaultInjectingStorage;
using ::memmgr::testing::OwningFaultInjectingStorage;
using ::memmgr::testing::TempDir;

std::string Page(uint64_t seed) {
  std::string p(kPageSize, '\0');
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < p.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(p.data() + i, &v, 8);
  }
  return p;
}

std::vector<absl::string_view> Views(const std::vector<std::string>& pages) {
  return std::vector<absl::string_view>(pages.begin(), pages.end());
}

v1::RegisterWorkerRequest Spec(const std::string& name) {
  v1::RegisterWorkerRequest r;
  r.set_node_name(name);
  r.set_frame_capacity_pages(1024);
  (*r.mutable_distances())[0] = 10;
  (*r.mutable_distances())[1] = 20;
  return r;
}

class SwapStoreTest : public ::testing::Test {
 protected:
  void Open(uint64_t capacity = 4096, uint32_t max_batch = 256) {
    store_.reset();
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    ASSERT_TRUE(storage.ok()) << storage.status();
    SwapStoreOptions o;
    o.capacity_pages = capacity;
    o.max_batch_pages = max_batch;
    o.lease_ttl = absl::Seconds(10);
    o.clock = &clock_;
    auto store =
        SwapStore::Open(o, std::make_unique<OwningFaultInjectingStorage>(
                               *std::move(storage), &faults_));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  std::string Register(const std::string& name = "node-a") {
    auto grant = store_->RegisterLease(Spec(name));
    EXPECT_TRUE(grant.ok()) << grant.status();
    return grant.ok() ? grant->lease_id : "";
  }
  std::vector<SwapEntry> Out(const std::string& lease,
                             const std::vector<std::string>& pages) {
    auto e = store_->SwapOut(lease, Views(pages));
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *e : std::vector<SwapEntry>{};
  }

  TempDir dir_;
  ManualClock clock_;
  FaultInjectingStorage* faults_ = nullptr;
  std::unique_ptr<SwapStore> store_;
};

TEST_F(SwapStoreTest, ThousandsOfRandomPagesRoundTripByteIdentical) {
  Open(/*capacity=*/8192);
  const std::string lease = Register();
  std::vector<SwapEntry> all;
  for (int b = 0; b < 20; ++b) {
    std::vector<std::string> pages;
    for (int i = 0; i < 200; ++i) pages.push_back(Page(b * 1000 + i));
    auto e = Out(lease, pages);
    all.insert(all.end(), e.begin(), e.end());
  }
  ASSERT_EQ(all.size(), 4000u);
  EXPECT_EQ(store_->GetStats().slots_used, 4000u);
  for (int b = 0; b < 20; ++b) {
    std::vector<std::string> back;
    ASSERT_TRUE(
        store_->SwapIn(lease, absl::MakeSpan(all).subspan(b * 200, 200), &back)
            .ok());
    for (int i = 0; i < 200; ++i) ASSERT_EQ(back[i], Page(b * 1000 + i));
  }
  EXPECT_EQ(store_->GetStats().swap_in_pages, 4000u);
}

TEST_F(SwapStoreTest, RestartRebuildsSwapMapLeasesAndNeverReissuesAGeneration) {
  Open();
  const std::string lease = Register();
  auto kept = Out(lease, {Page(1), Page(2), Page(3)});
  auto freed = Out(lease, {Page(4)});
  ASSERT_EQ(store_->FreeSlots(lease, freed).value(), 1u);

  clock_.Advance(absl::Seconds(8));  // most of the TTL used up
  Open();                            // restart on the same data
  EXPECT_EQ(store_->GetStats().slots_used, 3u);
  EXPECT_EQ(store_->GetStats().leases, 1u);
  std::vector<std::string> back;
  ASSERT_TRUE(store_->SwapIn(lease, kept, &back).ok());
  EXPECT_EQ(back, (std::vector<std::string>{Page(1), Page(2), Page(3)}));
  // The restored lease got a fresh TTL from the restart.
  clock_.Advance(absl::Seconds(9));
  EXPECT_TRUE(store_->Heartbeat(lease).ok());

  // The freed slot is reused with a generation never issued before, so the
  // old entry stays dead.
  auto reused = Out(lease, {Page(5)});
  EXPECT_EQ(reused[0].slot, freed[0].slot);
  EXPECT_GT(reused[0].generation, freed[0].generation);
  EXPECT_EQ(store_->SwapIn(lease, freed, &back).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SwapStoreTest, StaleForeignAndUnknownEntriesGetPreciseCodes) {
  Open();
  const std::string a = Register("a");
  const std::string b = Register("b");
  auto ea = Out(a, {Page(1)});
  std::vector<std::string> back;
  EXPECT_EQ(store_->SwapIn(b, ea, &back).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(store_->FreeSlots(b, ea).status().code(),
            absl::StatusCode::kPermissionDenied);
  std::vector<SwapEntry> stale = {{ea[0].slot, ea[0].generation + 1}};
  EXPECT_EQ(store_->SwapIn(a, stale, &back).code(),
            absl::StatusCode::kNotFound);
  std::vector<SwapEntry> out_of_range = {{1u << 30, 1}};
  EXPECT_EQ(store_->SwapIn(a, out_of_range, &back).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      store_->SwapIn("0123456789abcdef0123456789abcdef", ea, &back).code(),
      absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(store_->SwapIn("", ea, &back).code(),
            absl::StatusCode::kInvalidArgument);
  // The owner still reads its page after all that.
  ASSERT_TRUE(store_->SwapIn(a, ea, &back).ok());
  EXPECT_EQ(back[0], Page(1));
}

TEST_F(SwapStoreTest, MalformedBatchesAreInvalidArgument) {
  Open(/*capacity=*/4096, /*max_batch=*/8);
  const std::string lease = Register();
  EXPECT_EQ(store_->SwapOut(lease, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<std::string> nine(9, Page(1));
  EXPECT_EQ(store_->SwapOut(lease, Views(nine)).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (size_t size : {0, 1, 4095, 4097, 8192}) {
    std::vector<std::string> pages = {Page(1), std::string(size, 'x')};
    EXPECT_EQ(store_->SwapOut(lease, Views(pages)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << size;
  }
  EXPECT_EQ(store_->GetStats().slots_used, 0u);
  std::vector<std::string> back;
  EXPECT_EQ(store_->SwapIn(lease, {}, &back).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->FreeSlots(lease, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SwapStoreTest, ExhaustedCapacityWritesNothing) {
  Open(/*capacity=*/10);
  const std::string lease = Register();
  auto e = Out(lease, std::vector<std::string>(8, Page(7)));
  const int writes_before = faults_->writes();
  std::vector<std::string> three(3, Page(8));
  EXPECT_EQ(store_->SwapOut(lease, Views(three)).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(faults_->writes(), writes_before);  // nothing half-written
  EXPECT_EQ(store_->GetStats().slots_used, 8u);
  EXPECT_EQ(Out(lease, {Page(9), Page(10)}).size(), 2u);  // the rest still fits
}

TEST_F(SwapStoreTest, FailedStorageWriteAllocatesNothingAndRecovers) {
  Open();
  const std::string lease = Register();
  faults_->FailNextWrites(1);
  auto failed = store_->SwapOut(lease, Views({Page(1), Page(2)}));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_->GetStats().slots_used, 0u);
  EXPECT_EQ(store_->GetStats().swap_out_pages, 0u);
  auto ok = Out(lease, {Page(3)});
  ASSERT_EQ(ok.size(), 1u);
  // A failed free leaves the slot readable.
  faults_->FailNextWrites(1);
  EXPECT_EQ(store_->FreeSlots(lease, ok).status().code(),
            absl::StatusCode::kUnavailable);
  std::vector<std::string> back;
  ASSERT_TRUE(store_->SwapIn(lease, ok, &back).ok());
  EXPECT_EQ(back[0], Page(3));
}

TEST_F(SwapStoreTest, RottenBytesAreDataLossNeverWrongData) {
  Open();
  const std::string lease = Register();
  auto e = Out(lease, {Page(1)});
  faults_->SetCorruptReads(true);
  std::vector<std::string> back;
  absl::Status s = store_->SwapIn(lease, e, &back);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(back.empty());
  faults_->SetCorruptReads(false);
  ASSERT_TRUE(store_->SwapIn(lease, e, &back).ok());
  EXPECT_EQ(back[0], Page(1));
}

TEST_F(SwapStoreTest, LeaseExpiryFreesItsSlotsOnly) {
  Open();
  const std::string a = Register("a");
  const std::string b = Register("b");
  Out(a, {Page(1), Page(2)});
  auto eb = Out(b, {Page(3)});
  clock_.Advance(absl::Seconds(6));
  ASSERT_TRUE(store_->Heartbeat(b).ok());
  clock_.Advance(absl::Seconds(6));  // a: 12s without heartbeat > 10s TTL
  EXPECT_EQ(store_->Heartbeat(a).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->ExpireLeases(), 1u);
  auto stats = store_->GetStats();
  EXPECT_EQ(stats.slots_used, 1u);
  EXPECT_EQ(stats.leases, 1u);
  EXPECT_EQ(stats.leases_expired, 1u);
  std::vector<std::string> back;
  EXPECT_EQ(store_->SwapIn(a, eb, &back).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->SwapIn(b, eb, &back).ok());
  // Expiry is durable: a restart does not bring lease a back.
  Open();
  EXPECT_EQ(store_->GetStats().slots_used, 1u);
  EXPECT_EQ(store_->GetStats().leases, 1u);
}

TEST_F(SwapStoreTest, UnregisterFreesEverythingAndIsIdempotent) {
  Open();
  const std::string lease = Register();
  Out(lease, {Page(1), Page(2), Page(3)});
  EXPECT_EQ(store_->UnregisterLease(lease).value(), 3u);
  EXPECT_EQ(store_->UnregisterLease(lease).value(), 0u);
  EXPECT_EQ(store_->GetStats().slots_used, 0u);
  EXPECT_EQ(store_->UnregisterLease("nope").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(SwapStoreTest, DupKeepsSlotUntilLastSharerFreesItAcrossRestart) {
  Open();
  const std::string lease = Register();
  auto e = Out(lease, {Page(1)});
  ASSERT_TRUE(store_->DupSlots(lease, e).ok());
  ASSERT_TRUE(store_->DupSlots(lease, e).ok());        // count 3
  EXPECT_EQ(store_->FreeSlots(lease, e).value(), 0u);  // 2
  Open();                                              // persisted count
  EXPECT_EQ(store_->FreeSlots(lease, e).value(), 0u);  // 1
  std::vector<std::string> back;
  ASSERT_TRUE(store_->SwapIn(lease, e, &back).ok());
  EXPECT_EQ(store_->FreeSlots(lease, e).value(), 1u);  // 0: freed
  EXPECT_EQ(store_->SwapIn(lease, e, &back).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetStats().slots_used, 0u);
}

TEST_F(SwapStoreTest, FreeingBeyondTheCountIsRejectedWholeBatch) {
  Open();
  const std::string lease = Register();
  auto e = Out(lease, {Page(1), Page(2)});
  std::vector<SwapEntry> twice = {e[0], e[1], e[1]};
  EXPECT_EQ(store_->FreeSlots(lease, twice).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetStats().slots_used, 2u);  // nothing applied
  std::vector<SwapEntry> with_stale = {e[0], {e[1].slot, 999999}};
  EXPECT_EQ(store_->FreeSlots(lease, with_stale).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetStats().slots_used, 2u);
}

TEST_F(SwapStoreTest, RegisterValidatesTheSpec) {
  Open();
  auto bad = Spec("");
  EXPECT_EQ(store_->RegisterLease(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = Spec("x");
  bad.set_frame_capacity_pages(0);
  EXPECT_EQ(store_->RegisterLease(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = Spec("x");
  (*bad.mutable_distances())[3] = 5;
  EXPECT_EQ(store_->RegisterLease(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = Spec(std::string(254, 'n'));
  EXPECT_EQ(store_->RegisterLease(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetStats().leases, 0u);
}

TEST_F(SwapStoreTest, RefusesDataOfAnotherFormatOrBeyondCapacity) {
  Open(/*capacity=*/100);
  const std::string lease = Register();
  std::vector<std::string> pages(60, Page(1));
  Out(lease, pages);
  store_.reset();
  {  // a smaller swap area cannot hold the stored slots
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    ASSERT_TRUE(storage.ok());
    SwapStoreOptions o;
    o.capacity_pages = 50;
    o.clock = &clock_;
    EXPECT_EQ(SwapStore::Open(o, *std::move(storage)).status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
  {  // a future format version
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    ASSERT_TRUE(storage.ok());
    StorageBatch b;
    b.Put(std::string(kFormatKey), EncodeU64(kFormatVersion + 1));
    ASSERT_TRUE((*storage)->Write(b, true).ok());
    SwapStoreOptions o;
    o.clock = &clock_;
    auto s = SwapStore::Open(o, *std::move(storage));
    EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  }
  {  // a RocksDB that is not ours
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("other"));
    ASSERT_TRUE(storage.ok());
    StorageBatch b;
    b.Put("user-key", "value");
    ASSERT_TRUE((*storage)->Write(b, true).ok());
    SwapStoreOptions o;
    o.clock = &clock_;
    EXPECT_EQ(SwapStore::Open(o, *std::move(storage)).status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
}

// Many threads, each with its own lease, swapping out, reading back, sharing
// and freeing at once, while another thread ends leases. Run under TSan via
// the tsan build (label "tsan").
TEST_F(SwapStoreTest, ConcurrentLeasesNeverSeeEachOthersPages) {
  Open(/*capacity=*/1 << 16);
  constexpr int kThreads = 6;
  constexpr int kRounds = 40;
  std::vector<std::string> leases;
  for (int t = 0; t < kThreads; ++t)
    leases.push_back(Register("n" + std::to_string(t)));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        std::vector<std::string> pages;
        for (int i = 0; i < 16; ++i)
          pages.push_back(Page(t * 100000 + r * 100 + i));
        auto e = store_->SwapOut(leases[t], Views(pages));
        if (!e.ok()) {
          ++failures;
          continue;
        }
        std::vector<std::string> back;
        if (!store_->SwapIn(leases[t], *e, &back).ok() || back != pages)
          ++failures;
        if (!store_->DupSlots(leases[t], absl::MakeSpan(*e).subspan(0, 4)).ok())
          ++failures;
        auto f = store_->FreeSlots(leases[t], *e);
        if (!f.ok() || *f != 12) ++failures;
        auto f2 =
            store_->FreeSlots(leases[t], absl::MakeSpan(*e).subspan(0, 4));
        if (!f2.ok() || *f2 != 4) ++failures;
      }
    });
  }
  // A short-lived extra lease that is registered and dropped repeatedly.
  threads.emplace_back([&] {
    for (int r = 0; r < kRounds; ++r) {
      auto g = store_->RegisterLease(Spec("churn"));
      if (!g.ok()) {
        ++failures;
        continue;
      }
      (void)store_->SwapOut(g->lease_id, Views({Page(r)}));
      if (!store_->UnregisterLease(g->lease_id).ok()) ++failures;
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store_->GetStats().slots_used, 0u);
}

}  // namespace
}  // namespace memmgr
