// PageTable: a 4-level radix tree (9 bits per level, 4 KiB pages, 48-bit
// guest VAs) of 64-bit Ptes, Sv48-shaped, whose nodes are shared
// copy-on-write between page tables.
//
// Sharing. Every node below the root carries a reference count. Share()
// (fork) gives a new table a copy of the root only: the 512 root entries
// are copied and the nodes they point to gain a reference, so fork costs the
// same for 4 KiB and 1 GiB resident. A node with more than one reference is
// read-only for everyone: whoever needs to change a pte below it first
// copies the path down to that pte (Unshare: copy the node, take a
// reference on each of its children, drop one on the original). A copied
// leaf takes a frame reference (and mapcount) for every frame it maps, so
// frame refcounts count leaf tables, not address spaces. The last reference
// to a node frees it, its children, and (a leaf) its frame references.
// This is the hugetlb/"shared page table" idea applied to every level, and
// what Linux's fork would be if copy_page_range shared instead of copied.
//
// Accounting. table_pages() and the resident counts of the owner count the
// nodes and ptes reachable from this table as if they were private (the
// child starts with the parent's counts), which is what a memcg-style limit
// should charge: after every sharer but one exits, that one really holds it.
//
// Thread-safety: a PageTable is used by one thread at a time (its
// AddressSpace's). Different PageTables sharing nodes may be used by
// different threads concurrently: shared nodes are never written (only
// nodes whose count is 1, observed with acquire ordering, are), counts are
// atomics, and frame references go through the (thread-safe) FramePool.
// Share() only reads the source, so several threads may Share() one table
// that nobody modifies (a snapshot) at the same time.
#ifndef MEMMGR_WORKER_MMU_PAGE_TABLE_H_
#define MEMMGR_WORKER_MMU_PAGE_TABLE_H_

#include <atomic>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "worker/mmu/mmu_types.h"
#include "worker/mmu/pte.h"

namespace memmgr::mmu {

class FramePool;

class PageTable {
 public:
  static constexpr int kLevels = 4;
  static constexpr int kBitsPerLevel = 9;
  static constexpr int kEntries = 1 << kBitsPerLevel;

  // `pool` owns the frames present ptes point to: node copies and frees take
  // and drop references on it. nullptr: ptes are plain values (tests).
  explicit PageTable(FramePool* pool = nullptr);
  // Drops every node reference (and so, for nodes nobody else holds, the
  // frame references of their ptes).
  ~PageTable();
  PageTable(const PageTable&) = delete;
  PageTable& operator=(const PageTable&) = delete;

  // Makes this (empty) table a copy-on-write copy of `src`: copies the root
  // and shares everything below it. O(512), independent of what is mapped.
  // Only reads `src` (see the thread-safety note above).
  void Share(const PageTable& src);

  struct Walk {
    Pte* pte = nullptr;      // the leaf pte, nullptr if no table covers va
    bool exclusive = false;  // no node on the path is shared: pte writable
  };
  // The leaf pte for `va` without changing anything. Writing through
  // Walk::pte is allowed only when Walk::exclusive. REQUIRES: va < 2^48.
  Walk Lookup(GuestAddr va) const {
    const Node* node = root_;
    bool exclusive = true;
    for (int level = kLevels - 1; level > 0; --level) {
      const uint64_t entry = node->entries[Index(va, level)];
      if (entry == 0) return {nullptr, exclusive};
      node = reinterpret_cast<const Node*>(entry);
      exclusive &= node->refs.load(std::memory_order_acquire) == 1;
    }
    return {const_cast<Pte*>(
                reinterpret_cast<const Pte*>(&node->entries[Index(va, 0)])),
            exclusive};
  }
  // Read-only view of the leaf pte for `va`, or nullptr.
  const Pte* Find(GuestAddr va) const { return Lookup(va).pte; }
  // True when every table the walk to `va` would use exists (so
  // FindForWrite allocates no new table, though it may copy shared ones).
  bool Covers(GuestAddr va) const { return Lookup(va).pte != nullptr; }

  // The leaf pte for `va`, writable: creates missing tables and unshares
  // shared ones on the way (at most kLevels - 1 of either).
  Pte* FindForWrite(GuestAddr va);

