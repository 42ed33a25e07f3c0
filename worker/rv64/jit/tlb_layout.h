// TlbLayout: where the soft TLB's table pointer, index mask and hit counter
// live, so generated code can do AddressSpace::TryReadFast/TryWriteFast's
// lookup inline.
//
// These are private members of mmu::AddressSpace and mmu::SoftTlb, and
// worker/mmu/ belongs to another team; until it grows a public accessor for
// JITs, their addresses are taken with the explicit-instantiation rule
// (access checking does not apply to the template arguments of an explicit
// instantiation, [temp.spec]/6): well-defined C++, confined to this file, and
// a rename there is a compile error here, never a silent mismatch. The
// layout of the unique_ptr holding the table is checked at run time
// (Resolve fails, and the JIT is not used, if it is not a bare pointer).
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

  // False if the layout is not what this file expects.
  static bool Resolve(mmu::AddressSpace* as, TlbLayout* out);
};

}  // namespace memmgr::rv64::jit

#endif  // MEMMGR_WORKER_RV64_JIT_TLB_LAYOUT_H_
