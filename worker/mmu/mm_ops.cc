// The mm operations of AddressSpace: mmap, munmap, mprotect, madvise,
// mlock/munlock and brk, with Linux's argument rules and errno choices
// (see ErrnoFromStatus for the Status → errno mapping).
#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/status_util.h"
#include "worker/mmu/address_space.h"

namespace memmgr::mmu {
namespace {

// End of [addr, addr + PageUp(length)), or nullopt if it wraps.
std::optional<GuestAddr> RangeEnd(GuestAddr addr, uint64_t length) {
  if (length > UINT64_MAX - kPageOffsetMask) return std::nullopt;
  uint64_t len = PageUp(length);
  if (addr > UINT64_MAX - len) return std::nullopt;
  return addr + len;
}

// RISC-V has no write-only pages (W without R is reserved in a pte), and
// Linux/riscv maps PROT_WRITE as read+write.
uint32_t NormalizeProt(uint32_t prot) {
  return (prot & kProtWrite) ? (prot | kProtRead) : prot;
}

absl::Status Invalid(const char* op, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(op, ": ", why));
}

}  // namespace

absl::Status AddressSpace::CheckVmaBudget(int new_vmas, const char* op) const {
  if (vmas_.size() + new_vmas > options_.max_vmas) {
    return absl::ResourceExhaustedError(
        absl::StrCat(op, ": would exceed the limit of ", options_.max_vmas,
                     " mappings (max_map_count)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<GuestAddr> AddressSpace::CheckRange(GuestAddr addr,
                                                   uint64_t length,
                                                   const char* op) const {
  if (!IsPageAligned(addr)) {
    return Invalid(op,
                   absl::StrFormat("address %#x is not page aligned", addr));
  }
  std::optional<GuestAddr> end = RangeEnd(addr, length);
  if (!end.has_value() || *end > options_.va_limit) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: range %#x + %#x is outside the address space (top %#x)", op, addr,
        length, options_.va_limit));
  }
  return *end;
}

absl::StatusOr<GuestAddr> AddressSpace::Mmap(GuestAddr addr, uint64_t length,
                                             uint32_t prot, uint32_t flags,
                                             absl::string_view name) {
  constexpr const char* kOp = "mmap";
  if (length == 0) return Invalid(kOp, "length is 0");
  if (prot & ~kProtMask) {
    return Invalid(kOp, absl::StrFormat("unknown protection bits %#x", prot));
  }
  if (length > options_.va_limit - options_.mmap_min_addr) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "mmap: length %#x is larger than the address space", length));
  }
  const uint64_t len = PageUp(length);
  const bool fixed = flags & (kMapFixed | kMapFixedNoReplace);
  GuestAddr start;
  if (fixed) {
    if (!IsPageAligned(addr)) {
      return Invalid(
          kOp, absl::StrFormat("fixed address %#x is not page aligned", addr));
    }
    if (addr < options_.mmap_min_addr) {
      return absl::PermissionDeniedError(
          absl::StrFormat("mmap: fixed address %#x is below mmap_min_addr %#x",
                          addr, options_.mmap_min_addr));
    }
    if (addr > options_.va_limit - len) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "mmap: fixed range %#x + %#x is outside the address space (top %#x)",
          addr, len, options_.va_limit));
    }
    if (vmas_.Overlaps(addr, addr + len)) {
      if (flags & kMapFixedNoReplace) {
        return absl::AlreadyExistsError(absl::StrFormat(
            "mmap: fixed range %#x + %#x overlaps an existing mapping "
            "(MAP_FIXED_NOREPLACE)",
            addr, len));
      }
      MEMMGR_RETURN_IF_ERROR(
          CheckVmaBudget(1 + vmas_.SplitsNeeded(addr, addr + len), kOp));
      ZapRange(addr, addr + len);
      vmas_.Remove(addr, addr + len);
    }
    start = addr;
  } else {
    // A hint is taken if the range there is free (rounded up like
    // PAGE_ALIGN(addr)); otherwise search top-down from mmap_base, then the
    // whole address space.
    std::optional<GuestAddr> found;
    GuestAddr hint = addr > UINT64_MAX - kPageOffsetMask ? 0 : PageUp(addr);
    if (hint != 0 && hint >= options_.mmap_min_addr &&
        hint <= options_.va_limit - len && !vmas_.Overlaps(hint, hint + len)) {
      found = hint;
    }
    if (!found) {
      found = vmas_.FindGapTopDown(len, options_.mmap_min_addr, mmap_base_);
    }
    if (!found) {
      found =
          vmas_.FindGapTopDown(len, options_.mmap_min_addr, options_.va_limit);
    }
    if (!found) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "mmap: no free range of %#x bytes in the address space", len));
    }
    start = *found;
  }
  Vma vma;
  vma.start = start;
  vma.end = start + len;
  vma.prot = NormalizeProt(prot);
  vma.flags = 0;
  if (flags & kMapGrowsDown) vma.flags |= kVmaGrowsDown;
  if (flags & kMapLocked) vma.flags |= kVmaLocked;
  vma.name = std::string(name);
  vmas_.Insert(std::move(vma));
  if (vmas_.size() > options_.max_vmas) {
    // It did not merge with a neighbour: take it out again (the range was
    // free, so this restores the old vmas exactly).
    vmas_.Remove(start, start + len);
    return CheckVmaBudget(1, kOp);
  }
  if (flags & (kMapPopulate | kMapLocked)) {
    // Like Linux, a mapping whose prefault fails still exists; the pages
    // fault in later (and report the failure then).
    Populate(start, start + len).IgnoreError();
  }
  return start;
}