  // Calls fn(va, pte) for every non-empty leaf pte in [start, end), in
  // address order, without changing anything.
  void ForEachPte(GuestAddr start, GuestAddr end,
                  absl::FunctionRef<void(GuestAddr, Pte)> fn) const;
  // Same, but fn may change the pte (including clearing it): the tables
  // holding ptes in the range are unshared first.
  void ForEachPteMutable(GuestAddr start, GuestAddr end,
                         absl::FunctionRef<void(GuestAddr, Pte&)> fn);

  // For reclaim only, with the pool's gate held exclusive: calls fn(va,
  // slot) for every non-empty leaf pte, shared tables included, without
  // copying them. A write through `slot` changes the pte for every table
  // sharing the leaf — which is what reclaim wants (all sharers get the
  // same swap entry) and legal only while none of them runs.
  void ForEachSlot(absl::FunctionRef<void(GuestAddr, Pte*)> fn);

  // Clears every pte in [start, end) (zap_page_range + free_pgtables):
  // frame references are dropped, tables left empty are freed, and shared
  // subtrees that lie entirely inside the range are released without being
  // copied. Returns how many ptes mapping a frame other than the zero page
  // were cleared (the owner's rss drop).
  uint64_t Zap(GuestAddr start, GuestAddr end);

  // Table pages reachable from this table, including the root and shared
  // ones (the nr_ptes/pgtables_bytes analogue).
  uint64_t table_pages() const { return table_pages_; }
  // Shared tables copied because this table wrote below them.
  uint64_t unshares() const { return unshares_; }

 private:
  struct Node {
    // References: parent entries (in any table) pointing here. The root's
    // is always 1 (never shared).
    std::atomic<uint32_t> refs{1};
    uint64_t entries[kEntries] = {};
  };
  struct Counts {
    uint64_t tables = 0;
    uint64_t frames = 0;  // present ptes other than the zero page
  };

  static int Index(GuestAddr va, int level) {
    return static_cast<int>((va >> (kPageShift + kBitsPerLevel * level)) &
                            (kEntries - 1));
  }
  static bool Shared(const Node* node) {
    return node->refs.load(std::memory_order_acquire) != 1;
  }
  // Calls fn(entry, lo) for every non-empty entry of `node` (at `level`,
  // covering VAs from `base`) whose span intersects [start, end); `lo` is
  // the first VA the entry covers. Defined in page_table.cc.
  template <typename NodeT, typename Fn>
  static void ForEachEntryIn(NodeT* node, int level, GuestAddr base,
                             GuestAddr start, GuestAddr end, Fn fn);
  void ForEachIn(const Node* node, int level, GuestAddr base, GuestAddr start,
                 GuestAddr end,
                 absl::FunctionRef<void(GuestAddr, Pte)> fn) const;
  void ForEachMutableIn(Node* node, int level, GuestAddr base, GuestAddr start,
                        GuestAddr end,
                        absl::FunctionRef<void(GuestAddr, Pte&)> fn);
  // Replaces the shared node `entry` points to (at `level`) with a private
  // copy. Returns the copy.
  Node* Unshare(uint64_t& entry, int level);
  // Drops one reference to `node` (at `level`); the last one frees it,
  // releases its children and drops its frame references.
  void Release(Node* node, int level);
  // Tables and frames reachable from `node` (at `level`).
  static Counts Count(const Node* node, int level);
  static void SlotsIn(Node* node, int level, GuestAddr base,
                      absl::FunctionRef<void(GuestAddr, Pte*)> fn);
  // Zap below `node`; returns true if the node is now empty.
  bool ZapIn(Node* node, int level, GuestAddr base, GuestAddr start,
             GuestAddr end, uint64_t* frames);
  // Frame references a pte holds (a leaf copy takes one, a leaf free drops
  // it); a swap pte holds a swap-entry reference (swap_duplicate /
  // swap_free on the pool's SwapCache).
  void DupPte(Pte pte);
  void DropPte(Pte pte);

  FramePool* const pool_;
  Node* root_;
  uint64_t table_pages_ = 1;
  uint64_t unshares_ = 0;
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_PAGE_TABLE_H_
