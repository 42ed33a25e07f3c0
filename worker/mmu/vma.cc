#include "worker/mmu/vma.h"

#include <algorithm>

#include "common/logging.h"

namespace memmgr::mmu {

bool Vma::CanMergeWith(const Vma& next) const {
  if (end != next.start || prot != next.prot || flags != next.flags ||
      name != next.name || image != next.image) {
    return false;
  }
  if (image == nullptr) return true;
  // Image mappings merge only when the offsets continue and this one has no
  // zero tail in the middle of the merged area.
  return file_offset + length() == next.file_offset && file_bytes == length();
}

void Vma::AdvanceStart(GuestAddr new_start) {
  uint64_t delta = new_start - start;
  start = new_start;
  if (image != nullptr) {
    file_offset += delta;
    file_bytes = file_bytes > delta ? file_bytes - delta : 0;
  }
}

const Vma* VmaSet::Find(GuestAddr va) const {
  auto it = map_.upper_bound(va);
  if (it == map_.begin()) return nullptr;
  --it;
  return it->second.Contains(va) ? &it->second : nullptr;
}

Vma* VmaSet::FindMutable(GuestAddr va) {
  return const_cast<Vma*>(static_cast<const VmaSet*>(this)->Find(va));
}

const Vma* VmaSet::FindFirstEndingAfter(GuestAddr va) const {
  auto it = map_.upper_bound(va);
  if (it != map_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.end > va) return &prev->second;
  }
  return it == map_.end() ? nullptr : &it->second;
}

const Vma* VmaSet::FindLastStartingBefore(GuestAddr va) const {
  auto it = map_.lower_bound(va);
  if (it == map_.begin()) return nullptr;
  return &std::prev(it)->second;
}

bool VmaSet::Overlaps(GuestAddr start, GuestAddr end) const {
  const Vma* v = FindFirstEndingAfter(start);
  return v != nullptr && v->start < end;
}

bool VmaSet::FullyMapped(GuestAddr start, GuestAddr end) const {
  GuestAddr cursor = start;
  while (cursor < end) {
    const Vma* v = Find(cursor);
    if (v == nullptr) return false;
    cursor = v->end;
  }
  return true;
}

int VmaSet::SplitsNeeded(GuestAddr start, GuestAddr end) const {
  int n = 0;
  const Vma* a = Find(start);
  if (a != nullptr && a->start < start) ++n;
  const Vma* b = Find(end);
  if (b != nullptr && b->start < end) ++n;
  return n;
}

void VmaSet::SplitAt(GuestAddr addr) {
  auto it = map_.upper_bound(addr);
  if (it == map_.begin()) return;
  --it;
  Vma& lower = it->second;
  if (!(lower.start < addr && addr < lower.end)) return;
  Vma upper = lower;
  upper.AdvanceStart(addr);
  lower.end = addr;
  if (lower.image != nullptr) {
    lower.file_bytes = std::min(lower.file_bytes, lower.length());
  }
  map_.emplace(addr, std::move(upper));
}

void VmaSet::Insert(Vma vma) {
  MEMMGR_DCHECK(!Overlaps(vma.start, vma.end)) << "overlapping vma insert";
  GuestAddr start = vma.start;
  auto [it, inserted] = map_.emplace(start, std::move(vma));
  MEMMGR_DCHECK(inserted);
  MergeAround(it);
}

const Vma* VmaSet::ExpandDown(GuestAddr start, GuestAddr new_start) {
  auto node = map_.extract(start);
  MEMMGR_CHECK(!node.empty()) << "ExpandDown of a missing vma";
  node.key() = new_start;
  node.mapped().start = new_start;
  auto result = map_.insert(std::move(node));
  return &result.position->second;
}

void VmaSet::Remove(GuestAddr start, GuestAddr end) {
  SplitAt(start);
  SplitAt(end);
  auto it = map_.lower_bound(start);
  while (it != map_.end() && it->first < end) it = map_.erase(it);
}

void VmaSet::MergeAround(Map::iterator it) {
  if (it != map_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.CanMergeWith(it->second)) {
      if (prev->second.image != nullptr) {
        prev->second.file_bytes += it->second.file_bytes;
      }
      prev->second.end = it->second.end;
      map_.erase(it);
      it = prev;
    }
  }
  auto next = std::next(it);
  if (next != map_.end() && it->second.CanMergeWith(next->second)) {
    if (it->second.image != nullptr) {
      it->second.file_bytes += next->second.file_bytes;
    }
    it->second.end = next->second.end;
    map_.erase(next);
  }
}

std::optional<GuestAddr> VmaSet::FindGapTopDown(uint64_t length, GuestAddr low,
                                                GuestAddr high) const {
  if (length == 0 || high < low || high - low < length) return std::nullopt;
  // Walk down from `high`: the candidate gap ends at `limit`.
  GuestAddr limit = high;
  auto it = map_.lower_bound(high);
  // A vma straddling `high` lowers the limit to its start.
  if (it != map_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.end > high) {
      limit = prev->second.start;
      it = prev;
    }
  }
  while (true) {
    GuestAddr gap_low = low;
    if (it != map_.begin()) {
      auto prev = std::prev(it);
      gap_low = std::max(prev->second.end, low);
    }
    if (limit >= gap_low && limit - gap_low >= length) return limit - length;
    if (it == map_.begin()) return std::nullopt;
    --it;
    limit = it->second.start;
    if (limit < low + length) return std::nullopt;
  }
}

}  // namespace memmgr::mmu