absl::StatusOr<GuestAddr> AddressSpace::MapImage(
    GuestAddr addr, uint64_t length, uint32_t prot,
    std::shared_ptr<const GuestImage> image, uint64_t file_offset,
    uint64_t file_bytes, uint32_t flags) {
  constexpr const char* kOp = "map image";
  if (image == nullptr) return Invalid(kOp, "no image");
  if (file_bytes > length) {
    return Invalid(kOp, absl::StrFormat("file bytes %#x exceed the length %#x",
                                        file_bytes, length));
  }
  if (file_offset > image->bytes.size() ||
      file_bytes > image->bytes.size() - file_offset) {
    return Invalid(
        kOp, absl::StrFormat("image range %#x + %#x is outside %s (%d bytes)",
                             file_offset, file_bytes, image->name,
                             image->bytes.size()));
  }
  flags &= ~(kMapGrowsDown);
  if (!(flags & (kMapFixed | kMapFixedNoReplace))) flags |= kMapFixedNoReplace;
  absl::StatusOr<GuestAddr> start = Mmap(
      addr, length, prot, flags & ~kMapPopulate & ~kMapLocked, image->name);
  if (!start.ok()) return start.status();
  // Turn the fresh anonymous vma into an image mapping. It may have merged
  // with an anonymous neighbour: split it out again first.
  const GuestAddr end = *start + PageUp(length);
  vmas_.ModifyRange(*start, end, [&](Vma& v) {
    v.image = image;
    v.file_offset = file_offset + (v.start - *start);
    uint64_t skip = v.start - *start;
    v.file_bytes =
        file_bytes > skip ? std::min(file_bytes - skip, v.length()) : 0;
  });
  if (flags & kMapLocked) {
    vmas_.ModifyRange(*start, end, [](Vma& v) { v.flags |= kVmaLocked; });
  }
  if (flags & (kMapPopulate | kMapLocked)) Populate(*start, end).IgnoreError();
  return start;
}

absl::Status AddressSpace::Munmap(GuestAddr addr, uint64_t length) {
  constexpr const char* kOp = "munmap";
  if (length == 0) return Invalid(kOp, "length is 0");
  absl::StatusOr<GuestAddr> end = CheckRange(addr, length, kOp);
  if (!end.ok()) {
    // munmap reports every bad range as EINVAL.
    return absl::InvalidArgumentError(end.status().message());
  }
  if (!vmas_.Overlaps(addr, *end)) return absl::OkStatus();
  // Only punching a hole into one vma adds a vma (split_vma's check).
  const Vma* v = vmas_.Find(addr);
  const bool punch = v != nullptr && v->start < addr && v->end > *end;
  MEMMGR_RETURN_IF_ERROR(CheckVmaBudget(punch ? 1 : 0, kOp));
  ZapRange(addr, *end);
  vmas_.Remove(addr, *end);
  return absl::OkStatus();
}

