// AddressSpace: accesses, fault handling, fork and introspection. The mm
// operations (mmap, munmap, ...) are in mm_ops.cc.
#include "worker/mmu/address_space.h"

#include <time.h>

#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "worker/mmu/reclaim.h"

namespace memmgr::mmu {
namespace {

uint64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 +
         static_cast<uint64_t>(ts.tv_nsec);
}

bool VmaAllows(const Vma& vma, Access access) {
  switch (access) {
    case Access::kRead:
      return vma.prot & kProtRead;
    case Access::kWrite:
      return vma.prot & kProtWrite;
    case Access::kExec:
      return vma.prot & kProtExec;
  }
  return false;
}

}  // namespace

const char* FaultClassName(FaultClass c) {
  switch (c) {
    case FaultClass::kZeroFillRead:
      return "zero_fill_read";
    case FaultClass::kAnonFirstWrite:
      return "anon_first_write";
    case FaultClass::kFilePage:
      return "file_page";
    case FaultClass::kCowReuse:
      return "cow_reuse";
    case FaultClass::kCowCopy:
      return "cow_copy";
    case FaultClass::kStackGrow:
      return "stack_grow";
    case FaultClass::kSegvUnmapped:
      return "segv_unmapped";
    case FaultClass::kSegvProtection:
      return "segv_protection";
    case FaultClass::kSwapEntry:
      return "swap_entry";
    case FaultClass::kMemoryLimit:
      return "memory_limit";
    case FaultClass::kOutOfMemory:
      return "out_of_memory";
    case FaultClass::kSwapCacheHit:
      return "swap_cache_hit";
    case FaultClass::kSwapIn:
      return "swap_in";
    case FaultClass::kSwapIoError:
      return "swap_io_error";
    case FaultClass::kSwapWait:
      return "swap_wait";
    case FaultClass::kCount:
      break;
  }
  return "?";
}

int ErrnoFromStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kResourceExhausted:
      return ENOMEM;
    case absl::StatusCode::kAlreadyExists:
      return EEXIST;
    case absl::StatusCode::kPermissionDenied:
      return EPERM;
    case absl::StatusCode::kUnavailable:
      return EAGAIN;
    case absl::StatusCode::kOutOfRange:
      return EFAULT;
    default:
      return EINVAL;
  }
}

absl::StatusOr<std::unique_ptr<AddressSpace>> AddressSpace::Create(
    FramePool* pool, Options options) {
  if (pool == nullptr) return absl::InvalidArgumentError("no frame pool");
  const uint32_t tlb = options.tlb_entries;
  const uint32_t tlb_max = options.tlb_max_entries;
  if (tlb < 256 || tlb > tlb_max || (tlb & (tlb - 1)) != 0 ||
      tlb_max > (1u << 22) || (tlb_max & (tlb_max - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tlb_entries ", tlb, " and tlb_max_entries ", tlb_max,
        " must be powers of two with 256 <= tlb_entries <= tlb_max_entries "
        "<= 2^22"));
  }
  if (options.va_limit > kMaxUserVa || !IsPageAligned(options.va_limit) ||
      options.va_limit <= options.mmap_min_addr + (uint64_t{1} << 20)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "va_limit %#x must be page aligned, at most %#x and leave at least "
        "1M above mmap_min_addr %#x",
        options.va_limit, kMaxUserVa, options.mmap_min_addr));
  }
  if (!IsPageAligned(options.mmap_min_addr)) {
    return absl::InvalidArgumentError("mmap_min_addr must be page aligned");
  }
  if (options.memcg != nullptr && options.limit_pages != 0) {
    return absl::InvalidArgumentError(
        "limit_pages and a memcg are exclusive: the memcg's limit applies");
  }
  if (options.max_vmas < 1) {
    return absl::InvalidArgumentError("max_vmas must be at least 1");
  }
  if (options.mmap_base != 0 && (!IsPageAligned(options.mmap_base) ||
                                 options.mmap_base > options.va_limit ||
                                 options.mmap_base <= options.mmap_min_addr)) {
    return absl::InvalidArgumentError(
        "mmap_base must be page aligned and inside (mmap_min_addr, va_limit]");
  }
  return std::unique_ptr<AddressSpace>(new AddressSpace(pool, options));
}

