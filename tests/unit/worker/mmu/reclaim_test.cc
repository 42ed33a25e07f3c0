// Reclaim end to end below the sandbox: address spaces on a small frame
// pool with a Reclaimer writing to the real embedded swap device (the
// server's swap store on a temp RocksDB directory).
#include "worker/mmu/reclaim.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "worker/mmu/address_space.h"
#include "worker/swap/embedded_swap_device.h"

namespace memmgr::mmu {
namespace {

constexpr GuestAddr kBase = 0x100000;

uint64_t Word(uint64_t page, uint64_t tag) {
  return (page * 0x9e3779b97f4a7c15ull) ^ (tag << 48);
}

class ReclaimTest : public ::testing::Test {
 protected:
  void Start(bool kswapd) {
    FramePool::Options po;
    po.bytes = 4 << 20;  // 1024 frames
    po.background_zeroing = false;
    auto pool = FramePool::Create(po);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    auto dev = worker::EmbeddedSwapDevice::Open({});
    ASSERT_TRUE(dev.ok()) << dev.status();
    device_ = std::move(*dev);
    Reclaimer::Options ro;
    ro.kswapd = kswapd;
    ro.batch = 64;
    auto r = Reclaimer::Create(pool_.get(), device_.get(), ro);
    ASSERT_TRUE(r.ok()) << r.status();
    reclaimer_ = std::move(*r);
  }
  void TearDown() override {
    reclaimer_.reset();
    device_.reset();
    pool_.reset();
  }

  std::unique_ptr<AddressSpace> NewMm() {
    MmGate::Shared g(pool_->gate());
    auto mm = AddressSpace::Create(pool_.get(), {});
    EXPECT_TRUE(mm.ok()) << mm.status();
    return std::move(*mm);
  }

  // Writes Word(p, tag) to the first word of each of `pages` pages.
  void Fill(AddressSpace* mm, GuestAddr base, uint64_t pages, uint64_t tag) {
    MmGate::Shared g(pool_->gate());
    for (uint64_t p = 0; p < pages; ++p) {
      Fault f;
      ASSERT_TRUE(mm->Write<uint64_t>(base + p * kPageSize, Word(p, tag), &f))
          << "page " << p << ": " << FaultReasonName(f.reason);
      ASSERT_TRUE(mm->Write<uint64_t>(base + p * kPageSize + 4088, ~p, &f));
    }
  }
  void Check(AddressSpace* mm, GuestAddr base, uint64_t pages, uint64_t tag) {
    MmGate::Shared g(pool_->gate());
    for (uint64_t p = 0; p < pages; ++p) {
      Fault f;
      uint64_t v = 0, w = 0;
      ASSERT_TRUE(mm->Read<uint64_t>(base + p * kPageSize, &v, &f))
          << "page " << p << ": " << FaultReasonName(f.reason);
      ASSERT_TRUE(mm->Read<uint64_t>(base + p * kPageSize + 4088, &w, &f));
      ASSERT_EQ(v, Word(p, tag)) << "page " << p;
      ASSERT_EQ(w, ~p) << "page " << p;
    }
  }
  void Map(AddressSpace* mm, uint64_t pages, uint32_t flags = 0) {
    MmGate::Shared g(pool_->gate());
    auto r = mm->Mmap(kBase, pages * kPageSize, kProtRead | kProtWrite,
                      kMapFixed | flags);
    ASSERT_TRUE(r.ok()) << r.status();
  }