absl::Status AddressSpace::Mprotect(GuestAddr addr, uint64_t length,
                                    uint32_t prot) {
  constexpr const char* kOp = "mprotect";
  if (prot & ~kProtMask) {
    return Invalid(kOp, absl::StrFormat("unknown protection bits %#x", prot));
  }
  absl::StatusOr<GuestAddr> end = CheckRange(addr, length, kOp);
  if (!end.ok()) return end.status();
  if (length == 0) return absl::OkStatus();
  if (!vmas_.FullyMapped(addr, *end)) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "mprotect: range %#x-%#x is not fully mapped", addr, *end));
  }
  MEMMGR_RETURN_IF_ERROR(CheckVmaBudget(vmas_.SplitsNeeded(addr, *end), kOp));
  prot = NormalizeProt(prot);
  vmas_.ModifyRange(addr, *end, [prot](Vma& v) { v.prot = prot; });
  ChangePteProtection(addr, *end, prot);
  return absl::OkStatus();
}

absl::Status AddressSpace::Madvise(GuestAddr addr, uint64_t length,
                                   int advice) {
  constexpr const char* kOp = "madvise";
  switch (advice) {
    case kMadvNormal:
    case kMadvRandom:
    case kMadvSequential:
    case kMadvWillNeed:
    case kMadvDontNeed:
    case kMadvFree:
    case kMadvHugePage:
    case kMadvNoHugePage:
      break;
    default:
      return Invalid(kOp, absl::StrCat("unsupported advice ", advice));
  }
  if (!IsPageAligned(addr)) {
    return Invalid(kOp,
                   absl::StrFormat("address %#x is not page aligned", addr));
  }
  std::optional<GuestAddr> end = RangeEnd(addr, length);
  if (!end.has_value()) return Invalid(kOp, "range wraps around");
  if (length == 0) return absl::OkStatus();
  const bool zap = advice == kMadvDontNeed || advice == kMadvFree;
  if (zap) {
    // Linux refuses to drop locked pages.
    for (GuestAddr cursor = addr; cursor < *end;) {
      const Vma* v = vmas_.FindFirstEndingAfter(cursor);
      if (v == nullptr || v->start >= *end) break;
      if (v->flags & kVmaLocked) {
        return Invalid(
            kOp, absl::StrFormat("range %#x-%#x is mlocked", v->start, v->end));
      }
      cursor = v->end;
    }
    // MADV_FREE may free lazily; freeing now is a valid implementation.
    for (GuestAddr cursor = addr; cursor < *end;) {
      const Vma* v = vmas_.FindFirstEndingAfter(cursor);
      if (v == nullptr || v->start >= *end) break;
      ZapRange(std::max(cursor, v->start), std::min(*end, v->end));
      cursor = v->end;
    }
  }
  if (*end > options_.va_limit || !vmas_.FullyMapped(addr, *end)) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "madvise: range %#x-%#x is not fully mapped", addr, *end));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<GuestAddr, GuestAddr>> AddressSpace::CheckLockRange(
    GuestAddr addr, uint64_t length, const char* op) const {
  // mlock/munlock round the range out to whole pages (unlike munmap and
  // mprotect, an unaligned address is fine).
  if (addr > UINT64_MAX - length) return Invalid(op, "range wraps around");
  const GuestAddr start = PageDown(addr);
  std::optional<GuestAddr> end = RangeEnd(start, addr + length - start);
  if (!end.has_value()) return Invalid(op, "range wraps around");
  if (*end > options_.va_limit || !vmas_.FullyMapped(start, *end)) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: range %#x-%#x is not fully mapped", op, start, *end));
  }
  MEMMGR_RETURN_IF_ERROR(CheckVmaBudget(vmas_.SplitsNeeded(start, *end), op));
  return std::make_pair(start, *end);
}

absl::Status AddressSpace::Mlock(GuestAddr addr, uint64_t length) {
  if (length == 0) return absl::OkStatus();
  absl::StatusOr<std::pair<GuestAddr, GuestAddr>> range =
      CheckLockRange(addr, length, "mlock");
  if (!range.ok()) return range.status();
  const auto [start, end] = *range;
  vmas_.ModifyRange(start, end, [](Vma& v) { v.flags |= kVmaLocked; });
  absl::Status populated = Populate(start, end);
  page_table_.ForEachPte(start, end, [&](GuestAddr, Pte pte) {
    if (pte.present() && pte.pfn() != FramePool::kZeroPfn) {
      pool_->Descriptor(pte.pfn()).SetFlag(kPgUnevictable);
    }
  });
  if (!populated.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "mlock: could not fault in every page: ", populated.message()));
  }
  return absl::OkStatus();
}