AddressSpace::AddressSpace(FramePool* pool, Options options)
    : pool_(pool),
      options_(options),
      page_table_(pool),
      tlb_(options.tlb_entries, options.tlb_entries, options.tlb_max_entries) {
  mmap_base_ = options.mmap_base;
  if (mmap_base_ == 0) {
    // mm/util.c mmap_base(): leave the stack rlimit (at least 128 MiB) below
    // the top for the stack, and map downwards from there.
    uint64_t gap = std::max<uint64_t>(options.stack_limit, 128ull << 20);
    uint64_t span = options.va_limit - options.mmap_min_addr;
    if (gap > span / 2) gap = PageDown(span / 2);
    mmap_base_ = PageDown(options.va_limit - gap);
  }
  // On the mm list from birth: reclaim's rmap walk must see every table
  // that may map a frame of the pool.
  if (Reclaimer* r = pool_->reclaimer(); r != nullptr) r->AddMm(this);
}

// The page table's destructor drops every table and frame reference.
AddressSpace::~AddressSpace() {
  if (Reclaimer* r = pool_->reclaimer(); r != nullptr) {
    // Under the gate, so a reclaim walk never sees a half-freed table; the
    // tables go here rather than in page_table_'s destructor for that.
    MmGate::Shared gate(pool_->gate());
    r->RemoveMm(this);
    page_table_.Zap(0, uint64_t{1} << kVaBits);
  }
  if (options_.memcg != nullptr) {
    options_.memcg->Charge(-static_cast<int64_t>(charged_));
  }
}

bool AddressSpace::OverLimit(uint64_t extra) {
  if (options_.memcg != nullptr) {
    const uint64_t local = LocalPages();
    return options_.memcg->WouldExceed(local > charged_ ? local - charged_ : 0,
                                       extra);
  }
  return options_.limit_pages != 0 &&
         LocalPages() + extra > options_.limit_pages;
}

void AddressSpace::SyncCharge() {
  if (options_.memcg == nullptr) return;
  const uint64_t local = LocalPages();
  if (local == charged_) return;
  options_.memcg->Charge(static_cast<int64_t>(local) -
                         static_cast<int64_t>(charged_));
  charged_ = local;
}

bool AddressSpace::Fail(GuestAddr va, Access access, FaultReason reason,
                        FaultClass c, Fault* fault) {
  CountFault(c);
  fault->address = va;
  fault->access = access;
  fault->reason = reason;
  return false;
}

void AddressSpace::AddRss(int64_t delta) {
  rss_pages_ += delta;
  if (rss_pages_ > peak_rss_pages_) peak_rss_pages_ = rss_pages_;
  SyncCharge();
}

bool AddressSpace::AccessSlow(GuestAddr va, void* data, uint64_t size,
                              Access access, Fault* fault) {
  const uint64_t offset = va & kPageOffsetMask;
  auto* bytes = static_cast<uint8_t*>(data);
  if (offset + size <= kPageSize) {
    uint8_t* page = TranslateCached(va, access, fault);
    if (page == nullptr) return false;
    if (access == Access::kWrite) {
      std::memcpy(page + offset, bytes, size);
    } else {
      std::memcpy(bytes, page + offset, size);
    }
    return true;
  }
  // Crosses a page: resolve both pages before touching either, so a fault
  // on the second leaves the first unwritten (the access is all or nothing).
  const uint64_t first = kPageSize - offset;
  uint8_t* lo;
  uint8_t* hi;
  for (;;) {
    // If resolving the second page waited with the gate released, reclaim
    // may have taken the first: resolve both again.
    const uint64_t epoch = pool_->gate()->epoch();
    lo = TranslateCached(va, access, fault);
    if (lo == nullptr) return false;
    hi = TranslateCached(va + first, access, fault);
    if (hi == nullptr) return false;
    if (pool_->gate()->epoch() == epoch) break;
  }
  if (access == Access::kWrite) {
    std::memcpy(lo + offset, bytes, first);
    std::memcpy(hi, bytes + first, size - first);
  } else {
    std::memcpy(bytes, lo + offset, first);
    std::memcpy(bytes + first, hi, size - first);
  }
  return true;
}

