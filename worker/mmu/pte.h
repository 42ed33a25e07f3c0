// Pte: one 64-bit page-table entry, named after RISC-V's pgtable-bits.h
// (_PAGE_PRESENT, _PAGE_READ, ...).
//
//   present:     | pfn (bits 12..43) | .. | code 7 | cow 6 | dirty 5 | accessed
//   4 |
//                  exec 3 | write 2 | read 1 | present 0 (=1) |
//   swap entry:  | swap value (bits 2..63) | swap 1 (=1) | present 0 (=0) |
//   empty:       0
//
// The W bit is the *effective* write permission: it is clear on CoW and
// zero-page mappings even inside a writable vma, so a write takes the fault
// path that breaks the sharing. The swap value is opaque to the MMU (62
// bits); the remote-swap layer chooses what it encodes (slot, generation).
#ifndef MEMMGR_WORKER_MMU_PTE_H_
#define MEMMGR_WORKER_MMU_PTE_H_

#include <cstdint>

#include "worker/mmu/mmu_types.h"

namespace memmgr::mmu {

class Pte {
 public:
  static constexpr uint64_t kPresent = 1ull << 0;
  static constexpr uint64_t kRead = 1ull << 1;
  static constexpr uint64_t kWrite = 1ull << 2;
  static constexpr uint64_t kExec = 1ull << 3;
  static constexpr uint64_t kAccessed = 1ull << 4;
  static constexpr uint64_t kDirty = 1ull << 5;
  static constexpr uint64_t kCow = 1ull << 6;
  // Software bit: a decode cache holds instructions from this page, so no
  // write mapping may be cached for it (the first write notifies it).
  static constexpr uint64_t kCode = 1ull << 7;
  static constexpr uint64_t kSwap = 1ull << 1;  // when !present
  static constexpr int kPfnShift = 12;
  static constexpr uint64_t kMaxSwapValue = (1ull << 62) - 1;

  constexpr Pte() = default;
  constexpr explicit Pte(uint64_t raw) : raw_(raw) {}

  static constexpr Pte Present(Pfn pfn, uint64_t bits) {
    return Pte((static_cast<uint64_t>(pfn) << kPfnShift) | bits | kPresent);
  }
  static constexpr Pte SwapEntry(uint64_t value) {
    return Pte((value << 2) | kSwap);
  }
  // Permission bits for a vma's PROT_* value.
  static constexpr uint64_t ProtBits(uint32_t prot) {
    return ((prot & kProtRead) ? kRead : 0) |
           ((prot & kProtWrite) ? kWrite : 0) |
           ((prot & kProtExec) ? kExec : 0);
  }

  constexpr uint64_t raw() const { return raw_; }
  constexpr bool none() const { return raw_ == 0; }
  constexpr bool present() const { return raw_ & kPresent; }
  constexpr bool is_swap() const { return !present() && (raw_ & kSwap); }
  constexpr Pfn pfn() const { return static_cast<Pfn>(raw_ >> kPfnShift); }
  constexpr uint64_t swap_value() const { return raw_ >> 2; }
  constexpr bool readable() const { return raw_ & kRead; }
  constexpr bool writable() const { return raw_ & kWrite; }
  constexpr bool executable() const { return raw_ & kExec; }
  constexpr bool accessed() const { return raw_ & kAccessed; }
  constexpr bool dirty() const { return raw_ & kDirty; }
  constexpr bool cow() const { return raw_ & kCow; }
  constexpr bool code() const { return raw_ & kCode; }
  constexpr bool Has(uint64_t bits) const { return (raw_ & bits) == bits; }

  constexpr Pte With(uint64_t bits) const { return Pte(raw_ | bits); }
  constexpr Pte Without(uint64_t bits) const { return Pte(raw_ & ~bits); }

  friend constexpr bool operator==(Pte a, Pte b) { return a.raw_ == b.raw_; }

 private:
  uint64_t raw_ = 0;
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_PTE_H_