absl::Status AddressSpace::Munlock(GuestAddr addr, uint64_t length) {
  if (length == 0) return absl::OkStatus();
  absl::StatusOr<std::pair<GuestAddr, GuestAddr>> range =
      CheckLockRange(addr, length, "munlock");
  if (!range.ok()) return range.status();
  const auto [start, end] = *range;
  vmas_.ModifyRange(start, end, [](Vma& v) { v.flags &= ~kVmaLocked; });
  page_table_.ForEachPte(start, end, [&](GuestAddr, Pte pte) {
    if (!pte.present() || pte.pfn() == FramePool::kZeroPfn) return;
    PageDescriptor& d = pool_->Descriptor(pte.pfn());
    // A frame shared with another (forked) address space may still be locked
    // there; reclaim re-checks the vmas through the rmap, like Linux.
    if (d.mapcount.load(std::memory_order_relaxed) == 1) {
      d.ClearFlag(kPgUnevictable);
    }
  });
  return absl::OkStatus();
}

absl::Status AddressSpace::SetBrkBase(GuestAddr base) {
  if (!IsPageAligned(base) || base < options_.mmap_min_addr ||
      base >= options_.va_limit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "brk base %#x must be page aligned and inside the address space",
        base));
  }
  if (brk_ != brk_base_) {
    return absl::FailedPreconditionError("brk base set after the heap grew");
  }
  brk_base_ = brk_ = base;
  return absl::OkStatus();
}

GuestAddr AddressSpace::Brk(GuestAddr new_brk) {
  if (brk_base_ == 0 || new_brk < brk_base_ ||
      new_brk > options_.va_limit - kPageSize) {
    return brk_;
  }
  const GuestAddr old_top = PageUp(brk_);
  const GuestAddr new_top = PageUp(new_brk);
  if (new_top < old_top) {
    ZapRange(new_top, old_top);
    vmas_.Remove(new_top, old_top);
  } else if (new_top > old_top) {
    // The heap may not run into the next mapping (keep one guard page).
    if (vmas_.Overlaps(old_top, new_top + kPageSize)) return brk_;
    Vma heap;
    heap.start = old_top;
    heap.end = new_top;
    heap.prot = kProtRead | kProtWrite;
    heap.name = "[heap]";
    vmas_.Insert(std::move(heap));
    if (vmas_.size() > options_.max_vmas) {
      vmas_.Remove(old_top, new_top);
      return brk_;
    }
  }
  brk_ = new_brk;
  return brk_;
}

void AddressSpace::ZapRange(GuestAddr start, GuestAddr end) {
  // Swap entries go with their ptes; the remote-swap layer will hook into
  // PageTable::DropPte to free the slots (swap_free).
  const uint64_t frames = page_table_.Zap(start, end);
  AddRss(-static_cast<int64_t>(frames));  // also syncs freed tables
  tlb_.FlushRange(start, end);
}

void AddressSpace::ChangePteProtection(GuestAddr start, GuestAddr end,
                                       uint32_t prot) {
  const uint64_t bits = Pte::ProtBits(prot);
  // The W bit follows the vma even for frames shared with a fork: whether a
  // write may go in place is decided by the frame's refcount and the kCow
  // bit at fault time (CanWriteInPlace), never by W alone.
  page_table_.ForEachPteMutable(start, end, [&](GuestAddr, Pte& pte) {
    if (!pte.present()) return;
    uint64_t b = bits;
    if (pte.pfn() == FramePool::kZeroPfn) b &= ~Pte::kWrite;
    pte = Pte((pte.raw() & ~(Pte::kRead | Pte::kWrite | Pte::kExec)) | b);
  });
  tlb_.FlushRange(start, end);
}

absl::Status AddressSpace::Populate(GuestAddr start, GuestAddr end) {
  for (GuestAddr va = start; va < end;) {
    const Vma* v = vmas_.FindFirstEndingAfter(va);
    if (v == nullptr || v->start >= end) break;
    const GuestAddr stop = std::min(end, v->end);
    Access access = (v->prot & kProtWrite)  ? Access::kWrite
                    : (v->prot & kProtRead) ? Access::kRead
                                            : Access::kExec;
    if (v->prot != kProtNone) {
      for (GuestAddr p = std::max(va, v->start); p < stop; p += kPageSize) {
        Fault fault;
        if (Translate(p, access, &fault) == nullptr) {
          return absl::ResourceExhaustedError(
              absl::StrFormat("fault at %#x: %s", fault.address,
                              FaultReasonName(fault.reason)));
        }
      }
    }
    va = stop;
  }
  return absl::OkStatus();
}

}  // namespace memmgr::mmu