uint8_t* AddressSpace::TranslateCached(GuestAddr va, Access access,
                                       Fault* fault) {
  const SoftTlb::Entry& e = tlb_.EntryFor(va);
  const uint64_t page = PageDown(va);
  const uint64_t perm = access == Access::kRead    ? SoftTlb::kRead
                        : access == Access::kWrite ? SoftTlb::kWrite
                                                   : SoftTlb::kExec;
  if (SoftTlb::Hit(e, page, 1, perm)) {
    ++tlb_hits_;
    return reinterpret_cast<uint8_t*>(page + e.addend);
  }
  return Translate(va, access, fault);
}

uint8_t* AddressSpace::TranslatePage(GuestAddr va, Access access,
                                     Fault* fault) {
  return TranslateCached(va, access, fault);
}

bool AddressSpace::FrameExclusive(Pfn pfn) const {
  return pfn != FramePool::kZeroPfn &&
         pool_->Descriptor(pfn).refcount.load(std::memory_order_acquire) == 1;
}

uint8_t* AddressSpace::FillTlb(GuestAddr va, Pte pte, bool exclusive) {
  const uint64_t page = PageDown(va);
  uint8_t* host = pool_->FrameAddress(pte.pfn());
  SoftTlb::Entry& e = tlb_.EntryFor(va);
  // Writes may hit only where a write needs nothing more from the slow
  // path: see CanWriteInPlace. Shared tables and frames are read-only here,
  // which is what keeps every sharer's TLB free of write entries to them.
  const bool write = exclusive && CanWriteInPlace(pte) && pte.dirty();
  e.tag = page | (pte.readable() ? SoftTlb::kRead : 0) |
          (pte.executable() ? SoftTlb::kExec : 0) |
          (write ? SoftTlb::kWrite : 0);
  e.addend = reinterpret_cast<uintptr_t>(host) - page;
  if (write) tlb_.NoteWriteEntry(e);
  return host;
}

void AddressSpace::MarkCode(GuestAddr va) {
  PageTable::Walk w = page_table_.Lookup(va);
  if (w.pte == nullptr || !w.pte->present() || w.pte->code()) return;
  // The bit must be in a table of our own. Code pages are few (the decode
  // cache holds at most a few hundred), so copying their tables is cheap;
  // forks of a snapshot whose code was marked before the snapshot find the
  // bit already set and copy nothing.
  Pte* ptep = w.exclusive ? w.pte : page_table_.FindForWrite(va);
  *ptep = ptep->With(Pte::kCode);
  SoftTlb::Entry& e = tlb_.EntryFor(va);
  if (SoftTlb::Caches(e, PageDown(va))) e.tag &= ~SoftTlb::kWrite;
}

