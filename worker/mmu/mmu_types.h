// Basic types of the worker's software MMU: guest addresses, page geometry,
// protections, access kinds and the fault value every failed access returns.
//
// Guest faults are values, never exceptions: an access that cannot complete
// returns a Fault (address, access, reason) that the sandbox turns into a
// stop status (SIGSEGV-like, or OOM).
#ifndef MEMMGR_WORKER_MMU_MMU_TYPES_H_
#define MEMMGR_WORKER_MMU_MMU_TYPES_H_

#include <cstdint>

namespace memmgr::mmu {

using GuestAddr = uint64_t;
using Pfn = uint32_t;  // frame number inside one FramePool (2^32 frames max)

inline constexpr int kPageShift = 12;
inline constexpr uint64_t kPageSize = uint64_t{1} << kPageShift;
inline constexpr uint64_t kPageOffsetMask = kPageSize - 1;
inline constexpr uint64_t kPageMask = ~kPageOffsetMask;

// The page table is 4 levels x 9 bits over 4 KiB pages: 48-bit guest VAs
// (Sv48-shaped). User space is the lower half, like Linux on Sv48.
inline constexpr int kVaBits = 48;
inline constexpr GuestAddr kMaxUserVa = GuestAddr{1} << (kVaBits - 1);

constexpr GuestAddr PageDown(GuestAddr a) { return a & kPageMask; }
// Callers check for overflow first (a near 2^64 wraps to 0).
constexpr GuestAddr PageUp(GuestAddr a) {
  return (a + kPageOffsetMask) & kPageMask;
}
constexpr bool IsPageAligned(GuestAddr a) { return (a & kPageOffsetMask) == 0; }

// PROT_* values, as in Linux (and the riscv64 syscall ABI).
enum Prot : uint32_t {
  kProtNone = 0,
  kProtRead = 1,
  kProtWrite = 2,
  kProtExec = 4,
};
inline constexpr uint32_t kProtMask = kProtRead | kProtWrite | kProtExec;

enum class Access : uint8_t { kRead, kWrite, kExec };
const char* AccessName(Access access);

enum class FaultReason : uint8_t {
  kNone = 0,
  kUnmapped,      // no vma covers the address (SEGV_MAPERR)
  kProtection,    // a vma covers it but forbids this access (SEGV_ACCERR)
  kAddressRange,  // outside the guest's address space (SEGV_MAPERR)
  kSwapEntry,     // the pte holds a swap entry and no swap-in path is set
  kMemoryLimit,   // the address space is at its limit_pages (memcg OOM)
  kOutOfMemory,   // the frame pool is below its min watermark (node OOM)
  kSwapIo,        // the swap device failed: a page cannot come in or go out
  // Not a failure: the page is being read from the swap device in the
  // background (AddressSpace::SetParkHook); retry the access once the hook
  // ran. Never delivered to a guest.
  kSwapWait,
};
const char* FaultReasonName(FaultReason reason);

// What a failed access reports: the first guest byte that could not be
// accessed, how, and why.
struct Fault {
  GuestAddr address = 0;
  Access access = Access::kRead;
  FaultReason reason = FaultReason::kNone;

  // The signal a Linux process would get: SIGSEGV (11) for address faults,
  // SIGKILL (9) for the OOM reasons (the OOM killer's signal), SIGBUS (7)
  // for a page the swap device lost (Linux's VM_FAULT_SIGBUS).
  int Signal() const;
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_MMU_TYPES_H_
