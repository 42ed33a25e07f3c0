#include "worker/mmu/reclaim.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "worker/mmu/address_space.h"

namespace memmgr::mmu {

absl::StatusOr<std::unique_ptr<Reclaimer>> Reclaimer::Create(FramePool* pool,
                                                             SwapDevice* device,
                                                             Options options) {
  if (options.swappiness < 0 || options.swappiness > 200) {
    return absl::InvalidArgumentError(
        absl::StrCat("swappiness must be in 0..200, got ", options.swappiness));
  }
  if (options.batch < 1 || options.batch > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("reclaim batch must be in 1..4096, got ", options.batch));
  }
  if (options.readahead > 255) {
    return absl::InvalidArgumentError(absl::StrCat(
        "swap readahead must be at most 255 pages, got ", options.readahead));
  }
  auto r = std::unique_ptr<Reclaimer>(new Reclaimer(pool, device, options));
  pool->SetReclaimer(r.get());
  if (options.kswapd)
    r->kswapd_ = std::thread([p = r.get()] { p->KswapdLoop(); });
  return r;
}

Reclaimer::Reclaimer(FramePool* pool, SwapDevice* device, Options options)
    : pool_(pool),
      options_(options),
      swap_cache_(std::make_unique<SwapCache>(pool, device)) {
  head_.fill(kNoPfn);
  tail_.fill(kNoPfn);
}

Reclaimer::~Reclaimer() {
  StopSwapIns();
  {
    MutexLock l(&kswapd_mu_);
    kswapd_stop_ = true;
  }
  kswapd_cv_.SignalAll();
  if (kswapd_.joinable()) kswapd_.join();
  swap_cache_.reset();  // frees its cached frames and every slot left
  pool_->SetReclaimer(nullptr);
}

void Reclaimer::AddMm(AddressSpace* as) {
  MutexLock l(&mm_mu_);
  mms_.insert(as);
}

void Reclaimer::RemoveMm(AddressSpace* as) {
  MutexLock l(&mm_mu_);
  mms_.erase(as);
}

void Reclaimer::ListAddHead(List list, Pfn pfn) {
  PageDescriptor& d = pool_->Descriptor(pfn);
  d.lru_prev = kNoPfn;
  d.lru_next = head_[list];
  if (head_[list] != kNoPfn) {
    pool_->Descriptor(head_[list]).lru_prev = pfn;
  } else {
    tail_[list] = pfn;
  }
  head_[list] = pfn;
  d.lru_list = list;
  ++count_[list];
  d.SetFlag(kPgLru);
}

void Reclaimer::ListRemove(Pfn pfn) {
  PageDescriptor& d = pool_->Descriptor(pfn);
  const uint8_t list = d.lru_list;
  if (d.lru_prev != kNoPfn) {
    pool_->Descriptor(d.lru_prev).lru_next = d.lru_next;
  } else {
    head_[list] = d.lru_next;
  }
  if (d.lru_next != kNoPfn) {
    pool_->Descriptor(d.lru_next).lru_prev = d.lru_prev;
  } else {
    tail_[list] = d.lru_prev;
  }
  d.lru_prev = d.lru_next = kNoPfn;
  d.lru_list = kNoList;
  --count_[list];
  d.ClearFlag(kPgLru);
}

void Reclaimer::LruAdd(Pfn pfn, bool active) {
  PageDescriptor& d = pool_->Descriptor(pfn);
  if (d.TestFlag(kPgUnevictable)) return;  // mlocked: never scanned
  MutexLock l(&lru_mu_);
  if (d.TestFlag(kPgLru)) return;
  const bool anon = d.TestFlag(kPgAnon);
  ListAddHead(static_cast<List>((anon ? 0 : 2) + (active ? 1 : 0)), pfn);
}

void Reclaimer::OnFree(Pfn pfn) {
  MutexLock l(&lru_mu_);
  if (pool_->Descriptor(pfn).TestFlag(kPgLru)) ListRemove(pfn);
}