uint8_t* AddressSpace::Translate(GuestAddr va, Access access, Fault* fault) {
  // A fault that has to wait (direct reclaim, a page from the swap
  // device) releases the gate, waits, takes it back and starts over: while
  // the gate was released reclaim may have changed any pte of ours.
  // Bounded: each retry follows progress (a page read in, frames freed).
  fault_start_ns_ = 0;
  fault_swapin_ = false;
  for (int attempt = 0;; ++attempt) {
    pending_ = {};
    uint8_t* host = TranslateOnce(va, access, fault);
    if (host != nullptr || pending_.kind == Pending::kNone) return host;
    Reclaimer* r = pool_->reclaimer();
    MmGate* gate = pool_->gate();
    const Pending pending = pending_;
    if (pending.kind == Pending::kSwapIn && park_hook_ != nullptr &&
        !r->swap_cache()->device()->synchronous_io() &&
        !(parked_ && parked_value_ == pending.value)) {
      // Park: the read goes to the reclaimer's I/O threads and the caller
      // runs something else until the hook says the page is in. A second
      // fault on the same entry (the page was reclaimed again before we
      // came back, or the read failed) waits in place below, so a guest
      // always makes progress and a failing device stops it.
      parked_ = true;
      parked_value_ = pending.value;
      parked_start_ns_ =
          fault_start_ns_ != 0 ? fault_start_ns_ : MonotonicNanos();
      r->StartSwapIn(pending.value, *park_hook_);
      Fail(va, access, FaultReason::kSwapWait, FaultClass::kSwapWait, fault);
      return nullptr;
    }
    const int held = gate->ReleaseAll();
    bool progress = true;
    absl::Status io;
    if (pending.kind == Pending::kSwapIn) {
      fault_swapin_ = true;
      io = r->SwapIn(pending.value);
      if (absl::IsResourceExhausted(io)) {
        io = absl::OkStatus();
        progress = r->DirectReclaim();
      }
    } else {
      progress = r->DirectReclaim();
    }
    gate->Reacquire(held);
    if (!progress && io.ok()) {
      // Reclaim could not free memory because the swap device fails.
      io = r->LastWriteError();
    }
    if (!io.ok()) {
      swap_error_ = io;
      Fail(va, access, FaultReason::kSwapIo, FaultClass::kSwapIoError, fault);
      return nullptr;
    }
    if (!progress || attempt >= 64) {
      Fail(va, access, FaultReason::kOutOfMemory, FaultClass::kOutOfMemory,
           fault);
      return nullptr;
    }
  }
}

uint8_t* AddressSpace::TranslateOnce(GuestAddr va, Access access,
                                     Fault* fault) {
  ++tlb_misses_;
  tlb_.NoteMiss(tlb_hits_);
  if (va >= options_.va_limit) {
    Fail(va, access, FaultReason::kAddressRange, FaultClass::kSegvUnmapped,
         fault);
    return nullptr;
  }
  // Resident page that already allows the access: the pte is authoritative
  // (mprotect and munmap keep ptes in step with the vmas), so refill without
  // looking at the vma, like a hardware page walk. Nothing is written to a
  // shared table: a read through one leaves the accessed bit alone.
  if (const PageTable::Walk w = page_table_.Lookup(va);
      w.pte != nullptr && w.pte->present()) {
    const Pte pte = *w.pte;
    if (access != Access::kWrite) {
      const uint64_t need = access == Access::kRead ? Pte::kRead : Pte::kExec;
      if (pte.Has(need)) {
        if (w.exclusive && !pte.accessed()) *w.pte = pte.With(Pte::kAccessed);
        return FillTlb(va, *w.pte, w.exclusive);
      }
    } else if (w.exclusive && CanWriteInPlace(pte)) {
      *w.pte = w.pte->With(Pte::kAccessed | Pte::kDirty);
      return FillTlb(va, *w.pte, /*exclusive=*/true);
    }
  }
  const Vma* vma = vmas_.Find(va);
  if (vma == nullptr) {
    vma = MaybeGrowStack(va);
    if (vma == nullptr) {
      Fail(va, access, FaultReason::kUnmapped, FaultClass::kSegvUnmapped,
           fault);
      return nullptr;
    }
  }
  if (!VmaAllows(*vma, access)) {
    Fail(va, access, FaultReason::kProtection, FaultClass::kSegvProtection,
         fault);
    return nullptr;
  }
  // Page tables are charged like frames (Linux charges them to the memcg):
  // reading untouched memory maps only the zero page, but each new table
  // costs host memory. Up to three levels may be needed. (Copying a shared
  // table replaces one already charged.)
  if (!page_table_.Covers(va) && OverLimit(3)) {
    Fail(va, access, FaultReason::kMemoryLimit, FaultClass::kMemoryLimit,
         fault);
    return nullptr;
  }
  // From here on the pte changes: it must live in tables of our own.
  Pte* ptep = page_table_.FindForWrite(va);
  SyncCharge();  // new tables
  Pte pte = *ptep;
  // Fault latency (fault_latency.h): every swap fault is timed, one in
  // kSampleEvery of the others; the clock starts on the first attempt and
  // keeps running across the retries of Translate.
  if (fault_start_ns_ == 0 &&
      (pte.is_swap() || ++fault_sample_ % FaultLatency::kSampleEvery == 0)) {
    fault_start_ns_ = MonotonicNanos();
  }
  FaultSource source = FaultSource::kCount;  // none yet: a TLB refill
  if (pte.is_swap()) {
    pte = SwapFault(*vma, va, access, ptep, fault);
    if (!pte.present()) return nullptr;
    source = fault_swapin_ ? FaultSource::kSwapIn : FaultSource::kSwapCache;
  }
  if (!pte.present()) {
    pte = FaultInPage(*vma, va, access, fault);
    if (!pte.present()) return nullptr;
    source =
        vma->image != nullptr && PageDown(va) - vma->start < vma->file_bytes
            ? FaultSource::kFile
            : FaultSource::kZero;
  }
  if (access == Access::kWrite) {
    // A decode cache holds this page: let it drop the page first.
    if (pte.code()) pte = NotifyCodeWrite(va, ptep);
    if (!CanWriteInPlace(pte)) {
      pte = BreakCow(*vma, va, pte, fault);
      if (!pte.present()) return nullptr;
      if (source == FaultSource::kCount) source = FaultSource::kCow;
    }
  }
  pte = pte.With(Pte::kAccessed | (access == Access::kWrite ? Pte::kDirty : 0));
  *ptep = pte;
  if (fault_start_ns_ != 0 && source != FaultSource::kCount) {
    pool_->fault_latency().Record(source, MonotonicNanos() - fault_start_ns_);
  }
  return FillTlb(va, pte, /*exclusive=*/true);
}

