// Forks that share page tables: O(1) fork, copy-on-write of tables and
// frames, no leaked references, and concurrent forks of one frozen address
// space (a snapshot) from several threads. Labelled for TSan.
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "worker/mmu/address_space.h"

namespace memmgr::mmu {
namespace {

constexpr GuestAddr kData = 0x10000000;

class SharedForkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FramePool::Options po;
    po.bytes = 96 << 20;
    auto pool = FramePool::Create(po);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    auto mm = AddressSpace::Create(pool_.get(), {});
    ASSERT_TRUE(mm.ok()) << mm.status();
    mm_ = std::move(*mm);
  }

  // Maps `pages` pages at kData and writes `seed + i` to the first word of
  // page i.
  void Populate(uint64_t pages, uint64_t seed) {
    ASSERT_TRUE(
        mm_->Mmap(kData, pages * kPageSize, kProtRead | kProtWrite, kMapFixed)
            .ok());
    Fault f;
    for (uint64_t i = 0; i < pages; ++i) {
      ASSERT_TRUE(mm_->Write<uint64_t>(kData + i * kPageSize, seed + i, &f));
    }
  }

  uint64_t UsedFrames() const { return pool_->GetStats().used_frames; }

  std::unique_ptr<FramePool> pool_;
  std::unique_ptr<AddressSpace> mm_;
};

TEST_F(SharedForkTest, ForkTouchesNoFrameAndNoTableBelowTheRoot) {
  Populate(8192, 0);  // 32 MiB resident
  const uint64_t frames = UsedFrames();
  const Pfn first = mm_->PteForTest(kData).pfn();
  auto child = mm_->ForkFrozen();
  ASSERT_TRUE(child.ok());
  // Nothing was copied or referenced per page: the fork's cost does not
  // depend on the resident size.
  EXPECT_EQ(pool_->Descriptor(first).refcount.load(), 1u);
  EXPECT_EQ(UsedFrames(), frames);
  EXPECT_EQ((*child)->GetStats().page_table_unshares, 0u);
  EXPECT_EQ((*child)->GetStats().rss_pages, 8192u);
  EXPECT_EQ((*child)->GetStats().page_table_pages,
            mm_->GetStats().page_table_pages);
  EXPECT_EQ((*child)->CountResidentForTest(), 8192u);
  Fault f;
  uint64_t v = 0;
  ASSERT_TRUE((*child)->Read(kData + 4000 * kPageSize, &v, &f));
  EXPECT_EQ(v, 4000u);
  EXPECT_EQ((*child)->GetStats().page_table_unshares, 0u)
      << "reads never copy tables";
}

TEST_F(SharedForkTest, APageSharedByAThousandForksIsCopiedOncePerWriter) {
  Populate(16, 0);
  const uint64_t baseline = UsedFrames();
  std::vector<std::unique_ptr<AddressSpace>> forks;
  for (int i = 0; i < 1000; ++i) {
    auto f = mm_->ForkFrozen();
    ASSERT_TRUE(f.ok());
    forks.push_back(std::move(*f));
  }
  EXPECT_EQ(UsedFrames(), baseline) << "forking allocates no frame";
  Fault f;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(forks[i]->Write<uint64_t>(kData + 3 * kPageSize, 1000 + i, &f));
  }
  // Every writer got a private copy of that one page (the last one may
  // find itself alone on the original and reuse it).
  EXPECT_GE(UsedFrames(), baseline + 999);
  EXPECT_LE(UsedFrames(), baseline + 1000);
  for (int i = 0; i < 1000; ++i) {
    uint64_t v = 0;
    ASSERT_TRUE(forks[i]->Read(kData + 3 * kPageSize, &v, &f));
    ASSERT_EQ(v, 1000u + i);
    ASSERT_TRUE(forks[i]->Read(kData + 4 * kPageSize, &v, &f));
    ASSERT_EQ(v, 4u) << "unwritten pages stay shared";
    ASSERT_EQ(forks[i]->GetStats().rss_pages, 16u);
  }
  uint64_t v = 0;
  ASSERT_TRUE(mm_->Read(kData + 3 * kPageSize, &v, &f));
  EXPECT_EQ(v, 3u) << "the original is unchanged";
  forks.clear();
  EXPECT_EQ(UsedFrames(), baseline) << "every reference came back";
}

