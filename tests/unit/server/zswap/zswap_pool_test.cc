// The compressed tier's pool: hits, misses by generation, erase, the byte
// limit with zswap's hysteresis (full -> refuse until below the accept
// threshold), LRU write-back order, damage caught, and the limit held under
// concurrent stores and loads (labelled unit-tsan).
#include "server/zswap/zswap_pool.h"

#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace memmgr {
namespace {

constexpr size_t kPage = 4096;

// Compressible and distinct per seed (lz4 gets it to a few hundred bytes).
std::string PageOf(uint64_t seed) {
  std::string p(kPage, '\0');
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < kPage; i += 64) {
    const uint64_t v = rng() % 1000;
    std::memcpy(&p[i], &v, 8);
  }
  return p;
}

EncodedPage Encode(const std::string& page) {
  EncodeOptions o;
  o.compressor = Compressor::kLz4;
  return EncodePage(page, o);
}

std::unique_ptr<ZswapPool> NewPool(uint64_t max_bytes, uint32_t accept = 90,
                                   bool shrink_thread = true) {
  ZswapPoolOptions o;
  o.max_pool_bytes = max_bytes;
  o.accept_threshold_percent = accept;
  o.shrink_thread = shrink_thread;
  auto p = ZswapPool::Create(o);
  EXPECT_TRUE(p.ok()) << p.status();
  return std::move(*p);
}

TEST(ZswapPoolTest, StoresLoadsAndForgets) {
  auto pool = NewPool(1 << 20);
  const std::string page = PageOf(1);
  EXPECT_EQ(pool->Store(7, 100, Encode(page)), ZswapPool::StoreResult::kStored);
  std::string out(kPage, '\0');
  auto hit = pool->Load(7, 100, out.data());
  ASSERT_TRUE(hit.ok());
  EXPECT_TRUE(*hit);
  EXPECT_EQ(out, page);
  // Another generation of the slot is not this page.
  EXPECT_FALSE(*pool->Load(7, 101, out.data()));
  EXPECT_FALSE(*pool->Load(8, 100, out.data()));
  pool->Erase(7);
  EXPECT_FALSE(*pool->Load(7, 100, out.data()));
  const ZswapPool::Stats s = pool->GetStats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.stored_pages, 0u);
  EXPECT_EQ(s.pool_bytes, 0u);
}

TEST(ZswapPoolTest, SameFilledPagesAreCheapAndRawPagesAreRefused) {
  auto pool = NewPool(1 << 20);
  EXPECT_EQ(pool->Store(1, 1, Encode(std::string(kPage, '\0'))),
            ZswapPool::StoreResult::kStored);
  std::mt19937_64 rng(3);
  std::string random(kPage, '\0');
  for (size_t i = 0; i < kPage; i += 8) {
    const uint64_t v = rng();
    std::memcpy(&random[i], &v, 8);
  }
  EXPECT_EQ(pool->Store(2, 2, Encode(random)),
            ZswapPool::StoreResult::kRejectedPoor);
  const ZswapPool::Stats s = pool->GetStats();
  EXPECT_EQ(s.stored_pages, 1u);
  EXPECT_EQ(s.same_filled_pages, 1u);
  EXPECT_EQ(s.reject_compress_poor, 1u);
  EXPECT_EQ(s.payload_bytes, 8u);
  EXPECT_EQ(s.stored_uncompressed_bytes, kPage);
  std::string out(kPage, 'x');
  EXPECT_TRUE(*pool->Load(1, 1, out.data()));
  EXPECT_EQ(out, std::string(kPage, '\0'));
}