Pte AddressSpace::SwapFault(const Vma& vma, GuestAddr va, Access access,
                            Pte* ptep, Fault* fault) {
  Reclaimer* r = pool_->reclaimer();
  if (r == nullptr) {
    Fail(va, access, FaultReason::kSwapEntry, FaultClass::kSwapEntry, fault);
    return Pte();
  }
  if (OverLimit(1)) {
    Fail(va, access, FaultReason::kMemoryLimit, FaultClass::kMemoryLimit,
         fault);
    return Pte();
  }
  const uint64_t value = ptep->swap_value();
  Pfn pfn = kNoPfn;
  switch (r->swap_cache()->MapCached(value, &pfn)) {
    case SwapCache::Lookup::kInvalid:
      // Nothing of ours: never map it (a stale or forged entry).
      Fail(va, access, FaultReason::kSwapEntry, FaultClass::kSwapEntry, fault);
      return Pte();
    case SwapCache::Lookup::kNeedsRead:
      pending_ = {Pending::kSwapIn, value};
      fault->address = va;
      fault->access = access;
      fault->reason = FaultReason::kSwapEntry;
      CountFault(FaultClass::kSwapIn);
      return Pte();
    case SwapCache::Lookup::kCached:
      break;
  }
  // Mapped from the swap cache, read-only in effect: the cache's reference
  // keeps FrameExclusive false, so a write goes through BreakCow, which
  // takes the page out of the cache first (or copies it).
  const Pte pte = Pte::Present(pfn, Pte::ProtBits(vma.prot));
  *ptep = pte;
  r->swap_cache()->Drop(value);
  if (parked_ && parked_value_ == value) {
    // The page a parked fault of ours asked for: a device read, timed from
    // when the fault first parked.
    parked_ = false;
    fault_swapin_ = true;
    fault_start_ns_ = parked_start_ns_;
  }
  // A hit only if this fault did not just read the page in (the retry
  // after a device read maps it from the cache too).
  if (!fault_swapin_) {
    r->swapcache_hits_.fetch_add(1, std::memory_order_relaxed);
    CountFault(FaultClass::kSwapCacheHit);
  }
  AddRss(1);
  // Faulted back in: it was evicted too early (a refault). Active.
  r->MoveTo(pfn, Reclaimer::kActiveAnon);
  return pte;
}

Pte AddressSpace::NotifyCodeWrite(GuestAddr va, Pte* ptep) {
  *ptep = ptep->Without(Pte::kCode);
  if (code_observer_ != nullptr) {
    code_observer_(code_observer_ctx_, PageDown(va));
  }
  return *ptep;
}