void Reclaimer::MoveTo(Pfn pfn, List list) {
  MutexLock l(&lru_mu_);
  PageDescriptor& d = pool_->Descriptor(pfn);
  if (!d.TestFlag(kPgLru)) return;  // freed meanwhile
  ListRemove(pfn);
  // A page that became anon (a private file page written and reclaimed
  // into swap) follows its kind.
  const bool anon = d.TestFlag(kPgAnon);
  const int active = list & 1;
  ListAddHead(static_cast<List>((anon ? 0 : 2) + active), pfn);
}

void Reclaimer::MaybeWakeKswapd() {
  if (!options_.kswapd || !pool_->BelowLow()) return;
  MutexLock l(&kswapd_mu_);
  if (kswapd_wake_) return;
  kswapd_wake_ = true;
  kswapd_cv_.Signal();
}

void Reclaimer::KswapdLoop() {
  for (;;) {
    {
      MutexLock l(&kswapd_mu_);
      while (!kswapd_wake_ && !kswapd_stop_) {
        // Also wake now and then to send queued slot frees.
        if (kswapd_cv_.WaitWithTimeout(&kswapd_mu_, absl::Milliseconds(200))) {
          break;
        }
      }
      if (kswapd_stop_) return;
      if (kswapd_wake_) kswapd_wakeups_.fetch_add(1, std::memory_order_relaxed);
      kswapd_wake_ = false;
    }
    if (pool_->BelowLow()) ShrinkTo(pool_->watermarks().high);
    swap_cache_->FlushFrees();
  }
}

bool Reclaimer::DirectReclaim() {
  direct_reclaims_.fetch_add(1, std::memory_order_relaxed);
  const absl::Time start = absl::Now();
  struct StallClock {
    std::atomic<uint64_t>* total;
    absl::Time start;
    ~StallClock() {
      total->fetch_add(absl::ToInt64Nanoseconds(absl::Now() - start),
                       std::memory_order_relaxed);
    }
  } stall{&direct_reclaim_ns_, start};
  // Reclaim a batch beyond min so the next allocations do not stall again
  // at once; kswapd takes it on to high. Progress by anyone counts: with
  // several executors, another thread (or kswapd) may have reclaimed while
  // this one waited for shrink_mu_, and taken the frames too.
  const Watermarks& wm = pool_->watermarks();
  auto steals = [&] {
    return pgsteal_anon_.load(std::memory_order_relaxed) +
           pgsteal_file_.load(std::memory_order_relaxed) +
           pswpout_.load(std::memory_order_relaxed);
  };
  const uint64_t before = steals();
  ShrinkTo(std::max<uint64_t>(wm.low, wm.min + options_.batch));
  MaybeWakeKswapd();
  if (!LastWriteError().ok()) {
    // The device refused pages after retrying for as long as it may
    // (--swap_retry_for): fail the fault, the guest stops with the
    // device's error, rather than limp on at one timeout per fault.
    return false;
  }
  return steals() > before || !pool_->BelowMin();
}

absl::Status Reclaimer::LastWriteError() const {
  MutexLock l(&error_mu_);
  return last_write_error_;
}

void Reclaimer::StartSwapIn(uint64_t value, std::function<void()> done) {
  {
    MutexLock l(&io_mu_);
    if (!io_stop_) {
      if (io_threads_.empty()) {
        for (int i = 0; i < kIoThreads; ++i) {
          io_threads_.emplace_back([this] { IoLoop(); });
        }
      }
      io_queue_.push_back({value, std::move(done)});
      async_swapins_.fetch_add(1, std::memory_order_relaxed);
      io_cv_.Signal();
      return;
    }
  }
  // Stopped: read in place.
  (void)SwapIn(value);
  done();
}

