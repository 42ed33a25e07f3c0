// FramePool: the node's memory. One host arena of `bytes` (mmap'ed
// MAP_NORESERVE, optionally bound to a host NUMA node with libnuma), cut into
// 4 KiB frames with a PageDescriptor each. Every guest page lives in a frame
// of some pool, so the arena bounds what guest accesses can reach.
//
// Frame 0 is the shared zero page (PG_reserved, read-only at the host level
// too: a bug that writes it faults in the host instead of corrupting every
// zero-filled read).
//
// Free frames sit on per-thread caches in front of one shared free list, like
// the kernel's per-cpu page lists (pcp) in front of the buddy allocator:
// an executor thread allocates and frees without touching the shared lock
// most of the time.
//
// Pre-zeroed frames: AllocZeroed (every anonymous first write) would spend
// most of its time in a 4 KiB memset. Frames known to hold zeros (never
// touched since the arena was mapped, or zeroed in the background) sit on
// their own lists, and AllocZeroed takes those first. A background zeroer
// thread at SCHED_IDLE (Windows' zero-page thread; Linux's idea of
// init_on_free, done lazily) moves frames from the dirty free list to the
// zeroed one, only while plenty of memory is free and only on idle CPU.
//
// Watermarks follow mm/page_alloc.c: min from min_free_kbytes'
// sqrt(16 * pool_kB) rule, low = min + min/4, high = min + min/2. A normal
// allocation that would leave fewer than `min` free frames fails (pressure):
// the min reserve is for reclaim itself (AllocMode::kReserve, PF_MEMALLOC).
//
// Thread-safety: safe for concurrent use. Lock order: a cache shard's mu
// before the pool's free_mu_ (refill/drain take shard then pool; nothing
// takes them the other way round). The zeroer thread takes only free_mu_,
// and never while zeroing.
#ifndef MEMMGR_WORKER_MMU_FRAME_POOL_H_
#define MEMMGR_WORKER_MMU_FRAME_POOL_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "worker/mmu/fault_latency.h"
#include "worker/mmu/mm_gate.h"
#include "worker/mmu/mmu_types.h"
#include "worker/mmu/page_descriptor.h"

namespace memmgr::mmu {

class Reclaimer;

struct Watermarks {
  uint64_t min = 0;
  uint64_t low = 0;
  uint64_t high = 0;
};

// Computes min/low/high (in frames) for a pool of `frames` frames the way
// the kernel derives them from min_free_kbytes. `min_override` > 0 wins.
Watermarks ComputeWatermarks(uint64_t frames, uint64_t min_override = 0);

class FramePool {
 public:
  struct Options {
    uint64_t bytes = 64 << 20;          // rounded down to whole frames
    int numa_node = -1;                 // host NUMA node to bind to; -1 = none
    uint64_t min_free_frames = 0;       // 0 = computed (ComputeWatermarks)
    bool transparent_hugepages = true;  // madvise(MADV_HUGEPAGE) the arena
    bool background_zeroing = true;     // run the SCHED_IDLE zeroer thread
  };

  // Pool-size limits: at least 64 frames (256 KiB), at most 2^32 frames.
  static constexpr uint64_t kMinFrames = 64;

  enum class AllocMode {
    kNormal,   // fails when it would go below the min watermark
    kReserve,  // may use the min reserve (reclaim's own allocations)
  };

  struct Stats {
    uint64_t total_frames = 0;  // including the zero page
    uint64_t free_frames = 0;
    uint64_t used_frames = 0;  // allocated, excluding the zero page
    uint64_t allocs = 0;
    uint64_t frees = 0;
    uint64_t alloc_pressure_failures = 0;  // refused below min
    uint64_t alloc_empty_failures = 0;     // no frame at all
    uint64_t zeroed_free_frames = 0;       // free frames known to be zero
    uint64_t zeroed_allocs = 0;      // AllocZeroed served without a memset
    uint64_t background_zeroed = 0;  // frames the zeroer thread cleared
    int numa_node = -1;              // node the arena is bound to, -1 = unbound
  };

  // Errors: INVALID_ARGUMENT for a size out of range or a NUMA node the host
  // does not have; RESOURCE_EXHAUSTED when the host refuses the mapping. A
  // NUMA node asked for on a host without NUMA support logs a warning and
  // leaves the pool unbound (Stats::numa_node == -1).
  static absl::StatusOr<std::unique_ptr<FramePool>> Create(
      const Options& options);
  ~FramePool();
  FramePool(const FramePool&) = delete;
  FramePool& operator=(const FramePool&) = delete;

  // Allocates a frame with refcount 1, flags clear, contents unspecified.
  // Returns kNoPfn on failure (see AllocMode).
  Pfn Alloc(AllocMode mode = AllocMode::kNormal);
  // A frame whose contents are zero: a pre-zeroed one when there is one,
  // else Alloc + memset.
  Pfn AllocZeroed(AllocMode mode = AllocMode::kNormal);
  // Test hook: zeroes dirty free frames on the calling thread, as the
  // zeroer thread would, until none is left or `max` were done. Returns
  // how many.
  uint64_t ZeroFreeFramesForTest(uint64_t max);

