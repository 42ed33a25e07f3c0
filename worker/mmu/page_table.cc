#include "worker/mmu/page_table.h"

#include <algorithm>
#include <cstring>

#include "worker/mmu/frame_pool.h"
#include "worker/mmu/reclaim.h"

namespace memmgr::mmu {
namespace {

// Bytes of guest VA one entry at `level` covers.
constexpr uint64_t Span(int level) {
  return uint64_t{1} << (kPageShift + PageTable::kBitsPerLevel * level);
}

}  // namespace

PageTable::PageTable(FramePool* pool) : pool_(pool), root_(new Node) {}

PageTable::~PageTable() {
  for (uint64_t entry : root_->entries) {
    if (entry != 0) Release(reinterpret_cast<Node*>(entry), kLevels - 2);
  }
  delete root_;
}

void PageTable::Share(const PageTable& src) {
  for (int i = 0; i < kEntries; ++i) {
    // An empty table: nothing to release before overwriting.
    const uint64_t entry = src.root_->entries[i];
    if (entry != 0) {
      reinterpret_cast<Node*>(entry)->refs.fetch_add(1,
                                                     std::memory_order_relaxed);
    }
    root_->entries[i] = entry;
  }
  table_pages_ = src.table_pages_;
}

void PageTable::DupPte(Pte pte) {
  if (pool_ == nullptr) return;
  if (pte.is_swap()) {
    // swap_duplicate: the copied leaf holds the entry too.
    if (Reclaimer* r = pool_->reclaimer(); r != nullptr) {
      r->swap_cache()->Dup(pte.swap_value());
    }
    return;
  }
  if (!pte.present() || pte.pfn() == FramePool::kZeroPfn) return;
  PageDescriptor& d = pool_->Descriptor(pte.pfn());
  d.refcount.fetch_add(1, std::memory_order_relaxed);
  d.mapcount.fetch_add(1, std::memory_order_relaxed);
}

void PageTable::DropPte(Pte pte) {
  if (pool_ == nullptr) return;
  if (pte.is_swap()) {
    // swap_free. (Without a reclaimer swap ptes only come from tests.)
    if (Reclaimer* r = pool_->reclaimer(); r != nullptr) {
      r->swap_cache()->Drop(pte.swap_value());
    }
    return;
  }
  if (!pte.present() || pte.pfn() == FramePool::kZeroPfn) return;
  PageDescriptor& d = pool_->Descriptor(pte.pfn());
  const uint32_t maps = d.mapcount.fetch_sub(1, std::memory_order_relaxed) - 1;
  if (maps == 0 && d.TestFlag(kPgSwapCache)) {
    // The last mapping of a page in the swap cache: the cache lets go of
    // it (and its slot) unless a swap pte still needs it.
    pool_->reclaimer()->swap_cache()->FrameUnmapped(pte.pfn());
  }
  pool_->PutPage(pte.pfn());
}

PageTable::Node* PageTable::Unshare(uint64_t& entry, int level) {
  Node* old = reinterpret_cast<Node*>(entry);
  Node* copy = new Node;
  std::memcpy(copy->entries, old->entries, sizeof(copy->entries));
  for (uint64_t e : copy->entries) {
    if (e == 0) continue;
    if (level > 0) {
      reinterpret_cast<Node*>(e)->refs.fetch_add(1, std::memory_order_relaxed);
    } else {
      DupPte(Pte(e));
    }
  }
  if (level == 0) {
    // Mark the frames this copy now shares with the original: the first
    // write to each takes the CoW path (copy, or reuse once alone), which
    // is also where cow_reuse/cow_copy are counted.
    for (uint64_t& e : copy->entries) {
      const Pte pte(e);
      if (pte.present() && pte.pfn() != FramePool::kZeroPfn) {
        e = pte.With(Pte::kCow).raw();
      }
    }
  }
  entry = reinterpret_cast<uint64_t>(copy);
  ++unshares_;
  // If the other holders let go meanwhile, this frees the original (and
  // gives back the references just taken for the copy).
  Release(old, level);
  return copy;
}

void PageTable::Release(Node* node, int level) {
  if (node->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  for (uint64_t e : node->entries) {
    if (e == 0) continue;
    if (level > 0) {
      Release(reinterpret_cast<Node*>(e), level - 1);
    } else {
      DropPte(Pte(e));
    }
  }
  delete node;
}

PageTable::Counts PageTable::Count(const Node* node, int level) {
  Counts c;
  c.tables = 1;
  for (uint64_t e : node->entries) {
    if (e == 0) continue;
    if (level > 0) {
      const Counts below = Count(reinterpret_cast<const Node*>(e), level - 1);
      c.tables += below.tables;
      c.frames += below.frames;
    } else if (const Pte pte(e);
               pte.present() && pte.pfn() != FramePool::kZeroPfn) {
      ++c.frames;
    }
  }
  return c;
}

Pte* PageTable::FindForWrite(GuestAddr va) {
  Node* node = root_;
  for (int level = kLevels - 1; level > 0; --level) {
    uint64_t& entry = node->entries[Index(va, level)];
    if (entry == 0) {
      entry = reinterpret_cast<uint64_t>(new Node);
      ++table_pages_;
    } else if (Shared(reinterpret_cast<Node*>(entry))) {
      Unshare(entry, level - 1);
    }
    node = reinterpret_cast<Node*>(entry);
  }
  return reinterpret_cast<Pte*>(&node->entries[Index(va, 0)]);
}

template <typename NodeT, typename Fn>
void PageTable::ForEachEntryIn(NodeT* node, int level, GuestAddr base,
                               GuestAddr start, GuestAddr end, Fn fn) {
  const uint64_t span = Span(level);
  const int first = start > base ? static_cast<int>((start - base) / span) : 0;
  for (int i = first; i < kEntries; ++i) {
    const GuestAddr lo = base + i * span;
    if (lo >= end) break;
    if (node->entries[i] != 0) fn(node->entries[i], lo);
  }
}

void PageTable::ForEachPte(GuestAddr start, GuestAddr end,
                           absl::FunctionRef<void(GuestAddr, Pte)> fn) const {
  if (start >= end) return;
  ForEachIn(root_, kLevels - 1, 0, start, end, fn);
}

void PageTable::ForEachIn(const Node* node, int level, GuestAddr base,
                          GuestAddr start, GuestAddr end,
                          absl::FunctionRef<void(GuestAddr, Pte)> fn) const {
  ForEachEntryIn(node, level, base, start, end,
                 [&](uint64_t entry, GuestAddr lo) {
                   if (level == 0) {
                     fn(lo, Pte(entry));
                   } else {
                     ForEachIn(reinterpret_cast<const Node*>(entry), level - 1,
                               lo, start, end, fn);
                   }
                 });
}

void PageTable::ForEachPteMutable(GuestAddr start, GuestAddr end,
                                  absl::FunctionRef<void(GuestAddr, Pte&)> fn) {
  if (start >= end) return;
  ForEachMutableIn(root_, kLevels - 1, 0, start, end, fn);
}

void PageTable::ForEachMutableIn(Node* node, int level, GuestAddr base,
                                 GuestAddr start, GuestAddr end,
                                 absl::FunctionRef<void(GuestAddr, Pte&)> fn) {
  ForEachEntryIn(node, level, base, start, end,
                 [&](uint64_t& entry, GuestAddr lo) {
                   if (level == 0) {
                     fn(lo, *reinterpret_cast<Pte*>(&entry));
                     return;
                   }
                   Node* child = reinterpret_cast<Node*>(entry);
                   if (Shared(child)) child = Unshare(entry, level - 1);
                   ForEachMutableIn(child, level - 1, lo, start, end, fn);
                 });
}

void PageTable::ForEachSlot(absl::FunctionRef<void(GuestAddr, Pte*)> fn) {
  SlotsIn(root_, kLevels - 1, 0, fn);
}

void PageTable::SlotsIn(Node* node, int level, GuestAddr base,
                        absl::FunctionRef<void(GuestAddr, Pte*)> fn) {
  for (int i = 0; i < kEntries; ++i) {
    uint64_t& entry = node->entries[i];
    if (entry == 0) continue;
    const GuestAddr lo = base + i * Span(level);
    if (level == 0) {
      fn(lo, reinterpret_cast<Pte*>(&entry));
    } else {
      SlotsIn(reinterpret_cast<Node*>(entry), level - 1, lo, fn);
    }
  }
}

uint64_t PageTable::Zap(GuestAddr start, GuestAddr end) {
  uint64_t frames = 0;
  if (start < end) ZapIn(root_, kLevels - 1, 0, start, end, &frames);
  return frames;
}

bool PageTable::ZapIn(Node* node, int level, GuestAddr base, GuestAddr start,
                      GuestAddr end, uint64_t* frames) {
  ForEachEntryIn(
      node, level, base, start, end, [&](uint64_t& entry, GuestAddr lo) {
        if (level == 0) {
          const Pte pte(entry);
          if (pte.present() && pte.pfn() != FramePool::kZeroPfn) ++*frames;
          DropPte(pte);
          entry = 0;
          return;
        }
        Node* child = reinterpret_cast<Node*>(entry);
        const uint64_t span = Span(level);
        if (start <= lo && lo + span <= end) {
          // The whole subtree goes: no need to copy a shared one first.
          const Counts c = Count(child, level - 1);
          *frames += c.frames;
          table_pages_ -= c.tables;
          Release(child, level - 1);
          entry = 0;
          return;
        }
        if (Shared(child)) child = Unshare(entry, level - 1);
        if (ZapIn(child, level - 1, lo, start, end, frames)) {
          Release(child, level - 1);  // private and empty: just frees it
          --table_pages_;
          entry = 0;
        }
      });
  return std::all_of(std::begin(node->entries), std::end(node->entries),
                     [](uint64_t e) { return e == 0; });
}

}  // namespace memmgr::mmu