void Reclaimer::IoLoop() {
  for (;;) {
    SwapInRequest req;
    {
      MutexLock l(&io_mu_);
      while (io_queue_.empty() && !io_stop_) io_cv_.Wait(&io_mu_);
      if (io_queue_.empty()) return;  // stopping, queue drained
      req = std::move(io_queue_.front());
      io_queue_.pop_front();
    }
    absl::Status s = SwapIn(req.value);
    // Below min: make room as a faulting thread would, and try again (a
    // bounded number of times; the retried fault copes with the rest).
    for (int i = 0; i < 3 && absl::IsResourceExhausted(s); ++i) {
      if (!DirectReclaim()) break;
      s = SwapIn(req.value);
    }
    req.done();
  }
}

void Reclaimer::StopSwapIns() {
  std::vector<std::thread> threads;
  {
    MutexLock l(&io_mu_);
    io_stop_ = true;
    threads.swap(io_threads_);
  }
  io_cv_.SignalAll();
  for (std::thread& t : threads) t.join();
}

absl::Status Reclaimer::SwapIn(uint64_t value) {
  uint64_t read = 0;
  absl::Status s = swap_cache_->ReadIn(
      value, options_.readahead,
      [](void* ctx, Pfn pfn) {
        // Readahead pages start inactive; the faulting one is activated
        // when its fault maps it (a refault).
        static_cast<Reclaimer*>(ctx)->LruAdd(pfn, /*active=*/false);
      },
      this, &read);
  pswpin_.fetch_add(read, std::memory_order_relaxed);
  swap_faults_.fetch_add(1, std::memory_order_relaxed);
  // The frames came from the pool like any fault's: below low, kswapd
  // should start before the next fault has to reclaim directly.
  MaybeWakeKswapd();
  if (!s.ok() && !absl::IsResourceExhausted(s)) {
    swap_io_errors_.fetch_add(1, std::memory_order_relaxed);
  }
  return s;
}

uint64_t Reclaimer::ShrinkTo(uint64_t free_target) {
  MutexLock serial(&shrink_mu_);
  uint64_t total = 0;
  // Bounded: each round scans a batch; a pool's worth of rounds without
  // reaching the target means memory is pinned (mlocked, code, in use).
  const uint64_t max_rounds = pool_->total_frames() / options_.batch + 4;
  for (uint64_t round = 0;
       round < max_rounds && pool_->free_frames() < free_target; ++round) {
    kswapd_rounds_.fetch_add(1, std::memory_order_relaxed);
    uint64_t freed = 0;
    std::vector<uint64_t> to_write;
    {
      MmGate::Exclusive gate(pool_->gate());
      to_write = ScanRound(&freed);
    }
    if (!to_write.empty()) {
      uint64_t written = 0;
      const uint64_t free_before = pool_->free_frames();
      absl::Status s = swap_cache_->WriteBack(to_write, &written);
      pswpout_.fetch_add(written, std::memory_order_relaxed);
      {
        MutexLock l(&error_mu_);
        last_write_error_ = s;
      }
      if (!s.ok()) {
        swap_io_errors_.fetch_add(1, std::memory_order_relaxed);
        MEMMGR_LOG(WARNING) << "swap-out of " << to_write.size()
                            << " pages failed (they stay in memory): " << s;
        // The device already retried for as long as it is allowed to:
        // another round now would only wait as long again.
        total += freed;
        break;
      }
      const uint64_t free_after = pool_->free_frames();
      if (free_after > free_before) freed += free_after - free_before;
    }
    total += freed;
    if (freed == 0 && to_write.empty()) break;
  }
  swap_cache_->FlushFrees();
  return total;
}