Pfn AddressSpace::AllocPrivateFrame(GuestAddr va, Access access, bool zero,
                                    Fault* fault) {
  if (OverLimit(1)) {
    Fail(va, access, FaultReason::kMemoryLimit, FaultClass::kMemoryLimit,
         fault);
    return kNoPfn;
  }
  Pfn pfn = zero ? pool_->AllocZeroed() : pool_->Alloc();
  if (pfn == kNoPfn) {
    NoFrame(va, access, fault);
    return kNoPfn;
  }
  if (Reclaimer* r = pool_->reclaimer(); r != nullptr) r->MaybeWakeKswapd();
  return pfn;
}

void AddressSpace::NoFrame(GuestAddr va, Access access, Fault* fault) {
  if (pool_->reclaimer() != nullptr) {
    // Direct reclaim, then the fault starts over (Translate).
    pending_ = {Pending::kReclaim, 0};
    fault->address = va;
    fault->access = access;
    fault->reason = FaultReason::kOutOfMemory;
    return;
  }
  Fail(va, access, FaultReason::kOutOfMemory, FaultClass::kOutOfMemory, fault);
}

void AddressSpace::OnNewFrame(Pfn pfn) {
  if (Reclaimer* r = pool_->reclaimer(); r != nullptr) {
    r->LruAdd(pfn, /*active=*/false);
  }
}

void AddressSpace::ReclaimedPte(GuestAddr va) {
  tlb_.FlushPage(va);
  AddRss(-1);
}

Pte AddressSpace::FaultInPage(const Vma& vma, GuestAddr va, Access access,
                              Fault* fault) {
  const uint64_t page = PageDown(va);
  const uint64_t offset = page - vma.start;
  uint64_t bits = Pte::ProtBits(vma.prot);
  Pfn pfn;
  if (vma.image != nullptr && offset < vma.file_bytes) {
    // A page of the image: a private copy, the tail past file_bytes zeroed
    // (the bss part of the last file page).
    pfn = AllocPrivateFrame(va, access, /*zero=*/false, fault);
    if (pfn == kNoPfn) return Pte();
    uint64_t n = std::min<uint64_t>(kPageSize, vma.file_bytes - offset);
    uint8_t* dst = pool_->FrameAddress(pfn);
    std::memcpy(dst, vma.image->bytes.data() + vma.file_offset + offset, n);
    std::memset(dst + n, 0, kPageSize - n);
    CountFault(FaultClass::kFilePage);
  } else if (access != Access::kWrite) {
    // Reads of untouched anonymous memory share the zero page, read-only.
    CountFault(FaultClass::kZeroFillRead);
    return Pte::Present(FramePool::kZeroPfn, bits & ~Pte::kWrite);
  } else {
    pfn = AllocPrivateFrame(va, access, /*zero=*/true, fault);
    if (pfn == kNoPfn) return Pte();
    pool_->Descriptor(pfn).SetFlag(kPgAnon);
    CountFault(FaultClass::kAnonFirstWrite);
  }
  PageDescriptor& d = pool_->Descriptor(pfn);
  d.mapcount.store(1, std::memory_order_relaxed);
  if (vma.flags & kVmaLocked) d.SetFlag(kPgUnevictable);
  AddRss(1);
  OnNewFrame(pfn);
  return Pte::Present(pfn, bits);
}

