#include "worker/mmu/swap_cache.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/logging.h"

namespace memmgr::mmu {

SwapCache::SwapCache(FramePool* pool, SwapDevice* device)
    : pool_(pool), device_(device) {}

SwapCache::~SwapCache() {
  // Every address space is gone: what is left are cached frames nobody
  // maps and slots of entries nobody refers to any more. Give both back.
  {
    MutexLock l(&mu_);
    for (Entry& e : entries_) {
      if (!e.live) continue;
      if (e.pfn != kNoPfn) UncacheLocked(e);
      if (e.has_slot) queued_frees_.push_back(e.slot);
      e.has_slot = false;
      e.live = false;
    }
    live_ = 0;
  }
  FlushFrees();
}

SwapCache::Entry* SwapCache::Find(uint64_t value) {
  const uint32_t index = static_cast<uint32_t>(value);
  const uint32_t generation = static_cast<uint32_t>(value >> 32);
  if (index >= entries_.size()) return nullptr;
  Entry& e = entries_[index];
  if (!e.live || e.generation != generation) return nullptr;
  return &e;
}

uint32_t SwapCache::AllocIndex() {
  uint32_t index;
  if (!free_indices_.empty()) {
    index = free_indices_.back();
    free_indices_.pop_back();
  } else {
    index = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  Entry& e = entries_[index];
  // Generations stay below 2^30 so a value fits a pte's 62 swap bits, and
  // never 0, so 0 is never a valid value.
  e.generation = e.generation % (1u << 30) + 1;
  e.live = true;
  e.refs = 0;
  e.pfn = kNoPfn;
  e.has_slot = false;
  e.writeback = false;
  e.reading = false;
  ++live_;
  return index;
}

void SwapCache::UncacheLocked(Entry& e) {
  const Pfn pfn = e.pfn;
  e.pfn = kNoPfn;
  --cached_;
  PageDescriptor& d = pool_->Descriptor(pfn);
  d.ClearFlag(kPgSwapCache);
  d.private_data = 0;
  pool_->PutPage(pfn);
}

void SwapCache::MaybeReleaseLocked(uint32_t index) {
  Entry& e = entries_[index];
  if (e.refs != 0 || e.writeback || e.reading) return;
  if (e.pfn != kNoPfn) {
    // A clean page some ptes still map keeps its slot (reclaimed again
    // without a write); an unmapped one goes.
    if (pool_->Descriptor(e.pfn).mapcount.load(std::memory_order_relaxed) > 0) {
      return;
    }
    UncacheLocked(e);
  }
  if (e.has_slot) {
    queued_frees_.push_back(e.slot);
    by_slot_.erase(e.slot.slot);
    --slots_;
    e.has_slot = false;
  }
  e.live = false;
  --live_;
  free_indices_.push_back(index);
}

void SwapCache::Dup(uint64_t value) {
  MutexLock l(&mu_);
  Entry* e = Find(value);
  if (e == nullptr) {
    // Only a pte we never wrote can hold it (tests forge them): no entry
    // to count, and mapping it fails (MapCached says kInvalid).
    MEMMGR_LOG(ERROR) << "swap_duplicate of a swap value naming no entry: "
                      << value;
    return;
  }
  ++e->refs;
}

void SwapCache::Drop(uint64_t value) {
  MutexLock l(&mu_);
  Entry* e = Find(value);
  if (e == nullptr || e->refs == 0) {
    MEMMGR_LOG(ERROR) << "swap_free of a swap value naming no entry: " << value;
    return;
  }
  --e->refs;
  MaybeReleaseLocked(static_cast<uint32_t>(value));
}

void SwapCache::FrameUnmapped(Pfn pfn) {
  MutexLock l(&mu_);
  PageDescriptor& d = pool_->Descriptor(pfn);
  if (!d.TestFlag(kPgSwapCache)) return;
  const uint64_t value = d.private_data;
  if (Find(value) == nullptr) return;
  MaybeReleaseLocked(static_cast<uint32_t>(value));
}

SwapCache::Lookup SwapCache::MapCached(uint64_t value, Pfn* pfn) {
  MutexLock l(&mu_);
  Entry* e = Find(value);
  if (e == nullptr) return Lookup::kInvalid;
  if (e->pfn == kNoPfn) return Lookup::kNeedsRead;
  PageDescriptor& d = pool_->Descriptor(e->pfn);
  pool_->GetPage(e->pfn);
  d.mapcount.fetch_add(1, std::memory_order_relaxed);
  *pfn = e->pfn;
  return Lookup::kCached;
}

absl::Status SwapCache::ReadIn(uint64_t value, uint32_t readahead,
                               void (*on_cached)(void* ctx, Pfn pfn), void* ctx,
                               uint64_t* pages_read) {
  struct Target {
    uint32_t index;
    uint32_t generation;
    SwapSlot slot;
    Pfn pfn = kNoPfn;
  };
  std::vector<Target> targets;
  {
    MutexLock l(&mu_);
    Entry* e = Find(value);
    // Another thread reads it now (a fork sharing the page, or readahead):
    // wait for that read instead of issuing a second one.
    while (e != nullptr && e->reading) {
      read_done_.Wait(&mu_);
      e = Find(value);
    }
    if (e == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("swap value ", value, " names no swap entry"));
    }
    if (e->pfn != kNoPfn) return absl::OkStatus();  // cached meanwhile
    MEMMGR_CHECK(e->has_slot) << "swap entry without frame or slot";
    targets.push_back({static_cast<uint32_t>(value), e->generation, e->slot});
    e->reading = true;
    // Swap readahead (swap_cluster_readahead): the slots after this one
    // were written in the same batch, mostly neighbours in the guest too.
    const uint32_t max =
        std::min<uint32_t>(readahead + 1, device_->max_batch_pages());
    for (uint64_t s = e->slot.slot + 1; targets.size() < max; ++s) {
      auto it = by_slot_.find(s);
      if (it == by_slot_.end()) break;
      Entry& n = entries_[it->second];
      if (n.pfn != kNoPfn || n.reading || n.writeback || n.refs == 0) break;
      n.reading = true;
      targets.push_back({it->second, n.generation, n.slot});
    }
  }
  // Frames: the faulting page must get one; readahead only while memory
  // is not short (never below the low watermark for a guess).
  size_t have = 0;
  for (Target& t : targets) {
    if (have > 0 && pool_->BelowLow()) break;
    t.pfn = pool_->Alloc();
    if (t.pfn == kNoPfn) break;
    ++have;
  }
  std::vector<SwapSlot> slots;
  std::vector<uint8_t*> dst;
  for (size_t i = 0; i < have; ++i) {
    slots.push_back(targets[i].slot);
    dst.push_back(pool_->FrameAddress(targets[i].pfn));
  }
  absl::Status status =
      have == 0 ? absl::ResourceExhaustedError(
                      "no free frame to swap a page in (frame pool below its "
                      "min watermark)")
                : device_->ReadPages(slots, dst);
  std::vector<Pfn> unused;
  {
    MutexLock l(&mu_);
    for (size_t i = 0; i < targets.size(); ++i) {
      Target& t = targets[i];
      Entry& e = entries_[t.index];
      const bool same = e.live && e.generation == t.generation;
      if (same) e.reading = false;
      if (t.pfn == kNoPfn) {
        if (same) MaybeReleaseLocked(t.index);
        continue;
      }
      if (!status.ok() || !same || e.pfn != kNoPfn) {
        unused.push_back(t.pfn);
        if (same) MaybeReleaseLocked(t.index);
        continue;
      }
      PageDescriptor& d = pool_->Descriptor(t.pfn);
      d.flags.store(kPgAnon | kPgSwapCache, std::memory_order_relaxed);
      d.private_data = Value(t.index, t.generation);
      d.mapcount.store(0, std::memory_order_relaxed);
      e.pfn = t.pfn;  // the allocation's reference is the cache's
      ++cached_;
      if (pages_read != nullptr) ++*pages_read;
      if (on_cached != nullptr) on_cached(ctx, t.pfn);
      MaybeReleaseLocked(t.index);
    }
  }
  read_done_.SignalAll();
  for (Pfn pfn : unused) pool_->PutPage(pfn);
  return status;
}

bool SwapCache::TryReuseForWrite(Pfn pfn) {
  MutexLock l(&mu_);
  PageDescriptor& d = pool_->Descriptor(pfn);
  if (!d.TestFlag(kPgSwapCache)) return true;
  const uint64_t value = d.private_data;
  Entry* e = Find(value);
  if (e == nullptr || e->pfn != pfn) return false;
  // reuse_swap_page: the caller's pte and the cache are the only holders,
  // and no swap pte still expects the cached contents.
  if (e->writeback || e->reading || e->refs != 0 ||
      d.refcount.load(std::memory_order_acquire) != 2) {
    return false;
  }
  UncacheLocked(*e);
  MaybeReleaseLocked(static_cast<uint32_t>(value));
  return true;
}

uint64_t SwapCache::AddUnmapped(Pfn pfn, uint32_t ptes, bool* needs_write) {
  MutexLock l(&mu_);
  PageDescriptor& d = pool_->Descriptor(pfn);
  *needs_write = false;
  if (d.TestFlag(kPgSwapCache)) {
    const uint64_t value = d.private_data;
    Entry* e = Find(value);
    MEMMGR_CHECK(e != nullptr && e->pfn == pfn)
        << "frame " << pfn << " flagged swapcache without its entry";
    e->refs += ptes;
    if (e->has_slot) {
      // Clean since it was read or written: nothing to send. The caller's
      // pte references go next; this drops the cache's, freeing the frame
      // once nothing maps it.
      if (d.mapcount.load(std::memory_order_relaxed) <= ptes) {
        UncacheLocked(*e);
      }
    } else if (!e->writeback) {
      e->writeback = true;  // an earlier write-out failed: try again
      ++writeback_;
      *needs_write = true;
    }
    return value;
  }
  const uint32_t index = AllocIndex();
  Entry& e = entries_[index];
  e.refs = ptes;
  e.pfn = pfn;
  e.writeback = true;
  ++writeback_;
  ++cached_;
  pool_->GetPage(pfn);  // the cache's reference
  const uint64_t value = Value(index, e.generation);
  d.private_data = value;
  d.SetFlag(kPgSwapCache);
  d.SetFlag(kPgAnon);
  *needs_write = true;
  return value;
}

bool SwapCache::DropCleanUnmapped(Pfn pfn) {
  MutexLock l(&mu_);
  PageDescriptor& d = pool_->Descriptor(pfn);
  if (!d.TestFlag(kPgSwapCache)) return false;
  const uint64_t value = d.private_data;
  Entry* e = Find(value);
  if (e == nullptr || e->pfn != pfn || !e->has_slot || e->writeback ||
      d.mapcount.load(std::memory_order_relaxed) != 0) {
    return false;
  }
  UncacheLocked(*e);
  MaybeReleaseLocked(static_cast<uint32_t>(value));
  return true;
}

absl::Status SwapCache::WriteBack(const std::vector<uint64_t>& values,
                                  uint64_t* written) {
  std::vector<absl::string_view> pages;
  pages.reserve(values.size());
  {
    MutexLock l(&mu_);
    for (uint64_t v : values) {
      Entry* e = Find(v);
      MEMMGR_CHECK(e != nullptr && e->writeback && e->pfn != kNoPfn)
          << "write-out of swap value " << v << " not under writeback";
      // The frame is stable during the write: no pte maps it writable (a
      // fault maps it from the cache read-only, and TryReuseForWrite
      // refuses while writeback is set, so a write copies it).
      pages.emplace_back(
          reinterpret_cast<const char*>(pool_->FrameAddress(e->pfn)),
          kPageSize);
    }
  }
  absl::Status first_error;
  const size_t batch = device_->max_batch_pages();
  for (size_t start = 0; start < values.size(); start += batch) {
    const size_t n = std::min(batch, values.size() - start);
    absl::StatusOr<std::vector<SwapSlot>> slots =
        device_->WritePages(absl::MakeConstSpan(pages).subspan(start, n));
    if (slots.ok() && slots->size() != n) {
      slots = absl::InternalError(absl::StrCat(
          "swap device answered ", slots->size(), " slots for ", n, " pages"));
    }
    MutexLock l(&mu_);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t v = values[start + i];
      const uint32_t index = static_cast<uint32_t>(v);
      Entry& e = entries_[index];  // live: writeback pins it
      e.writeback = false;
      --writeback_;
      if (slots.ok()) {
        e.has_slot = true;
        e.slot = (*slots)[i];
        by_slot_[e.slot.slot] = index;
        ++slots_;
        if (written != nullptr) ++*written;
        // Not mapped again meanwhile: the frame's only reference is the
        // cache's, and the page lives in the slot now.
        if (pool_->Descriptor(e.pfn).mapcount.load(std::memory_order_relaxed) ==
            0) {
          UncacheLocked(e);
        }
      }
      MaybeReleaseLocked(index);
    }
    if (!slots.ok() && first_error.ok()) first_error = slots.status();
  }
  return first_error;
}