std::vector<uint64_t> Reclaimer::ScanRound(uint64_t* freed) {
  // 1. Candidates from the list tails (under lru_mu_, no other lock).
  std::vector<Pfn> inactive;
  std::vector<Pfn> deactivate;
  {
    MutexLock l(&lru_mu_);
    const uint64_t anon_share =
        (uint64_t{options_.batch} * options_.swappiness + 199) / 200;
    uint64_t want_anon = count_[kInactiveFile] == 0   ? options_.batch
                         : count_[kInactiveAnon] == 0 ? 0
                                                      : anon_share;
    uint64_t want_file =
        options_.batch - std::min<uint64_t>(want_anon, options_.batch);
    if (count_[kInactiveAnon] + count_[kActiveAnon] == 0) {
      want_file = options_.batch;
    }
    auto take = [&](List list, uint64_t n, std::vector<Pfn>* out) {
      lru_mu_.AssertHeld();
      for (Pfn p = tail_[list]; p != kNoPfn && n > 0; --n) {
        out->push_back(p);
        p = pool_->Descriptor(p).lru_prev;
      }
    };
    take(kInactiveAnon, want_anon, &inactive);
    take(kInactiveFile, want_file, &inactive);
    // Age the active lists while they outnumber the inactive ones
    // (inactive_is_low with ratio 1).
    for (List active : {kActiveAnon, kActiveFile}) {
      const List in = static_cast<List>(active - 1);
      if (count_[active] > count_[in]) {
        take(active,
             std::min<uint64_t>(options_.batch / 2 + 1,
                                count_[active] - count_[in]),
             &deactivate);
      }
    }
  }
  pgscan_.fetch_add(inactive.size(), std::memory_order_relaxed);

  // 2. rmap: every (address space, va, pte slot) mapping a candidate.
  struct Mapping {
    AddressSpace* as;
    GuestAddr va;
    Pte* slot;
  };
  absl::flat_hash_map<Pfn, std::vector<Mapping>> rmap;
  rmap.reserve(inactive.size() + deactivate.size());
  for (Pfn p : inactive) rmap[p];
  for (Pfn p : deactivate) rmap[p];
  {
    MutexLock l(&mm_mu_);
    for (AddressSpace* as : mms_) {
      as->page_table_.ForEachSlot([&](GuestAddr va, Pte* slot) {
        const Pte pte = *slot;
        if (!pte.present()) return;
        auto it = rmap.find(pte.pfn());
        if (it != rmap.end()) it->second.push_back({as, va, slot});
      });
    }
  }
  auto distinct_slots = [](std::vector<Mapping>& maps) {
    std::vector<Pte*> slots;
    for (const Mapping& m : maps) slots.push_back(m.slot);
    std::sort(slots.begin(), slots.end());
    slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
    return slots;
  };
  // Clears the accessed bits; true if any was set. Every sharer's TLB
  // entry goes, so its next access refills and sets the bit again.
  auto test_and_clear_young = [](std::vector<Mapping>& maps) {
    bool young = false;
    for (Mapping& m : maps) {
      if (m.slot->accessed()) {
        young = true;
        *m.slot = m.slot->Without(Pte::kAccessed);
      }
      m.as->tlb_.FlushPage(m.va);
    }
    return young;
  };

  // 3. Age the active lists.
  for (Pfn p : deactivate) {
    test_and_clear_young(rmap[p]);
    MoveTo(p, kInactiveAnon);
    pgdeactivate_.fetch_add(1, std::memory_order_relaxed);
  }

  // 4. The inactive candidates.
  std::vector<uint64_t> to_write;
  for (Pfn p : inactive) {
    PageDescriptor& d = pool_->Descriptor(p);
    std::vector<Mapping>& maps = rmap[p];
    if (d.TestFlag(kPgUnevictable)) {
      MutexLock l(&lru_mu_);
      if (d.TestFlag(kPgLru)) ListRemove(p);
      unevictable_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    bool code = false, dirty = false;
    for (const Mapping& m : maps) {
      code |= m.slot->code();
      dirty |= m.slot->dirty();
    }
    if (code) {  // decoded instructions: keep (the decode cache relies on it)
      MoveTo(p, kActiveAnon);
      continue;
    }
    if (test_and_clear_young(maps)) {
      MoveTo(p, kActiveAnon);
      pgactivate_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    std::vector<Pte*> slots = distinct_slots(maps);
    const uint32_t cached = d.TestFlag(kPgSwapCache) ? 1 : 0;
    if (d.refcount.load(std::memory_order_acquire) != slots.size() + cached) {
      MoveTo(p, kInactiveAnon);  // held elsewhere (in flight): later
      continue;
    }
    if (slots.empty()) {
      // Only the swap cache holds it (readahead never used, or a page
      // mapped from the cache and unmapped since): drop it if its slot has
      // it, else (an earlier write failed) write it again.
      if (swap_cache_->DropCleanUnmapped(p)) {
        ++*freed;
        continue;
      }
      bool needs_write = false;
      swap_cache_->AddUnmapped(p, 0, &needs_write);
      if (needs_write) to_write.push_back(d.private_data);
      continue;
    }
    for (const Mapping& m : maps) m.as->ReclaimedPte(m.va);
    if (!d.TestFlag(kPgAnon) && !cached && !dirty) {
      // A clean private copy of an image page: the image has it.
      for (Pte* s : slots) *s = Pte();
      d.mapcount.fetch_sub(static_cast<uint32_t>(slots.size()),
                           std::memory_order_relaxed);
      for (size_t i = 0; i < slots.size(); ++i) pool_->PutPage(p);
      pgsteal_file_.fetch_add(1, std::memory_order_relaxed);
      ++*freed;
      continue;
    }
    bool needs_write = false;
    const uint64_t value = swap_cache_->AddUnmapped(
        p, static_cast<uint32_t>(slots.size()), &needs_write);
    for (Pte* s : slots) *s = Pte::SwapEntry(value);
    d.mapcount.fetch_sub(static_cast<uint32_t>(slots.size()),
                         std::memory_order_relaxed);
    for (size_t i = 0; i < slots.size(); ++i) pool_->PutPage(p);
    pgsteal_anon_.fetch_add(1, std::memory_order_relaxed);
    if (needs_write) {
      to_write.push_back(value);
    } else {
      ++*freed;
    }
  }
  return to_write;
}

Reclaimer::Stats Reclaimer::GetStats() const {
  Stats s;
  s.pgscan = pgscan_.load(std::memory_order_relaxed);
  s.pgsteal_anon = pgsteal_anon_.load(std::memory_order_relaxed);
  s.pgsteal_file = pgsteal_file_.load(std::memory_order_relaxed);
  s.pgactivate = pgactivate_.load(std::memory_order_relaxed);
  s.pgdeactivate = pgdeactivate_.load(std::memory_order_relaxed);
  s.pswpout = pswpout_.load(std::memory_order_relaxed);
  s.pswpin = pswpin_.load(std::memory_order_relaxed);
  s.swapcache_hits = swapcache_hits_.load(std::memory_order_relaxed);
  s.swap_faults = swap_faults_.load(std::memory_order_relaxed);
  s.kswapd_wakeups = kswapd_wakeups_.load(std::memory_order_relaxed);
  s.kswapd_rounds = kswapd_rounds_.load(std::memory_order_relaxed);
  s.direct_reclaims = direct_reclaims_.load(std::memory_order_relaxed);
  s.direct_reclaim_ns = direct_reclaim_ns_.load(std::memory_order_relaxed);
  s.async_swapins = async_swapins_.load(std::memory_order_relaxed);
  s.swap_io_errors = swap_io_errors_.load(std::memory_order_relaxed);
  s.unevictable = unevictable_.load(std::memory_order_relaxed);
  {
    MutexLock l(&lru_mu_);
    for (int i = 0; i < 4; ++i) s.lru_pages[i] = count_[i];
  }
  s.swap_cache = swap_cache_->GetStats();
  return s;
}

}  // namespace memmgr::mmu
