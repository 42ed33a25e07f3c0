// SwapEntry: Linux's swp_entry_t for the cluster swap store — a slot in the
// swap area plus the generation the slot had when the page was stored.
#ifndef MEMMGR_SERVER_SWAP_SWAP_ENTRY_H_
#define MEMMGR_SERVER_SWAP_SWAP_ENTRY_H_

#include <cstdint>

namespace memmgr {

inline constexpr uint64_t kPageSize = 4096;

struct SwapEntry {
  uint64_t slot = 0;
  uint64_t generation = 0;

  friend bool operator==(const SwapEntry&, const SwapEntry&) = default;
};

}  // namespace memmgr

#endif  // MEMMGR_SERVER_SWAP_SWAP_ENTRY_H_
