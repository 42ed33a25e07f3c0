// PageTable: a 4-level radix tree (9 bits per level, 4 KiB pages, 48-bit
// guest VAs) of 64-bit Ptes, Sv48-shaped. Interior entries hold pointers to
// host-allocated table pages; leaves hold Ptes. Tables are created on demand
// by FindOrCreate and freed when a range is unmapped and they become empty.
//
// The tree holds ptes only; which frames they reference (and their refcounts)
// is the AddressSpace's business.
//
// Thread-safety: not thread-safe; the owning AddressSpace serialises access.
#ifndef MEMMGR_WORKER_MMU_PAGE_TABLE_H_
#define MEMMGR_WORKER_MMU_PAGE_TABLE_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "worker/mmu/mmu_types.h"
#include "worker/mmu/pte.h"

namespace memmgr::mmu {

class PageTable {
 public:
  static constexpr int kLevels = 4;
  static constexpr int kBitsPerLevel = 9;
  static constexpr int kEntries = 1 << kBitsPerLevel;

  PageTable();
  ~PageTable();
  PageTable(const PageTable&) = delete;
  PageTable& operator=(const PageTable&) = delete;

  // The leaf pte for `va`, or nullptr when no table covers it (the pte is
  // then empty). REQUIRES: va < 2^48.
  Pte* Find(GuestAddr va) const {
    const Node* node = root_;
    for (int level = kLevels - 1; level > 0; --level) {
      uint64_t entry = node->entries[Index(va, level)];
      if (entry == 0) return nullptr;
      node = reinterpret_cast<const Node*>(entry);
    }
    return reinterpret_cast<Pte*>(
        const_cast<uint64_t*>(&node->entries[Index(va, 0)]));
  }

  // The leaf pte for `va`, creating the tables on the way.
  Pte* FindOrCreate(GuestAddr va);

  // Calls fn(va, pte) for every non-empty leaf pte in [start, end), in
  // address order. fn may modify the pte (including clearing it).
  void ForEachPte(GuestAddr start, GuestAddr end,
                  absl::FunctionRef<void(GuestAddr, Pte&)> fn);

  // Frees the tables inside [start, end) that hold no entries any more
  // (free_pgtables). Call after clearing the ptes of an unmapped range.
  void FreeEmptyTables(GuestAddr start, GuestAddr end);

  // Table pages in use, including the root (the nr_ptes/pgtables_bytes
  // analogue).
  uint64_t table_pages() const { return table_pages_; }

 private:
  struct Node {
    uint64_t entries[kEntries] = {};
  };
  static int Index(GuestAddr va, int level) {
    return static_cast<int>((va >> (kPageShift + kBitsPerLevel * level)) &
                            (kEntries - 1));
  }
  // Calls fn(entry, lo) for every non-empty entry of `node` (at `level`,
  // covering VAs from `base`) whose span intersects [start, end); `lo` is
  // the first VA the entry covers. Defined in page_table.cc (only used there).
  template <typename Fn>
  static void ForEachEntryIn(Node* node, int level, GuestAddr base,
                             GuestAddr start, GuestAddr end, Fn fn);
  void ForEachIn(Node* node, int level, GuestAddr base, GuestAddr start,
                 GuestAddr end, absl::FunctionRef<void(GuestAddr, Pte&)> fn);
  // Returns true if `node` is now empty (caller frees it).
  bool FreeEmptyIn(Node* node, int level, GuestAddr base, GuestAddr start,
                   GuestAddr end);
  void FreeTree(Node* node, int level);

  Node* root_;
  uint64_t table_pages_ = 1;
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_PAGE_TABLE_H_