TEST_F(SharedForkTest, AForkOutlivesItsParentAndGrandparent) {
  Populate(64, 7);
  auto child = mm_->Fork();
  ASSERT_TRUE(child.ok());
  auto grandchild = (*child)->Fork();
  ASSERT_TRUE(grandchild.ok());
  Fault f;
  ASSERT_TRUE((*child)->Write<uint64_t>(kData, 1, &f));
  mm_.reset();
  child->reset();
  for (uint64_t i = 0; i < 64; ++i) {
    uint64_t v = 0;
    ASSERT_TRUE((*grandchild)->Read(kData + i * kPageSize, &v, &f));
    ASSERT_EQ(v, 7 + i);
  }
  ASSERT_TRUE((*grandchild)->Write<uint64_t>(kData + kPageSize, 99, &f));
  EXPECT_EQ((*grandchild)->GetStats().fault(FaultClass::kCowCopy), 0u)
      << "alone on every frame now: writes reuse them";
  EXPECT_EQ((*grandchild)->CountResidentForTest(),
            (*grandchild)->GetStats().rss_pages);
  grandchild->reset();
  EXPECT_EQ(UsedFrames(), 0u);
}

TEST_F(SharedForkTest, MunmapMprotectAndDontneedInAForkLeaveTheOthersAlone) {
  Populate(1024, 0);
  auto child = mm_->Fork();
  ASSERT_TRUE(child.ok());
  AddressSpace& c = **child;
  ASSERT_TRUE(c.Munmap(kData, 512 * kPageSize).ok());
  ASSERT_TRUE(
      c.Mprotect(kData + 512 * kPageSize, 256 * kPageSize, kProtRead).ok());
  ASSERT_TRUE(
      c.Madvise(kData + 768 * kPageSize, 256 * kPageSize, kMadvDontNeed).ok());
  EXPECT_EQ(c.GetStats().rss_pages, 256u);
  EXPECT_EQ(c.CountResidentForTest(), 256u);
  Fault f;
  uint64_t v = 0;
  EXPECT_FALSE(c.Read(kData, &v, &f));
  EXPECT_FALSE(c.Write<uint64_t>(kData + 600 * kPageSize, 1, &f));
  ASSERT_TRUE(c.Read(kData + 800 * kPageSize, &v, &f));
  EXPECT_EQ(v, 0u) << "dropped: zero-filled again";
  for (uint64_t i = 0; i < 1024; i += 100) {
    ASSERT_TRUE(mm_->Read(kData + i * kPageSize, &v, &f));
    ASSERT_EQ(v, i);
  }
  // The parent may write everywhere again (it copies what it shares).
  ASSERT_TRUE(mm_->Write<uint64_t>(kData + 600 * kPageSize, 5, &f));
  EXPECT_EQ(mm_->GetStats().rss_pages, 1024u);
  EXPECT_EQ(mm_->CountResidentForTest(), 1024u);
}

TEST_F(SharedForkTest, ThreadsForkOneFrozenAddressSpaceConcurrently) {
  Populate(256, 0);
  const uint64_t baseline = UsedFrames();
  constexpr int kThreads = 4;
  constexpr int kForksPerThread = 40;
  std::vector<std::thread> threads;
  std::vector<int> errors(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < kForksPerThread; ++n) {
        auto fork = mm_->ForkFrozen();
        if (!fork.ok()) {
          ++errors[t];
          continue;
        }
        AddressSpace& as = **fork;
        Fault f;
        const uint64_t id = t * 1000 + n;
        // Write a few pages in different leaves and read everything back.
        for (uint64_t page : {0, 1, 100, 255}) {
          if (!as.Write<uint64_t>(kData + page * kPageSize, id, &f)) {
            ++errors[t];
          }
        }
        for (uint64_t page = 0; page < 256; ++page) {
          uint64_t v = 0;
          const bool written =
              page == 0 || page == 1 || page == 100 || page == 255;
          if (!as.Read(kData + page * kPageSize, &v, &f) ||
              v != (written ? id : page)) {
            ++errors[t];
          }
        }
        // Keep one fork alive across the next one's lifetime now and then,
        // so tables are released in different orders.
        if (n % 3 == 0) {
          auto other = as.Fork();
          if (!other.ok()) ++errors[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], 0) << "thread " << t;
  EXPECT_EQ(UsedFrames(), baseline);
  Fault f;
  uint64_t v = 0;
  ASSERT_TRUE(mm_->Read(kData + 100 * kPageSize, &v, &f));
  EXPECT_EQ(v, 100u);
}

}  // namespace
}  // namespace memmgr::mmu
