#include "worker/mmu/page_table.h"

#include <algorithm>

namespace memmgr::mmu {
namespace {

// Bytes of guest VA one entry at `level` covers.
constexpr uint64_t Span(int level) {
  return uint64_t{1} << (kPageShift + PageTable::kBitsPerLevel * level);
}

}  // namespace

PageTable::PageTable() : root_(new Node) {}

PageTable::~PageTable() { FreeTree(root_, kLevels - 1); }

void PageTable::FreeTree(Node* node, int level) {
  if (level > 0) {
    for (uint64_t entry : node->entries) {
      if (entry != 0) FreeTree(reinterpret_cast<Node*>(entry), level - 1);
    }
  }
  delete node;
}

Pte* PageTable::FindOrCreate(GuestAddr va) {
  Node* node = root_;
  for (int level = kLevels - 1; level > 0; --level) {
    uint64_t& entry = node->entries[Index(va, level)];
    if (entry == 0) {
      entry = reinterpret_cast<uint64_t>(new Node);
      ++table_pages_;
    }
    node = reinterpret_cast<Node*>(entry);
  }
  return reinterpret_cast<Pte*>(&node->entries[Index(va, 0)]);
}

void PageTable::ForEachPte(GuestAddr start, GuestAddr end,
                           absl::FunctionRef<void(GuestAddr, Pte&)> fn) {
  if (start >= end) return;
  ForEachIn(root_, kLevels - 1, 0, start, end, fn);
}

template <typename Fn>
void PageTable::ForEachEntryIn(Node* node, int level, GuestAddr base,
                               GuestAddr start, GuestAddr end, Fn fn) {
  const uint64_t span = Span(level);
  const int first = start > base ? static_cast<int>((start - base) / span) : 0;
  for (int i = first; i < kEntries; ++i) {
    const GuestAddr lo = base + i * span;
    if (lo >= end) break;
    if (node->entries[i] != 0) fn(node->entries[i], lo);
  }
}

void PageTable::ForEachIn(Node* node, int level, GuestAddr base,
                          GuestAddr start, GuestAddr end,
                          absl::FunctionRef<void(GuestAddr, Pte&)> fn) {
  ForEachEntryIn(node, level, base, start, end,
                 [&](uint64_t& entry, GuestAddr lo) {
                   if (level == 0) {
                     fn(lo, *reinterpret_cast<Pte*>(&entry));
                   } else {
                     ForEachIn(reinterpret_cast<Node*>(entry), level - 1, lo,
                               start, end, fn);
                   }
                 });
}

void PageTable::FreeEmptyTables(GuestAddr start, GuestAddr end) {
  if (start >= end) return;
  FreeEmptyIn(root_, kLevels - 1, 0, start, end);
}

bool PageTable::FreeEmptyIn(Node* node, int level, GuestAddr base,
                            GuestAddr start, GuestAddr end) {
  if (level > 0) {
    ForEachEntryIn(node, level, base, start, end,
                   [&](uint64_t& entry, GuestAddr lo) {
                     Node* child = reinterpret_cast<Node*>(entry);
                     if (FreeEmptyIn(child, level - 1, lo, start, end)) {
                       delete child;
                       --table_pages_;
                       entry = 0;
                     }
                   });
  }
  return std::all_of(std::begin(node->entries), std::end(node->entries),
                     [](uint64_t e) { return e == 0; });
}

}  // namespace memmgr::mmu