TEST(ZswapPoolTest, FullPoolRefusesUntilTheShrinkerGetsBelowTheThreshold) {
  const EncodedPage sample = Encode(PageOf(0));
  const uint64_t charge = sample.payload.size() + 96;
  // Room for about 20 pages; accept again below 50%. The shrinks are
  // driven by the test (ShrinkForTest), so their timing is known.
  auto pool = NewPool(20 * charge + charge / 2, /*accept=*/50,
                      /*shrink_thread=*/false);
  uint64_t stored = 0;
  uint64_t slot = 0;
  while (pool->Store(slot, slot + 1, Encode(PageOf(slot))) ==
         ZswapPool::StoreResult::kStored) {
    ++stored;
    ++slot;
    ASSERT_LT(slot, 1000u);
  }
  EXPECT_GE(stored, 15u);
  // Full: refused until shrunk, even where a page would fit.
  EXPECT_EQ(pool->Store(9999, 1, Encode(std::string(kPage, '\0'))),
            ZswapPool::StoreResult::kRejectedFull);
  EXPECT_LE(pool->GetStats().pool_bytes, pool->options().max_pool_bytes);
  // The shrinker drops the least recently used pages until under 50%; the
  // first pages were loaded recently, so they stay.
  std::string out(kPage, '\0');
  for (uint64_t s = 0; s < 3; ++s)
    ASSERT_TRUE(*pool->Load(s, s + 1, out.data()));
  pool->ShrinkForTest();
  const ZswapPool::Stats s = pool->GetStats();
  EXPECT_LE(s.pool_bytes, pool->options().max_pool_bytes / 2);
  EXPECT_GT(s.written_back, 0u);
  EXPECT_GE(s.reject_pool_full, 1u);
  EXPECT_EQ(s.pool_limit_hits, 1u);
  for (uint64_t k = 0; k < 3; ++k) {
    EXPECT_TRUE(*pool->Load(k, k + 1, out.data())) << "recent page " << k;
  }
  EXPECT_FALSE(*pool->Load(3, 4, out.data())) << "oldest unused page kept";
  // Below the threshold: stores are accepted again.
  EXPECT_EQ(pool->Store(5000, 5001, Encode(PageOf(5000))),
            ZswapPool::StoreResult::kStored);
}

TEST(ZswapPoolTest, DamagedEntriesAreDataLossAndDropped) {
  auto pool = NewPool(1 << 20);
  ASSERT_EQ(pool->Store(3, 9, Encode(PageOf(3))),
            ZswapPool::StoreResult::kStored);
  ASSERT_TRUE(pool->CorruptForTest(3));
  std::string out(kPage, '\0');
  auto r = pool->Load(3, 9, out.data());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(*pool->Load(3, 9, out.data()));  // dropped
  EXPECT_EQ(pool->GetStats().crc_errors, 1u);
}

TEST(ZswapPoolTest, BadOptionsAreRefused) {
  ZswapPoolOptions o;
  o.max_pool_bytes = 0;
  EXPECT_EQ(ZswapPool::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.max_pool_bytes = 1 << 20;
  o.accept_threshold_percent = 0;
  EXPECT_EQ(ZswapPool::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.accept_threshold_percent = 101;
  EXPECT_EQ(ZswapPool::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Four writers and two readers at once, the background shrinker working:
// the limit always holds, every hit returns exactly the page stored.
TEST(ZswapPoolTest, LimitHoldsUnderConcurrentLoad) {
  const EncodedPage sample = Encode(PageOf(0));
  const uint64_t max = 200 * (sample.payload.size() + 96);
  auto pool = NewPool(max);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> over{0}, wrong{0}, hits{0};
  std::thread watcher([&] {
    while (!stop.load()) {
      if (pool->GetStats().pool_bytes > max) over.fetch_add(1);
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 3000; ++i) {
        const uint64_t slot = t * 100000 + i;
        pool->Store(slot, slot, Encode(PageOf(slot)));
        if (i % 7 == 0) pool->Erase(slot - 5);
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::string out(kPage, '\0');
      std::mt19937_64 rng(t);
      for (int i = 0; i < 20000; ++i) {
        const uint64_t slot = (rng() % 4) * 100000 + rng() % 3000;
        auto r = pool->Load(slot, slot, out.data());
        if (r.ok() && *r) {
          hits.fetch_add(1);
          if (out != PageOf(slot)) wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  stop = true;
  watcher.join();
  EXPECT_EQ(over.load(), 0u);
  EXPECT_EQ(wrong.load(), 0u);
  const ZswapPool::Stats s = pool->GetStats();
  EXPECT_LE(s.pool_bytes, max);
  EXPECT_GT(s.written_back + s.reject_pool_full, 0u);
}

}  // namespace
}  // namespace memmgr
