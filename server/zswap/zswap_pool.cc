#include "server/zswap/zswap_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace memmgr {

absl::StatusOr<std::unique_ptr<ZswapPool>> ZswapPool::Create(
    ZswapPoolOptions options) {
  if (options.max_pool_bytes == 0) {
    return absl::InvalidArgumentError("zswap: max_pool_bytes must be > 0");
  }
  if (options.accept_threshold_percent < 1 ||
      options.accept_threshold_percent > 100) {
    return absl::InvalidArgumentError(absl::StrCat(
        "zswap: accept_threshold_percent=", options.accept_threshold_percent,
        ": want 1..100"));
  }
  return std::unique_ptr<ZswapPool>(new ZswapPool(options));
}

ZswapPool::ZswapPool(ZswapPoolOptions options)
    : options_(options),
      accept_bytes_(options.max_pool_bytes / 100 *
                        options.accept_threshold_percent +
                    options.max_pool_bytes % 100 *
                        options.accept_threshold_percent / 100) {
  if (options_.shrink_thread) shrinker_ = std::thread([this] { ShrinkLoop(); });
}

ZswapPool::~ZswapPool() {
  {
    MutexLock l(&mu_);
    stop_ = true;
  }
  shrink_cv_.SignalAll();
  if (shrinker_.joinable()) shrinker_.join();
}

ZswapPool::StoreResult ZswapPool::Store(uint64_t slot, uint64_t generation,
                                        EncodedPage page) {
  if (page.codec == PageCodec::kRaw) {
    // Nothing to gain over RocksDB's copy.
    if (page.compress_poor) {
      reject_poor_.fetch_add(1, std::memory_order_relaxed);
    }
    MutexLock l(&mu_);
    if (auto it = by_slot_.find(slot); it != by_slot_.end()) {
      EraseLocked(it->second);
    }
    return StoreResult::kRejectedPoor;
  }
  const uint64_t charge = page.payload.size() + options_.entry_overhead_bytes;
  const size_t payload_size = page.payload.size();
  auto payload = std::make_shared<const std::string>(std::move(page.payload));
  MutexLock l(&mu_);
  if (auto it = by_slot_.find(slot); it != by_slot_.end()) {
    EraseLocked(it->second);  // a reused slot's old page
  }
  if (full_ || pool_bytes_ + charge > options_.max_pool_bytes) {
    if (!full_) limit_hits_.fetch_add(1, std::memory_order_relaxed);
    full_ = true;
    reject_full_.fetch_add(1, std::memory_order_relaxed);
    shrink_cv_.Signal();
    return StoreResult::kRejectedFull;
  }
  lru_.push_front(Entry{slot, generation, page.codec, page.crc,
                        std::move(payload), charge});
  by_slot_[slot] = lru_.begin();
  pool_bytes_ += charge;
  payload_bytes_ += payload_size;
  if (page.codec == PageCodec::kSameFilled) ++same_filled_;
  return StoreResult::kStored;
}

absl::StatusOr<bool> ZswapPool::Load(uint64_t slot, uint64_t generation,
                                     char* out) {
  std::shared_ptr<const std::string> payload;
  PageCodec codec;
  uint32_t crc;
  {
    MutexLock l(&mu_);
    auto it = by_slot_.find(slot);
    if (it == by_slot_.end() || it->second->generation != generation) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    lru_.splice(lru_.begin(), lru_, it->second);  // most recently used
    payload = it->second->payload;
    codec = it->second->codec;
    crc = it->second->crc;
  }
  absl::Status s = DecodePage(codec, *payload, crc, out);
  if (!s.ok()) {
    crc_errors_.fetch_add(1, std::memory_order_relaxed);
    MutexLock l(&mu_);
    auto it = by_slot_.find(slot);
    if (it != by_slot_.end() && it->second->generation == generation) {
      EraseLocked(it->second);
    }
    return absl::Status(s.code(), absl::StrCat("zswap: ", s.message()));
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void ZswapPool::Erase(uint64_t slot) {
  MutexLock l(&mu_);
  if (auto it = by_slot_.find(slot); it != by_slot_.end()) {
    EraseLocked(it->second);
  }
}

void ZswapPool::EraseLocked(Lru::iterator it) {
  pool_bytes_ -= it->charge;
  payload_bytes_ -= it->payload->size();
  if (it->codec == PageCodec::kSameFilled) --same_filled_;
  by_slot_.erase(it->slot);
  lru_.erase(it);
}

void ZswapPool::ShrinkLoop() {
  MutexLock l(&mu_);
  for (;;) {
    while (!stop_ && !full_) shrink_cv_.Wait(&mu_);
    if (stop_) return;
    mu_.Unlock();
    ShrinkTo(accept_bytes_);
    mu_.Lock();
  }
}

void ZswapPool::ShrinkTo(uint64_t target) {
  // In small bites: SwapIns and SwapOuts get the lock between them.
  constexpr int kBite = 64;
  for (;;) {
    MutexLock l(&mu_);
    for (int i = 0; i < kBite && pool_bytes_ > target && !lru_.empty(); ++i) {
      EraseLocked(std::prev(lru_.end()));
      written_back_.fetch_add(1, std::memory_order_relaxed);
    }
    if (pool_bytes_ <= target || lru_.empty()) {
      full_ = false;
      return;
    }
  }
}

void ZswapPool::ShrinkForTest() { ShrinkTo(accept_bytes_); }

bool ZswapPool::CorruptForTest(uint64_t slot) {
  MutexLock l(&mu_);
  auto it = by_slot_.find(slot);
  if (it == by_slot_.end()) return false;
  auto bad = std::make_shared<std::string>(*it->second->payload);
  if (bad->empty()) return false;
  (*bad)[bad->size() / 2] ^= 0x5a;
  it->second->payload = std::move(bad);
  return true;
}

ZswapPool::Stats ZswapPool::GetStats() const {
  Stats s;
  {
    MutexLock l(&mu_);
    s.pool_bytes = pool_bytes_;
    s.stored_pages = by_slot_.size();
    s.same_filled_pages = same_filled_;
    s.payload_bytes = payload_bytes_;
  }
  s.stored_uncompressed_bytes = s.stored_pages * 4096;
  s.reject_compress_poor = reject_poor_.load(std::memory_order_relaxed);
  s.reject_pool_full = reject_full_.load(std::memory_order_relaxed);
  s.written_back = written_back_.load(std::memory_order_relaxed);
  s.pool_limit_hits = limit_hits_.load(std::memory_order_relaxed);
  s.hits = hits_.load(std::memory_order_relaxed);
  s.misses = misses_.load(std::memory_order_relaxed);
  s.crc_errors = crc_errors_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace memmgr