Pte AddressSpace::BreakCow(const Vma& vma, GuestAddr va, Pte pte,
                           Fault* fault) {
  const Pfn old = pte.pfn();
  const uint64_t keep = pte.raw() & (Pte::kAccessed | Pte::kDirty);
  const uint64_t bits = Pte::ProtBits(vma.prot) | keep;
  // Whatever happens, the TLB entry filled from the old pte is stale.
  tlb_.FlushPage(va);
  if (old == FramePool::kZeroPfn) {
    Pfn pfn = AllocPrivateFrame(va, Access::kWrite, /*zero=*/true, fault);
    if (pfn == kNoPfn) return Pte();
    PageDescriptor& d = pool_->Descriptor(pfn);
    d.SetFlag(kPgAnon);
    d.mapcount.store(1, std::memory_order_relaxed);
    if (vma.flags & kVmaLocked) d.SetFlag(kPgUnevictable);
    AddRss(1);
    OnNewFrame(pfn);
    CountFault(FaultClass::kAnonFirstWrite);
    return Pte::Present(pfn, bits);
  }
  if (Reclaimer* r = pool_->reclaimer();
      r != nullptr && pool_->Descriptor(old).TestFlag(kPgSwapCache)) {
    // reuse_swap_page: leaves the swap cache (freeing the slot) if nothing
    // else needs the cached copy; then the frame is ours alone.
    r->swap_cache()->TryReuseForWrite(old);
  }
  if (FrameExclusive(old)) {
    // do_wp_page reuse: ours is the only reference (the other sharers
    // copied it or went away). Only a pte that was shared counts as a CoW
    // fault; a write-protected private pte (mprotect) is simply allowed.
    if (pte.cow()) CountFault(FaultClass::kCowReuse);
    return Pte::Present(old, bits);
  }
  // Not AllocPrivateFrame: the copy replaces a frame already charged to
  // us (rss counts it), so the limit does not change.
  Pfn pfn = pool_->Alloc();
  if (pfn == kNoPfn) {
    NoFrame(va, Access::kWrite, fault);
    return Pte();
  }
  std::memcpy(pool_->FrameAddress(pfn), pool_->FrameAddress(old), kPageSize);
  PageDescriptor& od = pool_->Descriptor(old);
  PageDescriptor& d = pool_->Descriptor(pfn);
  d.flags.store(
      od.flags.load(std::memory_order_relaxed) & (kPgAnon | kPgUnevictable),
      std::memory_order_relaxed);
  if (vma.flags & kVmaLocked) d.SetFlag(kPgUnevictable);
  d.mapcount.store(1, std::memory_order_relaxed);
  if (od.mapcount.fetch_sub(1, std::memory_order_relaxed) == 1 &&
      od.TestFlag(kPgSwapCache)) {
    pool_->reclaimer()->swap_cache()->FrameUnmapped(old);
  }
  pool_->PutPage(old);
  OnNewFrame(pfn);
  CountFault(FaultClass::kCowCopy);
  return Pte::Present(pfn, bits);
}

const Vma* AddressSpace::MaybeGrowStack(GuestAddr va) {
  const Vma* above = vmas_.FindFirstEndingAfter(va);
  if (above == nullptr || !(above->flags & kVmaGrowsDown)) return nullptr;
  const GuestAddr new_start = PageDown(va);
  if (new_start < options_.mmap_min_addr) return nullptr;
  if (above->end - new_start > options_.stack_limit) return nullptr;
  // stack_guard_gap: keep 256 pages between a stack and the vma below it.
  constexpr uint64_t kGuardGap = 256 * kPageSize;
  const Vma* below = vmas_.FindLastStartingBefore(new_start);
  if (below != nullptr &&
      (below->end > new_start || new_start - below->end < kGuardGap)) {
    return nullptr;
  }
  CountFault(FaultClass::kStackGrow);
  return vmas_.ExpandDown(above->start, new_start);
}

bool AddressSpace::CopyFromGuest(GuestAddr va, void* dst, uint64_t len,
                                 Fault* fault) {
  auto* out = static_cast<uint8_t*>(dst);
  while (len > 0) {
    uint8_t* page = TranslateCached(va, Access::kRead, fault);
    if (page == nullptr) return false;
    uint64_t offset = va & kPageOffsetMask;
    uint64_t n = std::min(len, kPageSize - offset);
    std::memcpy(out, page + offset, n);
    out += n;
    va += n;
    len -= n;
  }
  return true;
}

bool AddressSpace::CopyToGuest(GuestAddr va, const void* src, uint64_t len,
                               Fault* fault) {
  auto* in = static_cast<const uint8_t*>(src);
  while (len > 0) {
    uint8_t* page = TranslateCached(va, Access::kWrite, fault);
    if (page == nullptr) return false;
    uint64_t offset = va & kPageOffsetMask;
    uint64_t n = std::min(len, kPageSize - offset);
    std::memcpy(page + offset, in, n);
    in += n;
    va += n;
    len -= n;
  }
  return true;
}

