// Reclaimer: page reclaim for one FramePool (mm/vmscan.c for the worker):
// the lruvec, kswapd, direct reclaim, the rmap walk, and the swap-in side of
// faults on swap entries.
//
// LRU. Four lists (anon/file × inactive/active) linked through the page
// descriptors, plus PG_unevictable frames (mlocked) that never go on them.
// A frame joins the inactive list when a pte first maps it (a refault or a
// swap-cache hit joins the active one: it was evicted too early). Scans take
// the tail of the inactive lists, file vs anon balanced by swappiness
// (anon share = swappiness / 200, like vmscan's scan balance with equal
// costs), and age the active lists into the inactive ones while the
// inactive list is the smaller.
//
// rmap. A scan batch resolves frame -> every (address space, vpn) mapping
// it by walking the page tables of every address space of the pool (the
// mm list), as MGLRU's walk_mm does, instead of a per-pte reverse-map chain:
// with page tables shared copy-on-write between forks, a per-pte chain
// would have to be extended for all 512 ptes whenever a shared leaf is
// copied, which would make fork and CoW pay for reclaim. One walk serves a
// whole batch (up to 256 frames). A pte in a leaf shared by several forks
// is one slot: rewriting it rewrites it for all of them, so they all get
// the same swap entry, and the swap entry counts one reference per slot.
//
// Second chance. A candidate whose ptes have the accessed bit was used
// since the last scan: the bits are cleared (and the TLB entries of every
// address space that maps it dropped, so the next access sets the bit
// again) and it moves to the active list. Otherwise it is reclaimed: a
// clean file page (a private copy of an ELF page, never written) has its
// ptes cleared and is re-read from the image on the next fault; an anon
// page goes into the swap cache and is written to the swap device in a
// batch, with the gate released; decode-cached code pages are kept.
//
// kswapd. A thread per pool wakes when an allocation leaves fewer than
// `low` free frames and reclaims until `high` (scan_control: at most
// `batch` candidates per round, give up a round that frees nothing). An
// allocation refused below `min` makes the faulting thread reclaim itself
// (direct reclaim) before it retries.
//
// Concurrency. Scans and pte rewrites run under the pool's MmGate held
// exclusive (no guest runs, so no TLB entry is in use); device I/O runs
// with the gate released. Lock order: MmGate, then SwapCache::mu_, then
// lru_mu_ (FramePool::FreeFrame takes it through OnFree), then FramePool
// locks; mm_mu_ and io_mu_ are leaves (an I/O thread runs a read and its
// done callback with no lock held).
#ifndef MEMMGR_WORKER_MMU_RECLAIM_H_
#define MEMMGR_WORKER_MMU_RECLAIM_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "common/mutex.h"
#include "worker/mmu/frame_pool.h"
#include "worker/mmu/mm_gate.h"
#include "worker/mmu/swap_cache.h"
#include "worker/mmu/swap_device.h"

namespace memmgr::mmu {

class AddressSpace;

class Reclaimer {
 public:
  struct Options {
    int swappiness = 60;     // 0..200, vm.swappiness
    uint32_t batch = 256;    // candidates per scan round
    uint32_t readahead = 7;  // extra pages per swap-in (page-cluster 3)
    bool kswapd = true;      // run the kswapd thread
  };
  struct Stats {
    uint64_t pgscan = 0;          // candidates looked at
    uint64_t pgsteal_anon = 0;    // anon pages reclaimed (swapped)
    uint64_t pgsteal_file = 0;    // clean file pages dropped
    uint64_t pgactivate = 0;      // referenced: moved to active
    uint64_t pgdeactivate = 0;    // aged from active to inactive
    uint64_t pswpout = 0;         // pages written to the swap device
    uint64_t pswpin = 0;          // pages read from it (incl. readahead)
    uint64_t swapcache_hits = 0;  // swap faults served from the cache
    uint64_t swap_faults = 0;     // swap faults that read the device
    uint64_t kswapd_wakeups = 0;
    uint64_t kswapd_rounds = 0;
    uint64_t direct_reclaims = 0;    // allocations that reclaimed first
    uint64_t direct_reclaim_ns = 0;  // time faults spent in direct reclaim
    uint64_t swap_io_errors = 0;     // device calls that failed
    uint64_t async_swapins = 0;      // StartSwapIn reads (parked faults)
    uint64_t lru_pages[4] = {};      // anon inactive/active, file in/active
    uint64_t unevictable = 0;
    SwapCache::Stats swap_cache;
  };

  // Attaches to `pool` (FramePool::SetReclaimer) before any address space
  // of the pool exists; `device` must outlive this.
  static absl::StatusOr<std::unique_ptr<Reclaimer>> Create(FramePool* pool,
                                                           SwapDevice* device,
                                                           Options options);
  ~Reclaimer();
  Reclaimer(const Reclaimer&) = delete;
  Reclaimer& operator=(const Reclaimer&) = delete;

