// SoftTlb: a direct-mapped software TLB in the style of QEMU's softmmu
// (accel/tcg/cputlb.c). Each entry caches one guest page with three tags —
// read, write, exec — and one addend: host = guest address + addend.
//
// A hit is one compare and one add: the tag compare folds in the low bits of
// the access size, so an access that is misaligned (and so possibly crosses
// into the next page) never hits and takes the slow path, which handles it.
//
// What an entry may hold (the AddressSpace fills it; these are its rules):
// - read/exec tags only for pages whose pte allows the access;
// - a write tag only for pages whose pte is writable, not CoW, not the zero
//   page, and already dirty (filling for a write sets dirty), so a hit never
//   has to touch the pte;
// - the accessed bit is set when an entry is filled.
// Entries are flushed exactly when a pte they were filled from changes in a
// way that would forbid them: munmap, mprotect, madvise, CoW break, and (the
// reclaim issue) clearing accessed bits or unmapping for swap-out.
//
// Size: starts at `initial` entries (>= 256) and grows by doubling up to
// `max` while more than 1/8 of accesses miss (a 65536-entry table, 2 MiB,
// covers a 256 MiB working set without conflicts); a full flush that finds
// it mostly unused halves it again.
//
// Thread-safety: not thread-safe; owned by one AddressSpace, used by the
// thread running its sandbox.
#ifndef MEMMGR_WORKER_MMU_SOFT_TLB_H_
#define MEMMGR_WORKER_MMU_SOFT_TLB_H_

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "worker/mmu/mmu_types.h"

namespace memmgr::mmu {

class SoftTlb {
 public:
  static constexpr uint64_t kInvalid = ~uint64_t{0};  // never equals a tag

  struct Entry {
    uint64_t read = kInvalid;
    uint64_t write = kInvalid;
    uint64_t exec = kInvalid;
    uintptr_t addend = 0;  // host address - guest page address
  };

  // Sizes are powers of two; min <= initial <= max (the AddressSpace checks).
  SoftTlb(uint32_t initial_entries, uint32_t min_entries, uint32_t max_entries)
      : entries_(NewTable(initial_entries)),
        mask_(initial_entries - 1),
        min_entries_(min_entries),
        max_entries_(max_entries) {}

  Entry& EntryFor(GuestAddr va) {
    return entries_.get()[(va >> kPageShift) & mask_];
  }

  // The tag compared against an access of `size` bytes (a power of two).
  static uint64_t Tag(GuestAddr va, uint64_t size) {
    return va & (kPageMask | (size - 1));
  }

  void FlushPage(GuestAddr va) {
    Entry& e = EntryFor(va);
    uint64_t page = PageDown(va);
    if (e.read == page || e.write == page || e.exec == page) {
      e = Entry();
      ++flushes_;
    }
  }
  // Flushes every entry for a page in [start, end). Small ranges touch only
  // their own slots; large ones sweep the table.
  void FlushRange(GuestAddr start, GuestAddr end) {
    if ((end - start) >> kPageShift > mask_) {
      FlushAll();
      return;
    }
    for (GuestAddr va = PageDown(start); va < end; va += kPageSize) {
      FlushPage(va);
    }
  }
  // Flushes everything. Like QEMU's tlb_mmu_resize_locked, this is also
  // where an oversized table shrinks: if fewer than 1/8 of the entries were
  // in use, halve it.
  void FlushAll() {
    uint64_t used = 0;
    for (uint64_t i = 0; i <= mask_; ++i) {
      Entry& e = entries_.get()[i];
      used += e.read != kInvalid || e.write != kInvalid || e.exec != kInvalid;
      e = Entry();
    }
    ++flushes_;
    if (used * 8 < mask_ + 1 && mask_ + 1 > min_entries_) {
      Resize(static_cast<uint32_t>((mask_ + 1) / 2));
    }
  }

  // Called on every miss with the running hit count. Once per window of
  // `size` misses, a table that missed on more than 1/8 of the accesses in
  // the window doubles (up to max): a large working set gets a large TLB,
  // the way QEMU sizes its TLB dynamically. Resizing drops all entries.
  void NoteMiss(uint64_t hits_total) {
    if (++window_misses_ <= mask_) return;
    uint64_t hits = hits_total - window_hits_start_;
    if (window_misses_ * 8 > hits + window_misses_ &&
        mask_ + 1 < max_entries_) {
      Resize(static_cast<uint32_t>((mask_ + 1) * 2));
    }
    window_misses_ = 0;
    window_hits_start_ = hits_total;
  }

  uint32_t size() const { return static_cast<uint32_t>(mask_ + 1); }
  uint64_t flushes() const { return flushes_; }
  uint64_t resizes() const { return resizes_; }

 private:
  struct FreeTable {
    void operator()(Entry* e) const { std::free(e); }
  };
  // Large tables are 2 MiB aligned and advised for transparent huge pages:
  // a TLB that covers a big working set must not itself miss the host TLB.
  static Entry* NewTable(uint32_t entries) {
    const size_t bytes = sizeof(Entry) * entries;
    const size_t align = bytes >= kHugePage ? kHugePage : alignof(Entry);
    void* mem = std::aligned_alloc(align, (bytes + align - 1) / align * align);
    if (mem == nullptr) std::abort();
    if (bytes >= kHugePage) madvise(mem, bytes, MADV_HUGEPAGE);
    auto* table = static_cast<Entry*>(mem);
    std::uninitialized_fill_n(table, entries, Entry());
    return table;
  }
  static constexpr size_t kHugePage = 2 << 20;

  void Resize(uint32_t entries) {
    entries_.reset(NewTable(entries));
    mask_ = entries - 1;
    ++resizes_;
  }

  std::unique_ptr<Entry, FreeTable> entries_;
  uint64_t mask_;
  const uint32_t min_entries_;
  const uint32_t max_entries_;
  uint64_t flushes_ = 0;
  uint64_t resizes_ = 0;
  uint64_t window_misses_ = 0;
  uint64_t window_hits_start_ = 0;
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_SOFT_TLB_H_