void SwapCache::FlushFrees() {
  MutexLock f(&flush_mu_);
  std::vector<SwapSlot> frees;
  {
    MutexLock l(&mu_);
    frees.swap(queued_frees_);
  }
  const size_t batch = device_->max_batch_pages();
  for (size_t start = 0; start < frees.size(); start += batch) {
    const size_t n = std::min(batch, frees.size() - start);
    absl::Status s =
        device_->FreeSlots(absl::MakeConstSpan(frees).subspan(start, n));
    MutexLock l(&mu_);
    if (s.ok()) {
      freed_slots_ += n;
    } else if (absl::IsUnavailable(s)) {
      // The device is away: keep them for the next flush.
      queued_frees_.insert(queued_frees_.end(), frees.begin() + start,
                           frees.begin() + start + n);
    } else {
      free_errors_ += n;
      MEMMGR_LOG(WARNING) << "swap device refused to free " << n
                          << " slots: " << s;
    }
  }
}

SwapCache::Stats SwapCache::GetStats() const {
  MutexLock l(&mu_);
  Stats s;
  s.entries = live_;
  s.cached_frames = cached_;
  s.slots = slots_;
  s.writeback = writeback_;
  s.queued_frees = queued_frees_.size();
  s.freed_slots = freed_slots_;
  s.free_errors = free_errors_;
  return s;
}

}  // namespace memmgr::mmu
