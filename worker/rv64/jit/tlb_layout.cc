#include "worker/rv64/jit/tlb_layout.h"

namespace memmgr::rv64::jit {

bool TlbLayout::Resolve(mmu::AddressSpace* as, TlbLayout* out) {
  const mmu::AddressSpace::TlbView view = as->TlbViewForJit();
  out->table = view.table;
  out->mask = view.mask;
  out->hits = view.hits;
  // The mask must agree with the table size the TLB reports.
  return *out->mask + 1 == as->TlbSizeForTest();
}

}  // namespace memmgr::rv64::jit