bool AddressSpace::ZeroGuest(GuestAddr va, uint64_t len, Fault* fault) {
  while (len > 0) {
    uint8_t* page = TranslateCached(va, Access::kWrite, fault);
    if (page == nullptr) return false;
    uint64_t offset = va & kPageOffsetMask;
    uint64_t n = std::min(len, kPageSize - offset);
    std::memset(page + offset, 0, n);
    va += n;
    len -= n;
  }
  return true;
}

absl::StatusOr<std::unique_ptr<AddressSpace>> AddressSpace::Fork(
    std::shared_ptr<MemCgroup> memcg) {
  // Our tables become shared: no write entry may survive in our TLB (the
  // next write takes the slow path, which copies the path it writes below).
  // Read and exec entries stay valid: the frames do not change.
  tlb_.DropWriteEntries();
  return ForkFrozen(std::move(memcg));
}

absl::StatusOr<std::unique_ptr<AddressSpace>> AddressSpace::ForkFrozen(
    std::shared_ptr<MemCgroup> memcg) const {
  // Shared with other forks; exclusive with reclaim, which may rewrite the
  // frozen tables' ptes (a snapshot's pages get swapped too).
  MmGate::Shared gate(pool_->reclaimer() != nullptr ? pool_->gate() : nullptr);
  Options options = options_;
  if (memcg != nullptr) {
    options.memcg = std::move(memcg);
    options.limit_pages = 0;
  }
  std::unique_ptr<AddressSpace> child(
      new AddressSpace(pool_, std::move(options)));
  child->mmap_base_ = mmap_base_;
  child->brk_base_ = brk_base_;
  child->brk_ = brk_;
  child->vmas_ = vmas_;
  // Only the root table is copied; the child inherits the counts of what
  // it maps. Code bits come along: the child's own decode cache then gets
  // (harmless) notifications for pages it never decoded.
  child->page_table_.Share(page_table_);
  child->rss_pages_ = child->peak_rss_pages_ = rss_pages_;
  child->SyncCharge();
  return child;
}

MmuStats AddressSpace::GetStats() const {
  MmuStats s;
  s.faults = faults_;
  s.tlb_hits = tlb_hits_;
  s.tlb_misses = tlb_misses_;
  s.tlb_flushes = tlb_.flushes();
  s.tlb_entries = tlb_.size();
  s.tlb_resizes = tlb_.resizes();
  s.rss_pages = rss_pages_;
  s.peak_rss_pages = peak_rss_pages_;
  s.page_table_pages = page_table_.table_pages();
  s.page_table_unshares = page_table_.unshares();
  s.vmas = vmas_.size();
  return s;
}

std::string AddressSpace::DumpMaps() const {
  std::string out;
  for (const auto& [start, v] : vmas_.map()) {
    absl::StrAppendFormat(
        &out, "%012x-%012x %c%c%c%c %08x %s\n", v.start, v.end,
        (v.prot & kProtRead) ? 'r' : '-', (v.prot & kProtWrite) ? 'w' : '-',
        (v.prot & kProtExec) ? 'x' : '-', 'p', v.file_offset, v.name);
  }
  return out;
}

Pte AddressSpace::PteForTest(GuestAddr va) const {
  const Pte* p = page_table_.Find(va);
  return p == nullptr ? Pte() : *p;
}

bool AddressSpace::PteSharedForTest(GuestAddr va) const {
  const PageTable::Walk w = page_table_.Lookup(va);
  return w.pte != nullptr && !w.exclusive;
}

uint64_t AddressSpace::CountResidentForTest() const {
  uint64_t n = 0;
  page_table_.ForEachPte(0, options_.va_limit, [&](GuestAddr, Pte pte) {
    if (pte.present() && pte.pfn() != FramePool::kZeroPfn) ++n;
  });
  return n;
}

void AddressSpace::SetSwapPteForTest(GuestAddr va, uint64_t swap_value) {
  ZapRange(PageDown(va), PageDown(va) + kPageSize);
  *page_table_.FindForWrite(va) = Pte::SwapEntry(swap_value);
  SyncCharge();
}

}  // namespace memmgr::mmu
