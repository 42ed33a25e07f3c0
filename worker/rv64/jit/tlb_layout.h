// TlbLayout: where the soft TLB's table pointer, index mask and hit counter
// live, so generated code can do AddressSpace::TryReadFast/TryWriteFast's
// lookup inline.
//
// The addresses come from mmu::AddressSpace::TlbViewForJit(), the MMU's
// interface for generated code.
#ifndef MEMMGR_WORKER_RV64_JIT_TLB_LAYOUT_H_
#define MEMMGR_WORKER_RV64_JIT_TLB_LAYOUT_H_

#include <cstdint>

#include "worker/mmu/address_space.h"

namespace memmgr::rv64::jit {

struct TlbLayout {
  // Host addresses, valid for the AddressSpace's lifetime. The table
  // pointer and mask change when the TLB resizes: generated code reloads
  // them from these addresses on every access.
  mmu::SoftTlb::Entry* const* table = nullptr;
  const uint64_t* mask = nullptr;
  uint64_t* hits = nullptr;

  // False if the view is inconsistent (then the JIT is not used).
  static bool Resolve(mmu::AddressSpace* as, TlbLayout* out);
};

}  // namespace memmgr::rv64::jit

#endif  // MEMMGR_WORKER_RV64_JIT_TLB_LAYOUT_H_
