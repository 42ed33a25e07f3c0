#include "worker/rv64/decode_cache.h"

#include <algorithm>
#include <cstdlib>
#include <new>

namespace memmgr::rv64 {

using mmu::GuestAddr;
using mmu::kPageSize;

void DecodeCache::FreePage::operator()(DecodedPage* p) const { std::free(p); }

DecodeCache::DecodeCache(mmu::AddressSpace* as, size_t max_pages)
    : as_(as), max_pages_(max_pages) {
  as_->SetCodeWriteObserver(&DecodeCache::OnCodeWrite, this);
}

DecodeCache::~DecodeCache() { as_->SetCodeWriteObserver(nullptr, nullptr); }

void DecodeCache::OnCodeWrite(void* self, GuestAddr page) {
  static_cast<DecodeCache*>(self)->Drop(page);
}

DecodedPage* DecodeCache::LookupSlow(GuestAddr page, mmu::Fault* fault) {
  DecodedPage* p;
  if (auto it = pages_.find(page); it != pages_.end()) {
    p = it->second.get();
  } else {
    // Executable? (Also faults the page in, so MarkCode finds its pte.)
    if (as_->TranslatePage(page, mmu::Access::kExec, fault) == nullptr) {
      return nullptr;
    }
    if (pages_.size() >= max_pages_) InvalidateAll();
    // calloc: a zeroed Insn is kDecode. The sentinels are set explicitly.
    void* mem = std::calloc(1, sizeof(DecodedPage));
    if (mem == nullptr) throw std::bad_alloc();
    p = static_cast<DecodedPage*>(mem);
    p->va = page;
    for (int i = kSlotsPerPage; i < kSlotsPerPage + 2; ++i) {
      p->slots[i].op = Op::kPageEnd;
      p->slots[i].dispatch = 2 * static_cast<uint16_t>(Op::kPageEnd);
    }
    as_->MarkCode(page);
    pages_.emplace(page, PagePtr(p));
  }
  recent_[(page >> mmu::kPageShift) & (kRecent - 1)] = {page, p};
  return p;
}

bool DecodeCache::DecodeSlot(DecodedPage* page, GuestAddr pc,
                             mmu::Fault* fault) {
  uint16_t lo = 0, hi = 0;
  if (!as_->Fetch(pc, &lo, fault)) return false;
  if (!IsCompressed(lo)) {
    // The second parcel may be on the next page (then that page must be
    // executable too, and is marked so a write to it resets this slot).
    if (!as_->Fetch(pc + 2, &hi, fault)) return false;
    if (mmu::PageDown(pc + 2) != page->va) as_->MarkCode(pc + 2);
  }
  page->slots[(pc & mmu::kPageOffsetMask) >> 1] = Decode(lo, hi);
  ++decoded_;
  return true;
}

void DecodeCache::Drop(GuestAddr page) {
  if (auto it = pages_.find(page); it != pages_.end()) {
    ++invalidations_;
    retired_.push_back(std::move(it->second));
    pages_.erase(it);
    RecentEntry& r = recent_[(page >> mmu::kPageShift) & (kRecent - 1)];
    if (r.va == page) r = RecentEntry();
    if (drop_observer_ != nullptr) drop_observer_(drop_observer_ctx_, page);
  }
  // An instruction spanning from the previous page into this one is stale
  // too. The previous page is retired whole rather than patched: the
  // interpreter may be executing that very slot right now.
  if (auto it = pages_.find(page - kPageSize);
      it != pages_.end() && it->second->slots[kSlotsPerPage - 1].len == 4) {
    Drop(page - kPageSize);
  }
}

void DecodeCache::Invalidate(GuestAddr start, GuestAddr end) {
  // Nothing is decoded above the user address space; clamping also keeps
  // the page loop below from wrapping around 2^64.
  end = std::min(end, mmu::kMaxUserVa);
  start = mmu::PageDown(start);
  if (end <= start) return;
  // Sweep whichever is smaller: the range or the cache.
  if ((end - start) / kPageSize <= pages_.size()) {
    for (GuestAddr va = start; va < end; va += kPageSize) Drop(va);
    return;
  }
  std::vector<GuestAddr> victims;
  for (const auto& [va, page] : pages_) {
    if (va >= start && va < end) victims.push_back(va);
  }
  for (GuestAddr va : victims) Drop(va);
}

void DecodeCache::InvalidateAll() {
  ++invalidations_;
  for (auto& [va, page] : pages_) retired_.push_back(std::move(page));
  pages_.clear();
  recent_.fill(RecentEntry());
  if (drop_observer_ != nullptr) drop_observer_(drop_observer_ctx_, kAllPages);
}

}  // namespace memmgr::rv64
