// Counters of one address space's MMU: faults by class, soft-TLB traffic
// and resident size. Plain values, read with AddressSpace::GetStats().
#ifndef MEMMGR_WORKER_MMU_MMU_STATS_H_
#define MEMMGR_WORKER_MMU_MMU_STATS_H_

#include <array>
#include <cstdint>

namespace memmgr::mmu {

// How a page fault was resolved (or why it was not). The first five are
// the "real" faults that change a pte; the rest stop the access.
enum class FaultClass : uint8_t {
  kZeroFillRead,    // read/exec of an untouched anon page: map the zero page
  kAnonFirstWrite,  // first write to an anon page (or to the zero page)
  kFilePage,        // page of an image mapping, copied from the image
  kCowReuse,        // CoW write, frame no longer shared: made writable
  kCowCopy,         // CoW write, frame shared: copied
  kStackGrow,       // grows-down stack extended to cover the address
  kSegvUnmapped,    // no vma (or outside the address space)
  kSegvProtection,  // vma forbids the access
  kSwapEntry,       // pte holds a swap entry (needs the swap-in path)
  kMemoryLimit,     // limit_pages reached
  kOutOfMemory,     // frame pool below min
  kSwapCacheHit,    // swap pte whose page was still in the swap cache
  kSwapIn,          // swap pte: the page was read from the swap device
  kSwapIoError,     // the swap device could not return the page
  kSwapWait,        // the fault parked while the page is read (SetParkHook)
  kCount,
};
inline constexpr int kFaultClassCount = static_cast<int>(FaultClass::kCount);
const char* FaultClassName(FaultClass c);  // "zero_fill_read", ...

struct MmuStats {
  std::array<uint64_t, kFaultClassCount> faults{};
  uint64_t tlb_hits = 0;
  uint64_t tlb_misses = 0;  // slow-path translations (each may fault)
  uint64_t tlb_flushes = 0;
  uint64_t tlb_entries = 0;  // current size (it grows with the working set)
  uint64_t tlb_resizes = 0;
  uint64_t rss_pages = 0;       // ptes mapping a frame other than the zero page
  uint64_t peak_rss_pages = 0;  // high-water mark of rss_pages
  uint64_t page_table_pages = 0;
  uint64_t page_table_unshares = 0;  // shared tables copied on a write below
  uint64_t vmas = 0;

  uint64_t fault(FaultClass c) const { return faults[static_cast<int>(c)]; }
  double TlbHitRate() const {
    uint64_t total = tlb_hits + tlb_misses;
    return total == 0 ? 0.0 : static_cast<double>(tlb_hits) / total;
  }
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_MMU_STATS_H_