  // get_page / put_page: a reference from a pte, the swap cache, ...
  // PutPage frees the frame when the last reference goes; the zero page is
  // never freed.
  void GetPage(Pfn pfn) {
    descriptors_[pfn].refcount.fetch_add(1, std::memory_order_relaxed);
  }
  void PutPage(Pfn pfn);

  uint8_t* FrameAddress(Pfn pfn) const {
    return arena_ + (static_cast<uint64_t>(pfn) << kPageShift);
  }
  PageDescriptor& Descriptor(Pfn pfn) const { return descriptors_[pfn]; }
  // True iff `host` points into the arena (for host-safety assertions).
  bool Contains(const void* host, uint64_t len) const;

  static constexpr Pfn kZeroPfn = 0;
  uint64_t total_frames() const { return total_frames_; }
  // The host NUMA node the arena is bound to, -1 if unbound.
  int numa_node() const { return numa_node_; }
  uint64_t free_frames() const {
    return free_frames_.load(std::memory_order_relaxed);
  }
  const Watermarks& watermarks() const { return watermarks_; }
  bool BelowMin() const { return free_frames() < watermarks_.min; }
  bool BelowLow() const { return free_frames() < watermarks_.low; }
  bool BelowHigh() const { return free_frames() < watermarks_.high; }
  Stats GetStats() const;

  // The gate between guests and reclaim (mm_gate.h): every thread using an
  // address space of this pool holds it shared.
  MmGate* gate() { return &gate_; }
  // Reclaim for this pool (reclaim.h), or nullptr: then an allocation
  // refused below min is an out-of-memory fault and swap entries cannot be
  // mapped. Set before any address space of the pool exists.
  Reclaimer* reclaimer() const { return reclaimer_; }
  void SetReclaimer(Reclaimer* r) { reclaimer_ = r; }
  // Fault service times of every address space of the pool.
  FaultLatency& fault_latency() { return fault_latency_; }
  const FaultLatency& fault_latency() const { return fault_latency_; }

 private:
  // One per-thread cache (a pcp list). Threads are spread over the shards
  // round-robin on first use; with a few executor threads each has its own.
  struct alignas(64) CacheShard {
    Mutex mu;
    uint32_t count ABSL_GUARDED_BY(mu) = 0;  // dirty frames
    std::array<Pfn, 96> frames ABSL_GUARDED_BY(mu);
    uint32_t zcount ABSL_GUARDED_BY(mu) = 0;  // frames known to be zero
    std::array<Pfn, 96> zeroed ABSL_GUARDED_BY(mu);
  };
  static constexpr int kShards = 16;
  static constexpr uint32_t kCacheHigh = 64;   // drain above this (pcp->high)
  static constexpr uint32_t kCacheBatch = 32;  // refill/drain size (pcp->batch)

  FramePool(uint8_t* arena, uint64_t frames, int numa_node, Watermarks wm);
  CacheShard& MyShard();
  // Reserves a frame in free_frames_ (the watermark checks), then takes
  // one from the lists. *zero: it is known to hold zeros.
  Pfn AllocInternal(AllocMode mode, bool want_zero, bool* zero);
  Pfn AllocFromShards(bool want_zero, bool* zero);
  // The zeroer thread's loop, and one batch of its work (returns frames
  // zeroed; 0 = nothing to do now).
  void ZeroerLoop();
  uint64_t ZeroBatch();
  void StopZeroer();
  void FreeFrame(Pfn pfn);
  // Moves every shard's frames back to the shared list (drain_all_pages).
  void DrainAllShards();

  uint8_t* const arena_;
  const uint64_t total_frames_;
  const int numa_node_;
  const Watermarks watermarks_;
  std::unique_ptr<PageDescriptor[]> descriptors_;
  std::array<CacheShard, kShards> shards_;

  Mutex free_mu_;
  std::vector<Pfn> free_list_ ABSL_GUARDED_BY(free_mu_);    // dirty
  std::vector<Pfn> zeroed_list_ ABSL_GUARDED_BY(free_mu_);  // known zero
  bool zeroer_stop_ ABSL_GUARDED_BY(free_mu_) = false;
  // Free frames the zeroer has taken off the dirty list and not yet put on
  // the zeroed one (still counted in free_frames_).
  uint32_t zeroing_ ABSL_GUARDED_BY(free_mu_) = 0;
  CondVar zeroer_cv_;  // with free_mu_: wakes the zeroer (stop, or work)
  std::thread zeroer_;

  MmGate gate_;
  Reclaimer* reclaimer_ = nullptr;
  FaultLatency fault_latency_;

  std::atomic<uint64_t> free_frames_{0};
  std::atomic<uint64_t> allocs_{0};
  std::atomic<uint64_t> frees_{0};
  std::atomic<uint64_t> pressure_failures_{0};
  std::atomic<uint64_t> empty_failures_{0};
  std::atomic<uint64_t> zeroed_free_{0};  // frames on the zeroed lists
  std::atomic<uint64_t> zeroed_allocs_{0};
  std::atomic<uint64_t> background_zeroed_{0};
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_FRAME_POOL_H_