  std::unique_ptr<FramePool> pool_;
  std::unique_ptr<worker::EmbeddedSwapDevice> device_;
  std::unique_ptr<Reclaimer> reclaimer_;
};

TEST_F(ReclaimTest, ThreeTimesThePoolRoundTripsThroughSwap) {
  Start(/*kswapd=*/true);
  auto mm = NewMm();
  const uint64_t pages = 3 * pool_->total_frames();
  Map(mm.get(), pages);
  Fill(mm.get(), kBase, pages, 1);
  Check(mm.get(), kBase, pages, 1);
  // Backwards too (a different order of refaults).
  {
    MmGate::Shared g(pool_->gate());
    for (uint64_t p = pages; p-- > 0;) {
      Fault f;
      uint64_t v = 0;
      ASSERT_TRUE(mm->Read<uint64_t>(kBase + p * kPageSize, &v, &f));
      ASSERT_EQ(v, Word(p, 1)) << "page " << p;
    }
  }
  const Reclaimer::Stats s = reclaimer_->GetStats();
  EXPECT_GT(s.pswpout, pages / 2);
  EXPECT_GT(s.pswpin, pages / 2);
  EXPECT_GT(s.kswapd_wakeups + s.direct_reclaims, 0u);
  EXPECT_EQ(s.swap_io_errors, 0u);
  EXPECT_GE(pool_->free_frames(), 0u);
  // Exit: every slot goes back.
  mm.reset();
  reclaimer_->swap_cache()->FlushFrees();
  EXPECT_EQ(device_->stats().slots_used, 0u);
  EXPECT_EQ(reclaimer_->GetStats().swap_cache.entries, 0u);
}

// The pool's fault latency histogram: every swap fault is timed under its
// source (device read or swap-cache hit), zero and cow faults 1 in 16.
TEST_F(ReclaimTest, FaultLatencyIsRecordedBySource) {
  Start(/*kswapd=*/true);
  const FaultLatency& lat = pool_->fault_latency();
  auto mm = NewMm();
  const uint64_t pages = 3 * pool_->total_frames();
  Map(mm.get(), pages);
  Fill(mm.get(), kBase, pages, 7);
  // Every first write is a zero fault; about one in 16 is timed (a fault
  // retried after direct reclaim counts again towards the sampling).
  const uint64_t zero = lat.Read(FaultSource::kZero).count;
  EXPECT_GE(zero, pages / FaultLatency::kSampleEvery - 1);
  EXPECT_LE(zero, pages / FaultLatency::kSampleEvery * 5 / 4);
  EXPECT_EQ(lat.Read(FaultSource::kSwapIn).count, 0u);
  Check(mm.get(), kBase, pages, 7);
  const Reclaimer::Stats s = reclaimer_->GetStats();
  const FaultLatency::Reading in = lat.Read(FaultSource::kSwapIn);
  const FaultLatency::Reading hit = lat.Read(FaultSource::kSwapCache);
  // Each swap fault is timed exactly once, whatever its retries; a fault
  // may read the device more than once (kswapd reclaimed its page again
  // before it was mapped: more often on a slow build, 5 % under ASan).
  EXPECT_LE(in.count, s.swap_faults);
  EXPECT_GE(in.count, s.swap_faults / 2);
  EXPECT_EQ(hit.count, s.swapcache_hits);
  EXPECT_GT(in.count, 0u);
  EXPECT_GT(in.sum_ns, 0u);
  // A device read is slower than the fastest bucket (128 ns).
  EXPECT_EQ(in.buckets[0], 0u);
  // Copy-on-write breaks after a fork.
  {
    MmGate::Shared g(pool_->gate());
    auto child = mm->Fork();
    ASSERT_TRUE(child.ok()) << child.status();
    for (uint64_t p = 0; p < 64; ++p) {
      Fault f;
      ASSERT_TRUE((*child)->Write<uint64_t>(kBase + p * kPageSize, p, &f));
    }
  }
  EXPECT_GE(lat.Read(FaultSource::kCow).count +
                lat.Read(FaultSource::kSwapIn).count - in.count +
                lat.Read(FaultSource::kSwapCache).count - hit.count,
            64 / FaultLatency::kSampleEvery - 1);
}

TEST(FaultLatencyTest, BucketsArePowersOfTwoFrom128ns) {
  FaultLatency lat;
  lat.Record(FaultSource::kZero, 0);
  lat.Record(FaultSource::kZero, 127);
  lat.Record(FaultSource::kZero, 128);
  lat.Record(FaultSource::kZero, 255);
  lat.Record(FaultSource::kZero, 256);
  lat.Record(FaultSource::kSwapIn, 200'000);            // < 2^18 ns
  lat.Record(FaultSource::kSwapIn, uint64_t{1} << 40);  // overflow
  const FaultLatency::Reading z = lat.Read(FaultSource::kZero);
  EXPECT_EQ(z.count, 5u);
  EXPECT_EQ(z.sum_ns, 0u + 127 + 128 + 255 + 256);
  EXPECT_EQ(z.buckets[0], 2u);  // < 128
  EXPECT_EQ(z.buckets[1], 2u);  // < 256
  EXPECT_EQ(z.buckets[2], 1u);  // < 512
  const FaultLatency::Reading in = lat.Read(FaultSource::kSwapIn);
  EXPECT_EQ(in.buckets[11], 1u);  // 2^17 <= 200000 < 2^18 = bound of 11
  EXPECT_EQ(FaultLatency::BucketBoundNs(11), uint64_t{1} << 18);
  EXPECT_EQ(in.buckets[FaultLatency::kBuckets - 1], 1u);
  EXPECT_EQ(lat.Read(FaultSource::kCow).count, 0u);
}

TEST_F(ReclaimTest, DirectReclaimAloneKeepsTheGuestGoing) {
  Start(/*kswapd=*/false);
  auto mm = NewMm();
  const uint64_t pages = 2 * pool_->total_frames();
  Map(mm.get(), pages);
  Fill(mm.get(), kBase, pages, 2);
  Check(mm.get(), kBase, pages, 2);
  const Reclaimer::Stats s = reclaimer_->GetStats();
  EXPECT_GT(s.direct_reclaims, 0u);
  EXPECT_EQ(s.kswapd_wakeups, 0u);
  EXPECT_GT(s.pswpout, 0u);
  // Allocations never took the pool below min: reclaim ran first.
  EXPECT_GT(pool_->GetStats().alloc_pressure_failures, 0u);
}

TEST_F(ReclaimTest, MlockedPagesNeverLeave) {
  Start(/*kswapd=*/true);
  auto mm = NewMm();
  const uint64_t locked = 64;
  {
    MmGate::Shared g(pool_->gate());
    ASSERT_TRUE(mm->Mmap(kBase, locked * kPageSize, kProtRead | kProtWrite,
                         kMapFixed | kMapLocked)
                    .ok());
  }
  Fill(mm.get(), kBase, locked, 3);
  const GuestAddr other = kBase + (1 << 30);
  const uint64_t pages = 2 * pool_->total_frames();
  {
    MmGate::Shared g(pool_->gate());
    ASSERT_TRUE(
        mm->Mmap(other, pages * kPageSize, kProtRead | kProtWrite, kMapFixed)
            .ok());
  }
  Fill(mm.get(), other, pages, 4);
  for (uint64_t p = 0; p < locked; ++p) {
    EXPECT_TRUE(mm->PteForTest(kBase + p * kPageSize).present())
        << "mlocked page " << p << " was reclaimed";
  }
  Check(mm.get(), kBase, locked, 3);
  Check(mm.get(), other, pages, 4);
}

TEST_F(ReclaimTest, ForksShareSwappedPagesAndStayIsolated) {
  Start(/*kswapd=*/true);
  auto parent = NewMm();
  const uint64_t pages = pool_->total_frames() / 2;
  Map(parent.get(), pages);
  Fill(parent.get(), kBase, pages, 5);
  std::vector<std::unique_ptr<AddressSpace>> forks;
  for (int i = 0; i < 4; ++i) {
    MmGate::Shared g(pool_->gate());
    auto child = parent->Fork();
    ASSERT_TRUE(child.ok()) << child.status();
    forks.push_back(std::move(*child));
  }
  // Pressure from elsewhere swaps the shared pages out of every sharer.
  auto hog = NewMm();
  Map(hog.get(), 2 * pool_->total_frames());
  Fill(hog.get(), kBase, 2 * pool_->total_frames(), 6);
  for (auto& child : forks) Check(child.get(), kBase, pages, 5);
  // Each fork writes its own values; nobody else sees them.
  for (size_t i = 0; i < forks.size(); ++i) {
    Fill(forks[i].get(), kBase, pages, 10 + i);
  }
  Check(parent.get(), kBase, pages, 5);
  for (size_t i = 0; i < forks.size(); ++i) {
    Check(forks[i].get(), kBase, pages, 10 + i);
  }
  Check(hog.get(), kBase, 2 * pool_->total_frames(), 6);
  forks.clear();
  parent.reset();
  hog.reset();
  reclaimer_->swap_cache()->FlushFrees();
  EXPECT_EQ(device_->stats().slots_used, 0u) << "slots leaked";
}

// Guests on two executor threads (each holding the gate per slice of
// accesses, as Sandbox::RunFor does), kswapd and direct reclaim all at once:
// no lost or mixed-up page (and, under TSan, no race).
TEST_F(ReclaimTest, ConcurrentGuestsAndKswapdKeepEveryPage) {
  Start(/*kswapd=*/true);
  const uint64_t pages = pool_->total_frames();  // x2 guests = 2x the pool
  auto parent = NewMm();
  Map(parent.get(), pages);
  Fill(parent.get(), kBase, pages, 20);
  std::unique_ptr<AddressSpace> child;
  {
    MmGate::Shared g(pool_->gate());
    auto c = parent->Fork();
    ASSERT_TRUE(c.ok());
    child = std::move(*c);
  }
  auto run = [&](AddressSpace* mm, uint64_t tag, bool* ok) {
    *ok = true;
    for (int pass = 0; pass < 3 && *ok; ++pass) {
      for (uint64_t p = 0; p < pages && *ok; p += 32) {
        MmGate::Shared slice(pool_->gate());
        for (uint64_t q = p; q < std::min(pages, p + 32); ++q) {
          Fault f;
          uint64_t v = 0;
          const GuestAddr va = kBase + q * kPageSize;
          if (!mm->Read<uint64_t>(va + 4088, &v, &f) || v != ~q) {
            ADD_FAILURE() << "tag " << tag << " pass " << pass << " page " << q
                          << " tail " << v << " " << FaultReasonName(f.reason);
            *ok = false;
            break;
          }
          if (pass > 0 && (!mm->Read<uint64_t>(va, &v, &f) ||
                           v != Word(q, tag + pass - 1))) {
            ADD_FAILURE() << "tag " << tag << " pass " << pass << " page " << q
                          << " head " << v << " want "
                          << Word(q, tag + pass - 1) << " "
                          << FaultReasonName(f.reason);
            *ok = false;
            break;
          }
          if (!mm->Write<uint64_t>(va, Word(q, tag + pass), &f)) {
            ADD_FAILURE() << "tag " << tag << " pass " << pass << " page " << q
                          << " write: " << FaultReasonName(f.reason);
            *ok = false;
            break;
          }
        }
      }
    }
  };
  // Pass 0 of each guest overwrites the shared pattern: its own values
  // (tag, tag+1, tag+2) from then on.
  bool ok_parent = false, ok_child = false;
  std::thread a([&] { run(parent.get(), 100, &ok_parent); });
  std::thread b([&] { run(child.get(), 200, &ok_child); });
  a.join();
  b.join();
  EXPECT_TRUE(ok_parent);
  EXPECT_TRUE(ok_child);
  Check(parent.get(), kBase, 0, 0);  // (gate bookkeeping still balanced)
  EXPECT_GT(reclaimer_->GetStats().pswpout, 0u);
  parent.reset();
  child.reset();
  reclaimer_->swap_cache()->FlushFrees();
  EXPECT_EQ(device_->stats().slots_used, 0u);
}

TEST_F(ReclaimTest, ASwapValueThatNamesNoEntryIsNeverMapped) {
  Start(/*kswapd=*/false);
  auto mm = NewMm();
  Map(mm.get(), 4);
  {
    MmGate::Shared g(pool_->gate());
    // Not from this reclaimer's swap cache: index 7, generation 3.
    mm->SetSwapPteForTest(kBase, (uint64_t{3} << 32) | 7);
    Fault f;
    uint64_t v = 0;
    EXPECT_FALSE(mm->Read<uint64_t>(kBase, &v, &f));
    EXPECT_EQ(f.reason, FaultReason::kSwapEntry);
    mm->SetSwapPteForTest(kBase, 0);
  }
}

}  // namespace
}  // namespace memmgr::mmu
