// PageDescriptor: the per-frame metadata, Linux's struct page. One per 4 KiB
// frame of a FramePool, indexed by pfn.
//
// Thread-safety: refcount, mapcount and flags are atomics because a frame can
// be shared (CoW after fork) by address spaces running on different executor
// threads. The LRU links are guarded by the Reclaimer's lru_mu_ (reclaim.h);
// private_data by the SwapCache's mu_ while PG_swapcache is set.
#ifndef MEMMGR_WORKER_MMU_PAGE_DESCRIPTOR_H_
#define MEMMGR_WORKER_MMU_PAGE_DESCRIPTOR_H_

#include <atomic>
#include <cstdint>

#include "worker/mmu/mmu_types.h"

namespace memmgr::mmu {

// PG_* flags (include/linux/page-flags.h names).
enum PageFlag : uint32_t {
  kPgLocked = 1u << 0,       // PG_locked: under I/O (swap-out in flight)
  kPgDirty = 1u << 1,        // PG_dirty: differs from its backing (image/swap)
  kPgReferenced = 1u << 2,   // PG_referenced: second-chance bit for the LRU
  kPgActive = 1u << 3,       // PG_active: on the active LRU list
  kPgUnevictable = 1u << 4,  // PG_unevictable: mlocked, never reclaimed
  kPgSwapCache = 1u << 5,    // PG_swapcache: in the swap cache
  kPgAnon = 1u << 6,         // PageAnon: anonymous (vs a private image copy)
  kPgReserved = 1u << 7,     // PG_reserved: the zero page; never freed
  kPgLru = 1u << 8,          // PG_lru: on one of the reclaimer's lists
};

inline constexpr Pfn kNoPfn = ~Pfn{0};

struct PageDescriptor {
  // _refcount: every pte mapping the frame plus any other holder (swap
  // cache, in-flight I/O). 0 = on a free list.
  std::atomic<uint32_t> refcount{0};
  // _mapcount: ptes mapping the frame (Linux keeps it -1 based; we don't).
  std::atomic<uint32_t> mapcount{0};
  std::atomic<uint32_t> flags{0};
  // lruvec list links (pfns; kNoPfn = none). Guarded by the lruvec lock.
  Pfn lru_prev = kNoPfn;
  Pfn lru_next = kNoPfn;
  uint8_t lru_list = 0xff;  // which list (Reclaimer::List); lruvec lock
  // Head of the reverse map (frame -> every (mm, vpn) mapping it), for
  // reclaim to rewrite all ptes of a shared frame. Guarded by the lruvec lock.
  uint32_t rmap_head = 0;
  // Swap entry while in the swap cache (page->private).
  uint64_t private_data = 0;

  bool TestFlag(PageFlag f) const {
    return (flags.load(std::memory_order_relaxed) & f) != 0;
  }
  void SetFlag(PageFlag f) { flags.fetch_or(f, std::memory_order_relaxed); }
  void ClearFlag(PageFlag f) { flags.fetch_and(~f, std::memory_order_relaxed); }
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_PAGE_DESCRIPTOR_H_
