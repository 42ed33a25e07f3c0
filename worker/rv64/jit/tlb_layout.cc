#include "worker/rv64/jit/tlb_layout.h"

#include <cstring>

namespace memmgr::rv64::jit {
namespace {

// Member pointers to private members, via an explicit instantiation (see
// the header): Get(Tag) is defined by the instantiation, which may name
// them.
template <typename Tag, typename Tag::type M>
struct Steal {
  friend typename Tag::type Get(Tag) { return M; }
};

struct AsTlb {
  using type = mmu::SoftTlb mmu::AddressSpace::*;
  friend type Get(AsTlb);
};
struct AsHits {
  using type = uint64_t mmu::AddressSpace::*;
  friend type Get(AsHits);
};
struct TlbMask {
  using type = uint64_t mmu::SoftTlb::*;
  friend type Get(TlbMask);
};

template struct Steal<AsTlb, &mmu::AddressSpace::tlb_>;
template struct Steal<AsHits, &mmu::AddressSpace::tlb_hits_>;
template struct Steal<TlbMask, &mmu::SoftTlb::mask_>;

// The table's unique_ptr has a private deleter type, so its member pointer
// cannot be named; its address is found instead as the one 8-byte word of
// the SoftTlb that holds the table's address (checked to be unique).
}  // namespace

bool TlbLayout::Resolve(mmu::AddressSpace* as, TlbLayout* out) {
  mmu::SoftTlb& tlb = as->*Get(AsTlb{});
  const mmu::SoftTlb::Entry* table = &as->TlbEntryForTest(0);
  // EntryFor(0) is entries[0]: the table's base address.
  auto* words = reinterpret_cast<unsigned char*>(&tlb);
  mmu::SoftTlb::Entry* const* found = nullptr;
  for (size_t off = 0; off + sizeof(void*) <= sizeof(mmu::SoftTlb);
       off += alignof(void*)) {
    const mmu::SoftTlb::Entry* p;
    std::memcpy(&p, words + off, sizeof(p));
    if (p == table) {
      if (found != nullptr) return false;  // ambiguous
      found = reinterpret_cast<mmu::SoftTlb::Entry* const*>(words + off);
    }
  }
  if (found == nullptr) return false;
  out->table = found;
  out->mask = &(tlb.*Get(TlbMask{}));
  out->hits = &(as->*Get(AsHits{}));
  // The mask must agree with the table size the TLB reports.
  return *out->mask + 1 == as->TlbSizeForTest();
}

}  // namespace memmgr::rv64::jit