  // ---- for AddressSpace and FramePool ----
  void AddMm(AddressSpace* as);
  void RemoveMm(AddressSpace* as);
  // A pte now maps `pfn` for the first time (anon or private file page).
  void LruAdd(Pfn pfn, bool active);
  // FramePool frees `pfn` (refcount 0): off the LRU.
  void OnFree(Pfn pfn);
  // An allocation left the pool below low: wake kswapd.
  void MaybeWakeKswapd();
  // Direct reclaim for a thread whose allocation was refused below min.
  // Call with the gate released. True if it freed anything.
  bool DirectReclaim();
  // Swap fault: reads the page of `value` (and readahead) into the cache.
  // Call with the gate released.
  absl::Status SwapIn(uint64_t value);
  // The same in the background, for a fault that parked
  // (AddressSpace::SetParkHook): one of the reclaimer's I/O threads reads
  // the page (reclaiming directly first if the pool is below min), then
  // calls `done` (also when the read failed: the retried fault then waits
  // in place and reports the error). Reads of one entry are merged by the
  // swap cache.
  void StartSwapIn(uint64_t value, std::function<void()> done);
  // Runs every queued background read and its callback, then stops the
  // I/O threads; later StartSwapIn calls read in place. The owner of the
  // callbacks' targets calls this before they go (also done by the
  // destructor).
  void StopSwapIns();

  // Reclaims until `free_target` frames are free or a round frees
  // nothing; takes the gate exclusive per round. Returns frames freed.
  uint64_t ShrinkTo(uint64_t free_target);

  // The status of the last write-out (OK after a success).
  absl::Status LastWriteError() const;

  SwapCache* swap_cache() { return swap_cache_.get(); }
  FramePool* pool() const { return pool_; }
  Stats GetStats() const;
  const Options& options() const { return options_; }

 private:
  enum List : uint8_t {
    kInactiveAnon = 0,
    kActiveAnon = 1,
    kInactiveFile = 2,
    kActiveFile = 3,
    kNoList = 0xff,
  };
  Reclaimer(FramePool* pool, SwapDevice* device, Options options);

  // One scan round under the exclusive gate; returns anon values to write.
  std::vector<uint64_t> ScanRound(uint64_t* freed);
  void ListAddHead(List list, Pfn pfn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lru_mu_);
  void ListRemove(Pfn pfn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lru_mu_);
  void MoveTo(Pfn pfn, List list);
  void KswapdLoop();

  FramePool* const pool_;
  const Options options_;
  std::unique_ptr<SwapCache> swap_cache_;

  mutable Mutex mm_mu_;
  absl::flat_hash_set<AddressSpace*> mms_ ABSL_GUARDED_BY(mm_mu_);

  mutable Mutex lru_mu_;
  std::array<Pfn, 4> head_ ABSL_GUARDED_BY(lru_mu_);
  std::array<Pfn, 4> tail_ ABSL_GUARDED_BY(lru_mu_);
  std::array<uint64_t, 4> count_ ABSL_GUARDED_BY(lru_mu_) = {};

  // One reclaimer at a time (kswapd or a direct reclaimer): the second
  // waits and then finds the work done.
  Mutex shrink_mu_;

  mutable Mutex error_mu_;  // leaf
  absl::Status last_write_error_ ABSL_GUARDED_BY(error_mu_);

  Mutex kswapd_mu_;
  CondVar kswapd_cv_;
  bool kswapd_wake_ ABSL_GUARDED_BY(kswapd_mu_) = false;
  bool kswapd_stop_ ABSL_GUARDED_BY(kswapd_mu_) = false;
  std::thread kswapd_;

  // Background swap-ins (StartSwapIn): a FIFO served by kIoThreads threads
  // started on first use.
  static constexpr int kIoThreads = 2;
  struct SwapInRequest {
    uint64_t value = 0;
    std::function<void()> done;
  };
  void IoLoop();
  Mutex io_mu_;
  CondVar io_cv_;
  std::deque<SwapInRequest> io_queue_ ABSL_GUARDED_BY(io_mu_);
  bool io_stop_ ABSL_GUARDED_BY(io_mu_) = false;
  std::vector<std::thread> io_threads_ ABSL_GUARDED_BY(io_mu_);
  std::atomic<uint64_t> async_swapins_{0};

  std::atomic<uint64_t> pgscan_{0}, pgsteal_anon_{0}, pgsteal_file_{0},
      pgactivate_{0}, pgdeactivate_{0}, pswpout_{0}, pswpin_{0},
      swapcache_hits_{0}, swap_faults_{0}, kswapd_wakeups_{0},
      kswapd_rounds_{0}, direct_reclaims_{0}, swap_io_errors_{0},
      unevictable_{0}, direct_reclaim_ns_{0};

  friend class AddressSpace;
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_RECLAIM_H_
