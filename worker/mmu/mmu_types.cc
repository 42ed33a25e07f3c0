#include "worker/mmu/mmu_types.h"

namespace memmgr::mmu {

const char* AccessName(Access access) {
  switch (access) {
    case Access::kRead:
      return "read";
    case Access::kWrite:
      return "write";
    case Access::kExec:
      return "exec";
  }
  return "?";
}

const char* FaultReasonName(FaultReason reason) {
  switch (reason) {
    case FaultReason::kNone:
      return "none";
    case FaultReason::kUnmapped:
      return "unmapped address";
    case FaultReason::kProtection:
      return "protection violation";
    case FaultReason::kAddressRange:
      return "address outside the guest address space";
    case FaultReason::kSwapEntry:
      return "page is swapped out and no swap-in path is set";
    case FaultReason::kMemoryLimit:
      return "address space memory limit reached";
    case FaultReason::kOutOfMemory:
      return "node out of memory (free frames below min watermark)";
    case FaultReason::kSwapIo:
      return "the swap device failed (a page could not be swapped in or out)";
    case FaultReason::kSwapWait:
      return "waiting for a page from the swap device";
  }
  return "?";
}

int Fault::Signal() const {
  switch (reason) {
    case FaultReason::kMemoryLimit:
    case FaultReason::kOutOfMemory:
      return 9;
    case FaultReason::kSwapIo:
      return 7;
    default:
      return 11;
  }
}

}  // namespace memmgr::mmu
