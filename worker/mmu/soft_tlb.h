// SoftTlb: a direct-mapped software TLB in the style of QEMU's softmmu
// (accel/tcg/cputlb.c). Each entry caches one guest page: a tag (the page
// address with R/W/X permission bits in its low, offset bits) and an
// addend: host = guest address + addend. 16 bytes per entry (QEMU keeps
// three 8-byte comparators, 32 bytes), so the largest table, 65536 entries,
// is 1 MiB and stays in L2 next to the data.
//
// A hit is a mask, one compare and one add: the compare folds in the low
// bits of the access size, so an access that is misaligned (and so possibly
// crosses into the next page) never hits and takes the slow path, which
// handles it.
//
// What an entry may hold (the AddressSpace fills it; these are its rules):
// - the read/exec bits only for pages whose pte allows the access;
// - the write bit only for pages whose pte is writable, not CoW, not the
//   zero page, not decoded code, already dirty (filling for a write sets
//   dirty), whose frame has no other reference and whose page tables are
//   not shared with a fork, so a hit never has to touch the pte and never
//   writes a frame someone else sees;
// - the accessed bit is set when an entry is filled.
// Entries are flushed exactly when a pte they were filled from changes in a
// way that would forbid them: munmap, mprotect, madvise, CoW break, fork
// (the parent's tables become shared), and (the
// reclaim issue) clearing accessed bits or unmapping for swap-out.
//
// Size: starts at `initial` entries (>= 256) and grows by doubling up to
// `max` while more than 1/8 of accesses miss (a 65536-entry table, 1 MiB,
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
  // Permission bits in a tag's page-offset bits (above the size bits the
  // compare folds in, which are at most 0..2).
  static constexpr uint64_t kRead = 1u << 3;
  static constexpr uint64_t kWrite = 1u << 4;
  static constexpr uint64_t kExec = 1u << 5;
  static constexpr uint64_t kPermMask = kRead | kWrite | kExec;
  // No permission bit: never matches (every lookup asks for one).
  static constexpr uint64_t kInvalid = 0;

  struct Entry {
    uint64_t tag = kInvalid;  // page address | permission bits
    uintptr_t addend = 0;     // host address - guest page address
  };
  static_assert(sizeof(Entry) == 16);

  // Sizes are powers of two; min <= initial <= max (the AddressSpace checks).
  SoftTlb(uint32_t initial_entries, uint32_t min_entries, uint32_t max_entries)
      : entries_(NewTable(initial_entries)),
        mask_(initial_entries - 1),
        min_entries_(min_entries),
        max_entries_(max_entries) {}
  ~SoftTlb() { std::free(entries_); }
  SoftTlb(const SoftTlb&) = delete;
  SoftTlb& operator=(const SoftTlb&) = delete;

  Entry& EntryFor(GuestAddr va) { return entries_[(va >> kPageShift) & mask_]; }

  // For generated code (worker/rv64/jit) that does EntryFor + Hit inline:
  // where the table pointer and the index mask live. Both change when the
  // table resizes, so code must reload them through these addresses on
  // every lookup; the addresses themselves are stable for the SoftTlb's
  // lifetime.
  Entry* const* table_address() const { return &entries_; }
  const uint64_t* mask_address() const { return &mask_; }

  // The tag compared against an access of `size` bytes (a power of two).
  static uint64_t Tag(GuestAddr va, uint64_t size) {
    return va & (kPageMask | (size - 1));
  }
  // Does `e` allow an access of `size` bytes at `va` needing `perm`?
  static bool Hit(const Entry& e, GuestAddr va, uint64_t size, uint64_t perm) {
    return (e.tag & (kPageMask | perm)) == (Tag(va, size) | perm);
  }
  // The page an entry caches, if any.
  static bool Caches(const Entry& e, GuestAddr page) {
    return (e.tag & kPermMask) != 0 && (e.tag & kPageMask) == page;
  }

  void FlushPage(GuestAddr va) {
    Entry& e = EntryFor(va);
    if (Caches(e, PageDown(va))) {
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
  // Records that `e` was just filled with the write bit, so that
  // DropWriteEntries can find it without sweeping the table.
  void NoteWriteEntry(const Entry& e) {
    if (write_log_size_ < kWriteLogCapacity) {
      write_log_[write_log_size_++] = static_cast<uint32_t>(&e - entries_);
    } else {
      write_log_overflow_ = true;
    }
  }
  // Takes the write bit away from every entry (fork: the address space's
  // tables become shared). Entries keep their read/exec bits: the frames
  // they point at do not change. Costs one step per write entry filled
  // since the last flush, or a full flush once more than the log holds.
  void DropWriteEntries() {
    if (write_log_overflow_) {
      FlushAll();
      return;
    }
    // A logged slot may since have been refilled for another page (with
    // or without the write bit): clearing its write bit is harmless either
    // way, it only sends the next write through the slow path.
    for (uint32_t i = 0; i < write_log_size_; ++i) {
      entries_[write_log_[i] & mask_].tag &= ~kWrite;
    }
    write_log_size_ = 0;
    ++flushes_;
  }

  // Flushes everything. Like QEMU's tlb_mmu_resize_locked, this is also
  // where an oversized table shrinks: if fewer than 1/8 of the entries were
  // in use, halve it.
  void FlushAll() {
    write_log_size_ = 0;
    write_log_overflow_ = false;
    uint64_t used = 0;
    for (uint64_t i = 0; i <= mask_; ++i) {
      Entry& e = entries_[i];
      used += (e.tag & kPermMask) != 0;
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
  // A TLB that covers a big working set must not itself miss the host TLB:
  // Tables from 256 KiB up get a whole 2 MiB huge page (64 4 KiB host
  // pages would already cost host-TLB misses on random guest accesses).
  static Entry* NewTable(uint32_t entries) {
    const size_t bytes = sizeof(Entry) * entries;
    const bool huge = bytes >= kHugePage / 8;
    const size_t align = huge ? kHugePage : alignof(Entry);
    void* mem = std::aligned_alloc(align, (bytes + align - 1) / align * align);
    if (mem == nullptr) std::abort();
    if (huge) madvise(mem, (bytes + align - 1) / align * align, MADV_HUGEPAGE);
    auto* table = static_cast<Entry*>(mem);
    std::uninitialized_fill_n(table, entries, Entry());
    return table;
  }
  static constexpr size_t kHugePage = 2 << 20;

  void Resize(uint32_t entries) {
    std::free(entries_);
    entries_ = NewTable(entries);
    write_log_size_ = 0;
    write_log_overflow_ = false;
    mask_ = entries - 1;
    ++resizes_;
  }

  Entry* entries_;  // aligned_alloc'ed (NewTable); a bare pointer so that
                    // table_address() can hand out its address
  uint64_t mask_;
  const uint32_t min_entries_;
  const uint32_t max_entries_;
  uint64_t flushes_ = 0;
  uint64_t resizes_ = 0;
  uint64_t window_misses_ = 0;
  uint64_t window_hits_start_ = 0;
  // Slots filled with the write bit since the last flush (DropWriteEntries).
  static constexpr uint32_t kWriteLogCapacity = 512;
  uint32_t write_log_size_ = 0;
  bool write_log_overflow_ = false;
  std::unique_ptr<uint32_t[]> write_log_{new uint32_t[kWriteLogCapacity]};
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_SOFT_TLB_H_
