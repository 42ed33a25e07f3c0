// SwapMap: the in-memory swap_map of the cluster swap area — per slot the
// sharer count (Linux's swap_map[] byte), the generation the slot was last
// allocated with, its owner lease, and an allocation state — plus a next-fit
// slot allocator over a bitmap (like scan_swap_map's cluster_next), so one
// batch usually gets neighbouring slots and swap-in readahead stays cheap.
//
// Runs: the slots of one batch split into maximal runs of neighbouring slots
// (a batch that wraps around or skips used slots has several). A batch's
// generations are consecutive in batch order, so within a run slot
// first_slot+i has generation first_generation+i. The store persists one
// metadata record per run; the map remembers each slot's position in its run
// (offset, length) so the run can be found and rewritten from any slot.
//
// Thread-safety: not thread-safe; SwapStore guards it with its mutex.
#ifndef MEMMGR_SERVER_SWAP_SWAP_MAP_H_
#define MEMMGR_SERVER_SWAP_SWAP_MAP_H_

#include <bit>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "server/swap/swap_entry.h"

namespace memmgr {

class SwapMap {
 public:
  enum class State : uint8_t {
    kFree = 0,
    kAllocating,  // handed to a SwapOut whose write is not yet durable
    kLive,        // readable; count >= 1
    kFreeing,     // count hit 0; its delete is not yet durable
  };

  struct Slot {
    uint64_t generation = 0;
    uint32_t owner = 0;  // lease number
    uint32_t count = 0;  // sharers (swap_map count)
  };
  // A slot's place in the run it was allocated in. Kept beside Slot (not in
  // it) so the per-slot cost grows by 4 bytes rather than by 8 of padding.
  struct RunPos {
    uint16_t offset = 0;  // slot - first slot of the run
    uint16_t length = 0;  // slots in the run (1..kMaxRunSlots)
  };
  // Runs are at most one batch long; RunPos holds up to this many.
  static constexpr size_t kMaxRunLength = 4096;

  explicit SwapMap(uint64_t capacity);

  uint64_t capacity() const { return capacity_; }
  // Slots in any state but kFree.
  uint64_t used() const { return used_; }
  uint64_t free() const { return capacity_ - used_; }

  // Takes `n` free slots (next-fit) for `owner`, generations
  // first_generation, first_generation+1, … in batch order, count 1, state
  // kAllocating, and records their runs. RESOURCE_EXHAUSTED and nothing taken
  // when fewer than n are free. n <= kMaxRunLength.
  absl::Status Allocate(size_t n, uint32_t owner, uint64_t first_generation,
                        std::vector<uint64_t>* slots);

  // Restores a live slot read back from storage on restart, at position
  // `run` of its run.
  absl::Status RestoreLive(uint64_t slot, const Slot& value, RunPos run);

  // Checks that `entry` names a live slot of `owner`:
  //   slot out of range            -> INVALID_ARGUMENT
  //   free / freeing / allocating  -> NOT_FOUND
  //   generation mismatch (stale)  -> NOT_FOUND
  //   another owner                -> PERMISSION_DENIED
  absl::Status CheckOwned(const SwapEntry& entry, uint32_t owner) const;

  State state(uint64_t slot) const { return static_cast<State>(state_[slot]); }
  const Slot& slot(uint64_t slot) const { return slots_[slot]; }
  Slot& mutable_slot(uint64_t slot) { return slots_[slot]; }
  const RunPos& run(uint64_t slot) const { return runs_[slot]; }
  // The run of a used slot: its first slot and first generation.
  uint64_t run_first_slot(uint64_t slot) const {
    return slot - runs_[slot].offset;
  }
  uint64_t run_first_generation(uint64_t slot) const {
    return slots_[slot].generation - runs_[slot].offset;
  }
  // Whether `slot` is used and still holds position `offset` of the run
  // that started with generation first_generation (generations are never
  // reissued, so a slot freed and reused by another run never matches).
  bool InRun(uint64_t slot, uint64_t first_generation, uint64_t offset) const {
    return slot < capacity_ && state(slot) != State::kFree &&
           slots_[slot].generation == first_generation + offset;
  }

  void SetState(uint64_t slot, State state);

  // Calls fn(slot) for every slot not kFree, in slot order. Skips free
  // 64-slot words at a time, so a sparse map is cheap to walk.
  template <typename Fn>
  void ForEachUsed(Fn fn) const {
    for (size_t w = 0; w < used_bits_.size(); ++w) {
      uint64_t bits = used_bits_[w];
      while (bits != 0) {
        const uint64_t s = (uint64_t{w} << 6) | std::countr_zero(bits);
        bits &= bits - 1;
        if (s < capacity_) fn(s);
      }
    }
  }
  // kAllocating/kFreeing -> kFree: the slot can be handed out again.
  void Release(uint64_t slot);

 private:
  bool IsUsed(uint64_t slot) const {
    return (used_bits_[slot >> 6] >> (slot & 63)) & 1;
  }

  const uint64_t capacity_;
  uint64_t used_ = 0;
  uint64_t cursor_ = 0;  // next-fit scan start
  std::vector<Slot> slots_;
  std::vector<RunPos> runs_;
  std::vector<uint8_t> state_;       // State per slot
  std::vector<uint64_t> used_bits_;  // 1 = not kFree
};

}  // namespace memmgr

#endif  // MEMMGR_SERVER_SWAP_SWAP_MAP_H_
