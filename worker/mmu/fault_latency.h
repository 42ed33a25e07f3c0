// FaultLatency: a histogram of page-fault service times by source, one per
// frame pool (the worker's node), for the fault latency metric
// (memmgr_worker_fault_latency_seconds). A fault's time runs from the moment
// the fault path finds what it must do until the pte maps the page,
// including every retry: a direct-reclaim stall or the wait for a page from
// the swap device counts into the fault that waited.
//
// Cost: two clock reads per timed fault. Swap faults (microseconds) are
// all timed; the cheap ones (zero, file, cow: a few hundred nanoseconds,
// where two clock reads would add ~15%) are sampled, one in kSampleEvery
// per address space, so the histogram's _count for them is a sample and
// the fault counters count every fault.
//
// Buckets are powers of two: bucket i holds latencies below 2^(i+7) ns
// (128 ns .. 2^34 ns ≈ 17 s), the last bucket everything above.
//
// Thread-safety: Record and Read may run concurrently (relaxed atomics; a
// reading is consistent enough for a scrape).
#ifndef MEMMGR_WORKER_MMU_FAULT_LATENCY_H_
#define MEMMGR_WORKER_MMU_FAULT_LATENCY_H_

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

namespace memmgr::mmu {

enum class FaultSource : uint8_t {
  kZero,       // anon page: zero page mapped or a zeroed frame
  kFile,       // page of an image mapping, copied from the image
  kCow,        // copy-on-write break (copy or reuse)
  kSwapCache,  // swap pte whose page was still in the swap cache
  kSwapIn,     // swap pte: the page came from the swap device
  kCount,
};
inline constexpr int kFaultSourceCount = static_cast<int>(FaultSource::kCount);

inline const char* FaultSourceName(FaultSource s) {
  switch (s) {
    case FaultSource::kZero:
      return "zero";
    case FaultSource::kFile:
      return "file";
    case FaultSource::kCow:
      return "cow";
    case FaultSource::kSwapCache:
      return "swapcache";
    case FaultSource::kSwapIn:
      return "swapin";
    case FaultSource::kCount:
      break;
  }
  return "?";
}

class FaultLatency {
 public:
  static constexpr int kBuckets = 29;  // 28 bounded + the overflow bucket
  static constexpr uint32_t kSampleEvery = 16;

  // Upper bound of bucket i (i < kBuckets - 1), in nanoseconds.
  static constexpr uint64_t BucketBoundNs(int i) {
    return uint64_t{1} << (i + 7);
  }

  void Record(FaultSource s, uint64_t ns) {
    Source& src = sources_[static_cast<int>(s)];
    const int width = std::bit_width(ns | 1);  // ns < 2^width
    int b = width <= 7 ? 0 : width - 7;
    if (b > kBuckets - 1) b = kBuckets - 1;
    src.buckets[b].fetch_add(1, std::memory_order_relaxed);
    src.sum_ns.fetch_add(ns, std::memory_order_relaxed);
  }

  struct Reading {
    std::array<uint64_t, kBuckets> buckets{};  // not cumulative
    uint64_t count = 0;
    uint64_t sum_ns = 0;
  };
  Reading Read(FaultSource s) const {
    const Source& src = sources_[static_cast<int>(s)];
    Reading r;
    for (int i = 0; i < kBuckets; ++i) {
      r.buckets[i] = src.buckets[i].load(std::memory_order_relaxed);
      r.count += r.buckets[i];
    }
    r.sum_ns = src.sum_ns.load(std::memory_order_relaxed);
    return r;
  }

 private:
  struct Source {
    std::array<std::atomic<uint64_t>, kBuckets> buckets{};
    std::atomic<uint64_t> sum_ns{0};
  };
  std::array<Source, kFaultSourceCount> sources_;
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_FAULT_LATENCY_H_
