#include "server/swap/swap_store.h"

#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "common/crc32c.h"
#include "gtest/gtest.h"
#include "server/swap/rocksdb_slot_storage.h"
#include "server/swap/storage_format.h"
#include "tests/testing/fault_injecting_storage.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_page.h"

namespace memmgr {
namespace {

using ::memmgr::testing::FaultInjectingStorage;
using ::memmgr::testing::OwningFaultInjectingStorage;
using ::memmgr::testing::Page;
using ::memmgr::testing::TempDir;

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
  void Open(uint64_t capacity = 4096, uint32_t max_batch = 256,
            Compressor compressor = Compressor::kNone,
            uint64_t zswap_pool_bytes = 0) {
    store_.reset();
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    ASSERT_TRUE(storage.ok()) << storage.status();
    SwapStoreOptions o;
    o.capacity_pages = capacity;
    o.max_batch_pages = max_batch;
    o.compressor = compressor;
    o.zswap_max_pool_bytes = zswap_pool_bytes;
    o.lease_ttl = absl::Seconds(10);
    o.clock = &clock_;
    o.before_meta_write_for_test = before_meta_write_;
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

  // What storage holds (read through the store's own storage).
  std::map<uint64_t, RunMeta> Runs() {
    std::map<uint64_t, RunMeta> runs;
    absl::Status s =
        faults_->Scan(std::string(1, kRunMetaPrefix),
                      [&](absl::string_view key, absl::string_view value) {
                        uint64_t g = 0;
                        EXPECT_TRUE(ParseNumberKey(key, kRunMetaPrefix, &g));
                        absl::StatusOr<RunMeta> run = DecodeRunMeta(value);
                        EXPECT_TRUE(run.ok()) << run.status();
                        if (run.ok()) runs[g] = *std::move(run);
                        return absl::OkStatus();
                      });
    EXPECT_TRUE(s.ok()) << s;
    return runs;
  }
  size_t CountKeys(char prefix) {
    size_t n = 0;
    EXPECT_TRUE(faults_
                    ->Scan(std::string(1, prefix),
                           [&](absl::string_view, absl::string_view) {
                             ++n;
                             return absl::OkStatus();
                           })
                    .ok());
    return n;
  }
  void ExpectPages(const std::string& lease, const std::vector<SwapEntry>& e,
                   const std::vector<std::string>& want) {
    std::vector<std::string> back;
    absl::Status s = store_->SwapIn(lease, e, &back);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(back, want);
  }

  TempDir dir_;
  ManualClock clock_;
  FaultInjectingStorage* faults_ = nullptr;
  std::function<void()> before_meta_write_;
  std::unique_ptr<SwapStore> store_;
};

std::vector<std::string> Pages(int first, int n) {
  std::vector<std::string> pages;
  for (int i = 0; i < n; ++i) pages.push_back(Page(first + i));
  return pages;
}

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

// A mix like process memory: zero and same-filled pages, compressible ones
// (small integers, text-like) and incompressible ones.
std::string MixedPage(uint64_t i) {
  switch (i % 4) {
    case 0:
      return std::string(kPageSize, '\0');
    case 1: {
      std::string p(kPageSize, '\0');
      for (size_t k = 0; k < kPageSize; k += 8) p[k] = static_cast<char>(i);
      return p;  // one 8-byte word repeated
    }
    case 2: {
      std::string p(kPageSize, '\0');
      for (size_t k = 0; k < kPageSize; k += 16) {
        const uint64_t v = (i * 31 + k) % 977;
        std::memcpy(&p[k], &v, 8);
      }
      return p;
    }
    default:
      return Page(i);
  }
}

TEST_F(SwapStoreTest, CompressedTierServesFromThePoolAndSurvivesRestart) {
  // A pool far smaller than the data: some SwapIns hit it, others read
  // RocksDB's (compressed) records.
  Open(/*capacity=*/4096, 256, Compressor::kLz4, /*zswap_pool_bytes=*/64 << 10);
  const std::string lease = Register();
  std::vector<std::string> pages;
  for (uint64_t i = 0; i < 600; ++i) pages.push_back(MixedPage(i));
  std::vector<SwapEntry> all;
  for (size_t b = 0; b < pages.size(); b += 200) {
    auto e = Out(lease, std::vector<std::string>(pages.begin() + b,
                                                 pages.begin() + b + 200));
    all.insert(all.end(), e.begin(), e.end());
  }
  ASSERT_EQ(all.size(), pages.size());
  std::vector<std::string> back;
  for (size_t b = 0; b < all.size(); b += 200) {
    ASSERT_TRUE(
        store_->SwapIn(lease, absl::MakeSpan(all).subspan(b, 200), &back).ok());
    for (size_t i = 0; i < 200; ++i) ASSERT_EQ(back[i], pages[b + i]) << b + i;
  }
  SwapStoreStats s = store_->GetStats();
  EXPECT_TRUE(s.zswap_enabled);
  EXPECT_GT(s.swap_in_zswap_pages, 0u);
  EXPECT_GT(s.swap_in_rocksdb_pages, 0u);
  EXPECT_EQ(s.swap_in_zswap_pages + s.swap_in_rocksdb_pages, 600u);
  EXPECT_EQ(s.stored_by_codec[static_cast<int>(PageCodec::kSameFilled)], 300u);
  EXPECT_EQ(s.stored_by_codec[static_cast<int>(PageCodec::kLz4)], 150u);
  EXPECT_EQ(s.stored_by_codec[static_cast<int>(PageCodec::kRaw)], 150u);
  EXPECT_EQ(s.zswap.reject_compress_poor, 150u);
  EXPECT_LE(s.zswap.pool_bytes, uint64_t{64} << 10);
  // Far fewer bytes than pages went to RocksDB.
  EXPECT_LT(s.stored_payload_bytes, 600 * kPageSize / 3);

  // Restart: the pool starts empty; every page comes from RocksDB intact.
  Open(/*capacity=*/4096, 256, Compressor::kLz4, 64 << 10);
  ASSERT_TRUE(
      store_->SwapIn(lease, absl::MakeSpan(all).subspan(0, 200), &back).ok());
  for (size_t i = 0; i < 200; ++i) ASSERT_EQ(back[i], pages[i]) << i;
  s = store_->GetStats();
  EXPECT_EQ(s.swap_in_rocksdb_pages, 200u);
  EXPECT_EQ(s.zswap.stored_pages, 0u);

  // A reader that compresses with zstd reads lz4 records too (the codec is
  // per record), and frees empty the pool.
  Open(/*capacity=*/4096, 256, Compressor::kZstd, 1 << 20);
  auto z = Out(lease, {MixedPage(2), MixedPage(6)});
  ASSERT_TRUE(store_->SwapIn(lease, z, &back).ok());
  EXPECT_EQ(back[1], MixedPage(6));
  EXPECT_EQ(
      store_->GetStats().stored_by_codec[static_cast<int>(PageCodec::kZstd)],
      2u);
  EXPECT_EQ(store_->GetStats().zswap.stored_pages, 2u);
  ASSERT_TRUE(store_->FreeSlots(lease, z).ok());
  EXPECT_EQ(store_->GetStats().zswap.stored_pages, 0u);
}

TEST_F(SwapStoreTest,
       RottenCompressedBytesAreDataLossAndABadPoolCopyFallsBack) {
  Open(4096, 256, Compressor::kLz4, /*zswap_pool_bytes=*/0);
  const std::string lease = Register();
  auto e = Out(lease, {MixedPage(2)});
  faults_->SetCorruptReads(true);
  std::vector<std::string> back;
  EXPECT_EQ(store_->SwapIn(lease, e, &back).code(),
            absl::StatusCode::kDataLoss);
  faults_->SetCorruptReads(false);

  // With a pool: its damaged copy is dropped and RocksDB's is returned.
  Open(4096, 256, Compressor::kLz4, 1 << 20);
  auto f = Out(lease, {MixedPage(6)});
  ASSERT_TRUE(store_->zswap()->CorruptForTest(f[0].slot));
  ASSERT_TRUE(store_->SwapIn(lease, f, &back).ok());
  EXPECT_EQ(back[0], MixedPage(6));
  const SwapStoreStats s = store_->GetStats();
  EXPECT_EQ(s.zswap.crc_errors, 1u);
  EXPECT_EQ(s.swap_in_rocksdb_pages, 1u);
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

TEST_F(SwapStoreTest, ClusterMembersHoldOneNumaNodeEach) {
  Open();
  auto member = [](const std::string& name, uint32_t node) {
    v1::RegisterWorkerRequest r = Spec(name);
    r.set_numa_node(node);
    r.set_cluster_member(true);
    return r;
  };
  auto a = store_->RegisterLease(member("node-a", 3));
  ASSERT_TRUE(a.ok()) << a.status();
  // Another worker on the same node is refused; the message names the holder.
  auto b = store_->RegisterLease(member("node-b", 3));
  EXPECT_EQ(b.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(absl::StrContains(b.status().message(), "node-a")) << b.status();
  // A swap-only lease on that node is not a member: no conflict.
  v1::RegisterWorkerRequest swap_only = Spec("node-b");
  swap_only.set_numa_node(3);
  EXPECT_TRUE(store_->RegisterLease(swap_only).ok());
  // The same worker restarted takes its node over; the old lease ends now.
  auto again = store_->RegisterLease(member("node-a", 3));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(store_->CheckLease(a->lease_id).ok());
  EXPECT_TRUE(store_->CheckLease(again->lease_id).ok());
  // An expired member's node is free for another worker.
  clock_.Advance(absl::Seconds(11));
  EXPECT_TRUE(store_->RegisterLease(member("node-b", 3)).ok());
  // Heartbeat hands back the registration; node ids are bounded.
  auto c = store_->RegisterLease(member("node-c", 4));
  ASSERT_TRUE(c.ok());
  v1::RegisterWorkerRequest spec;
  ASSERT_TRUE(store_->Heartbeat(c->lease_id, &spec).ok());
  EXPECT_EQ(spec.node_name(), "node-c");
  EXPECT_TRUE(spec.cluster_member());
  EXPECT_EQ(store_->RegisterLease(member("node-d", 1024)).status().code(),
            absl::StatusCode::kInvalidArgument);
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

TEST_F(SwapStoreTest, SwapOutWritesOneRecordPerRunOfNeighbouringSlots) {
  Open(/*capacity=*/16);
  const std::string lease = Register();
  const std::vector<std::string> first = Pages(0, 16);
  auto e = Out(lease, first);  // slots 0..15: one run
  ASSERT_EQ(e.size(), 16u);
  auto runs = Runs();
  ASSERT_EQ(runs.size(), 1u);
  const RunMeta& run = runs.begin()->second;
  EXPECT_EQ(runs.begin()->first, e[0].generation);
  EXPECT_EQ(run.first_slot, e[0].slot);
  EXPECT_EQ(run.first_generation, e[0].generation);
  EXPECT_EQ(run.counts, std::vector<uint32_t>(16, 1));
  EXPECT_EQ(CountKeys('d'), 16u);
  EXPECT_EQ(CountKeys('s'), 0u);  // no per-slot records in format 2

  // Holes at 3, 7, 8 and 15; the next batch (the allocator wraps around)
  // lands in them as three runs: [3], [7, 8], [15].
  const std::vector<SwapEntry> holes = {e[3], e[7], e[8], e[15]};
  ASSERT_EQ(store_->FreeSlots(lease, holes).value(), 4u);
  runs = Runs();
  ASSERT_EQ(runs.size(), 1u);
  std::vector<uint32_t> want(16, 1);
  for (int i : {3, 7, 8, 15}) want[i] = 0;
  EXPECT_EQ(runs.begin()->second.counts, want);
  const std::vector<std::string> second = Pages(100, 4);
  auto e2 = Out(lease, second);
  ASSERT_EQ(e2.size(), 4u);
  EXPECT_EQ(e2[0].slot, 3u);
  EXPECT_EQ(e2[1].slot, 7u);
  EXPECT_EQ(e2[2].slot, 8u);
  EXPECT_EQ(e2[3].slot, 15u);
  runs = Runs();
  ASSERT_EQ(runs.size(), 4u);
  for (const auto& [g, slot, length] :
       {std::tuple{e2[0].generation, uint64_t{3}, 1u},
        std::tuple{e2[1].generation, uint64_t{7}, 2u},
        std::tuple{e2[3].generation, uint64_t{15}, 1u}}) {
    ASSERT_EQ(runs.count(g), 1u) << g;
    EXPECT_EQ(runs[g].first_slot, slot);
    EXPECT_EQ(runs[g].counts, std::vector<uint32_t>(length, 1));
  }

  // Both batches read back, also after a restart (the map is rebuilt from
  // the four run records alone).
  std::vector<SwapEntry> kept;
  std::vector<std::string> kept_pages;
  for (int i = 0; i < 16; ++i) {
    if (i == 3 || i == 7 || i == 8 || i == 15) continue;
    kept.push_back(e[i]);
    kept_pages.push_back(first[i]);
  }
  ExpectPages(lease, kept, kept_pages);
  ExpectPages(lease, e2, second);
  Open(/*capacity=*/16);
  EXPECT_EQ(store_->GetStats().slots_used, 16u);
  ExpectPages(lease, kept, kept_pages);
  ExpectPages(lease, e2, second);
  std::vector<std::string> back;
  EXPECT_EQ(store_->SwapIn(lease, holes, &back).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SwapStoreTest, RestartAfterPartialFreesOfARunKeepsTheRest) {
  Open();
  const std::string lease = Register();
  const std::vector<std::string> pages = Pages(10, 8);
  auto e = Out(lease, pages);
  ASSERT_EQ(store_->FreeSlots(lease, {{e[1]}}).value(), 1u);
  ASSERT_EQ(store_->FreeSlots(lease, {{e[4], e[7]}}).value(), 2u);
  EXPECT_EQ(Runs().begin()->second.counts,
            (std::vector<uint32_t>{1, 0, 1, 1, 0, 1, 1, 0}));
  EXPECT_EQ(CountKeys('d'), 5u);

  Open();
  EXPECT_EQ(store_->GetStats().slots_used, 5u);
  ExpectPages(lease, {e[0], e[2], e[3], e[5], e[6]},
              {pages[0], pages[2], pages[3], pages[5], pages[6]});
  std::vector<std::string> back;
  for (int i : {1, 4, 7}) {
    EXPECT_EQ(store_->SwapIn(lease, {{e[i]}}, &back).code(),
              absl::StatusCode::kNotFound);
  }
  // Freeing the rest after the restart deletes the run and its pages.
  ASSERT_EQ(store_->FreeSlots(lease, {{e[0], e[2], e[3], e[5], e[6]}}).value(),
            5u);
  EXPECT_TRUE(Runs().empty());
  EXPECT_EQ(CountKeys('d'), 0u);
  Open();
  EXPECT_EQ(store_->GetStats().slots_used, 0u);
}

TEST_F(SwapStoreTest, DupedSlotsOfARunSurviveRestartWithTheirCounts) {
  Open();
  const std::string lease = Register();
  const std::vector<std::string> pages = Pages(20, 4);
  auto e = Out(lease, pages);
  ASSERT_TRUE(store_->DupSlots(lease, {{e[1], e[1], e[2]}}).ok());
  EXPECT_EQ(Runs().begin()->second.counts, (std::vector<uint32_t>{1, 3, 2, 1}));

  Open();
  ExpectPages(lease, e, pages);
  EXPECT_EQ(Runs().begin()->second.counts, (std::vector<uint32_t>{1, 3, 2, 1}));
  EXPECT_EQ(store_->FreeSlots(lease, {{e[1]}}).value(), 0u);  // 3 -> 2
  EXPECT_EQ(store_->FreeSlots(lease, {{e[2]}}).value(), 0u);  // 2 -> 1
  EXPECT_EQ(store_->FreeSlots(lease, {{e[0]}}).value(), 1u);  // 1 -> 0
  EXPECT_EQ(Runs().begin()->second.counts, (std::vector<uint32_t>{0, 2, 1, 1}));
  Open();
  ExpectPages(lease, {e[1], e[2], e[3]}, {pages[1], pages[2], pages[3]});
  EXPECT_EQ(store_->FreeSlots(lease, {{e[1], e[2], e[3]}}).value(), 2u);
  EXPECT_EQ(store_->FreeSlots(lease, {{e[1]}}).value(), 1u);
  EXPECT_TRUE(Runs().empty());
  EXPECT_EQ(CountKeys('d'), 0u);
}

TEST_F(SwapStoreTest, LeaseEndDeletesItsRunsAndPagesOnly) {
  Open(/*capacity=*/12000);
  const std::string a = Register("a");
  const std::string b = Register("b");
  // Lease a: enough slots for two end-of-lease batches, interleaved with
  // lease b's runs, some shared, some partly freed.
  std::vector<SwapEntry> ea, eb;
  for (int i = 0; i < 36; ++i) {
    auto x = Out(a, Pages(1000 * i, 256));
    ea.insert(ea.end(), x.begin(), x.end());
    if (i % 9 == 0) {
      auto y = Out(b, Pages(1000 * i + 500, 3));
      eb.insert(eb.end(), y.begin(), y.end());
    }
  }
  ASSERT_TRUE(store_->DupSlots(a, {{ea[5], ea[300]}}).ok());
  ASSERT_EQ(store_->FreeSlots(a, {{ea[6], ea[7]}}).value(), 2u);
  ASSERT_EQ(CountKeys('d'), ea.size() - 2 + eb.size());

  EXPECT_EQ(store_->UnregisterLease(a).value(), ea.size() - 2);
  auto runs = Runs();
  ASSERT_EQ(runs.size(), 4u);  // lease b's four batches
  for (const auto& [g, run] : runs) {
    EXPECT_EQ(run.counts, std::vector<uint32_t>(3, 1));
  }
  EXPECT_EQ(CountKeys('d'), eb.size());
  EXPECT_EQ(CountKeys('l'), 1u);

  // Expiry goes the same way.
  clock_.Advance(absl::Seconds(11));
  EXPECT_EQ(store_->ExpireLeases(), 1u);
  EXPECT_TRUE(Runs().empty());
  EXPECT_EQ(CountKeys('d'), 0u);
  EXPECT_EQ(CountKeys('l'), 0u);
  Open(/*capacity=*/12000);
  EXPECT_EQ(store_->GetStats().slots_used, 0u);
  EXPECT_EQ(store_->GetStats().leases, 0u);
}

TEST_F(SwapStoreTest, OrphanRunsOfAnEndedLeaseAreDeletedAtOpen) {
  Open();
  const std::string a = Register("a");
  const std::string b = Register("b");
  auto ea = Out(a, Pages(0, 5));
  auto eb = Out(b, Pages(10, 2));
  auto ea2 = Out(a, Pages(20, 3));
  ASSERT_EQ(store_->FreeSlots(a, {{ea[2]}}).value(), 1u);
  auto runs = Runs();
  ASSERT_EQ(runs.size(), 3u);
  const uint32_t owner_a = runs[ea[0].generation].owner;
  ASSERT_NE(owner_a, runs[eb[0].generation].owner);
  store_.reset();
  {  // A crash after lease a's record was deleted but before its runs were
     // (what a SwapOut racing the end of its lease can leave behind).
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    ASSERT_TRUE(storage.ok()) << storage.status();
    StorageBatch batch;
    batch.Delete(NumberKey(kLeasePrefix, owner_a));
    ASSERT_TRUE((*storage)->Write(batch, true).ok());
  }
  Open();
  EXPECT_EQ(store_->GetStats().leases, 1u);
  EXPECT_EQ(store_->GetStats().slots_used, 2u);
  runs = Runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs.begin()->first, eb[0].generation);
  EXPECT_EQ(CountKeys('d'), 2u);
  ExpectPages(b, eb, Pages(10, 2));
  // The orphans' slots are free again.
  EXPECT_EQ(Out(b, Pages(30, 7)).size(), 7u);
}

TEST_F(SwapStoreTest, RunRecordsThatCannotBeRightRefuseTheStart) {
  Open();
  const std::string lease = Register();
  auto e = Out(lease, Pages(0, 4));
  store_.reset();
  auto reopen = [&]() {
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    EXPECT_TRUE(storage.ok()) << storage.status();
    SwapStoreOptions o;
    o.clock = &clock_;
    return SwapStore::Open(o, *std::move(storage)).status();
  };
  auto put = [&](const std::string& key, const std::string& value) {
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    ASSERT_TRUE(storage.ok()) << storage.status();
    StorageBatch batch;
    batch.Put(key, value);
    ASSERT_TRUE((*storage)->Write(batch, true).ok());
  };
  ASSERT_TRUE(reopen().ok());
  // Generations beyond the durable reservation were never issued.
  RunMeta beyond;
  beyond.owner = 1;
  beyond.first_slot = 100;
  beyond.first_generation = uint64_t{1} << 40;
  beyond.counts = {1};
  put(RunKey(beyond.first_generation), EncodeRunMeta(beyond));
  EXPECT_EQ(reopen().code(), absl::StatusCode::kDataLoss);
  // A record under another run's key, and a malformed one.
  beyond.first_generation = 5;
  put(RunKey(beyond.first_generation), EncodeRunMeta(beyond));
  put(RunKey(uint64_t{1} << 40), EncodeRunMeta(beyond));
  EXPECT_EQ(reopen().code(), absl::StatusCode::kDataLoss);
  put(RunKey(uint64_t{1} << 40), "garbage");
  EXPECT_EQ(reopen().code(), absl::StatusCode::kDataLoss);
}

// The run-record caveat. FreeSlots of slot A fails in storage while a
// FreeSlots of A's neighbour B (same run) has already computed the run's
// record from memory, where A is being freed. Written after A's failure,
// that record would drop A from storage while memory reverts A to live, and
// A's page would be gone after the next restart. This arranges exactly that
// interleaving: A's write is held in storage until B has computed its record
// and queued behind it, then fails.
class RunRaceTest : public SwapStoreTest {
 protected:
  // Runs `fail_a` (whose storage write fails) and a FreeSlots of e[1]
  // computed while A's change is in memory. Returns B's status.
  absl::Status RaceFailedWriteWithNeighbourFree(
      const std::string& lease, const std::vector<SwapEntry>& e,
      const std::function<absl::Status()>& fail_a) {
    // The store keeps a copy of the seam for the rest of the test (the
    // caller goes on using this store), so its state must outlive this
    // function: shared, captured by value.
    struct SeamState {
      std::promise<void> b_computed;
      std::atomic<int> meta_writes{0};
    };
    auto seam = std::make_shared<SeamState>();
    std::future<void> b_computed_f = seam->b_computed.get_future();
    before_meta_write_ = [seam] {
      if (seam->meta_writes.fetch_add(1) == 1) seam->b_computed.set_value();
    };
    Open();  // restart with the seam in place
    std::promise<void> a_in_write;
    std::future<void> a_in_write_f = a_in_write.get_future();
    std::atomic<int> writes{0};
    faults_->SetWriteHook([&](const StorageBatch&) -> absl::Status {
      if (writes.fetch_add(1) != 0) return absl::OkStatus();
      a_in_write.set_value();
      if (b_computed_f.wait_for(std::chrono::seconds(60)) !=
          std::future_status::ready) {
        ADD_FAILURE() << "B never computed its record";
      }
      return absl::UnavailableError("injected write failure");
    });
    absl::Status a_status;
    std::thread a([&] { a_status = fail_a(); });
    a_in_write_f.wait();
    absl::StatusOr<uint64_t> b_status;
    std::thread b([&] { b_status = store_->FreeSlots(lease, {{e[1]}}); });
    a.join();
    b.join();
    faults_->SetWriteHook(nullptr);
    before_meta_write_ = nullptr;  // for later Open()s
    EXPECT_EQ(a_status.code(), absl::StatusCode::kUnavailable) << a_status;
    EXPECT_EQ(seam->meta_writes.load(), 2);
    return b_status.status();
  }
};

TEST_F(RunRaceTest, FailedFreeNeverLetsANeighboursRewriteDropItsSlot) {
  Open();
  const std::string lease = Register();
  const std::vector<std::string> pages = Pages(40, 3);
  auto e = Out(lease, pages);
  const absl::Status b = RaceFailedWriteWithNeighbourFree(
      lease, e, [&] { return store_->FreeSlots(lease, {{e[0]}}).status(); });
  // B's record (run without A) was not written: the store fenced.
  EXPECT_EQ(b.code(), absl::StatusCode::kUnavailable) << b;
  EXPECT_TRUE(store_->GetStats().meta_fenced);
  auto runs = Runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs.begin()->second.counts, (std::vector<uint32_t>{1, 1, 1}));
  EXPECT_EQ(CountKeys('d'), 3u);
  // Fenced: reads and swap-outs (fresh runs only) go on, frees wait for the
  // restart.
  ExpectPages(lease, e, pages);
  EXPECT_EQ(store_->FreeSlots(lease, {{e[2]}}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_->DupSlots(lease, {{e[2]}}).code(),
            absl::StatusCode::kUnavailable);
  auto more = Out(lease, {Page(99)});
  ASSERT_EQ(more.size(), 1u);

  Open();  // restart: memory and storage agreed, nothing was lost
  EXPECT_FALSE(store_->GetStats().meta_fenced);
  ExpectPages(lease, e, pages);
  ExpectPages(lease, more, {Page(99)});
  EXPECT_EQ(store_->FreeSlots(lease, {{e[0], e[1], e[2], more[0]}}).value(),
            4u);
  EXPECT_TRUE(Runs().empty());
  EXPECT_EQ(CountKeys('d'), 0u);
}

TEST_F(RunRaceTest, FailedDupNeverLetsANeighboursRewriteKeepItsCount) {
  Open();
  const std::string lease = Register();
  const std::vector<std::string> pages = Pages(50, 3);
  auto e = Out(lease, pages);
  const absl::Status b = RaceFailedWriteWithNeighbourFree(
      lease, e, [&] { return store_->DupSlots(lease, {{e[0]}}); });
  EXPECT_EQ(b.code(), absl::StatusCode::kUnavailable) << b;
  EXPECT_EQ(Runs().begin()->second.counts, (std::vector<uint32_t>{1, 1, 1}));
  Open();
  // e[0] still has exactly one reference: one free frees it.
  EXPECT_EQ(store_->FreeSlots(lease, {{e[0]}}).value(), 1u);
  ExpectPages(lease, {e[1], e[2]}, {pages[1], pages[2]});
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
  // Every run record and page was deleted with its last slot.
  EXPECT_TRUE(Runs().empty());
  EXPECT_EQ(CountKeys('d'), 0u);
}

}  // namespace
}  // namespace memmgr
