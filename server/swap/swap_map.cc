#include "server/swap/swap_map.h"

#include <bit>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace memmgr {

SwapMap::SwapMap(uint64_t capacity)
    : capacity_(capacity),
      slots_(capacity),
      runs_(capacity),
      state_(capacity, static_cast<uint8_t>(State::kFree)),
      used_bits_((capacity + 63) / 64, 0) {
  // Bits past capacity in the last word are marked used so the scan never
  // returns them.
  if (capacity % 64 != 0) {
    used_bits_.back() = ~uint64_t{0} << (capacity % 64);
  }
}

absl::Status SwapMap::Allocate(size_t n, uint32_t owner,
                               uint64_t first_generation,
                               std::vector<uint64_t>* slots) {
  if (n > free()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("swap capacity exhausted: ", n, " slots wanted, ", free(),
                     " of ", capacity_, " free"));
  }
  MEMMGR_CHECK(n <= kMaxRunLength) << "batch of " << n << " slots";
  slots->clear();
  slots->reserve(n);
  const size_t words = used_bits_.size();
  size_t word = cursor_ >> 6;
  // At most one full lap plus the starting word: n <= free() guarantees
  // success within it.
  for (size_t scanned = 0; slots->size() < n && scanned <= words; ++scanned) {
    uint64_t freebits = ~used_bits_[word];
    while (freebits != 0 && slots->size() < n) {
      const int bit = std::countr_zero(freebits);
      freebits &= freebits - 1;
      const uint64_t s = (static_cast<uint64_t>(word) << 6) | bit;
      used_bits_[word] |= uint64_t{1} << bit;
      state_[s] = static_cast<uint8_t>(State::kAllocating);
      slots_[s] = Slot{first_generation + slots->size(), owner, 1};
      slots->push_back(s);
    }
    if (slots->size() < n) word = (word + 1) % words;
  }
  MEMMGR_CHECK(slots->size() == n) << "free count and bitmap disagree";
  // Maximal runs of neighbouring slots, in batch order.
  for (size_t begin = 0; begin < n;) {
    size_t end = begin + 1;
    while (end < n && (*slots)[end] == (*slots)[end - 1] + 1) ++end;
    for (size_t i = begin; i < end; ++i) {
      runs_[(*slots)[i]] = RunPos{static_cast<uint16_t>(i - begin),
                                  static_cast<uint16_t>(end - begin)};
    }
    begin = end;
  }
  used_ += n;
  cursor_ = (slots->back() + 1) % capacity_;
  return absl::OkStatus();
}

absl::Status SwapMap::RestoreLive(uint64_t slot, const Slot& value,
                                  RunPos run) {
  if (slot >= capacity_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "stored slot ", slot, " is beyond the swap capacity of ", capacity_,
        " pages; restart with a --swap_capacity above it"));
  }
  if (IsUsed(slot)) {
    return absl::DataLossError(absl::StrCat("slot ", slot, " restored twice"));
  }
  if (run.length == 0 || run.length > kMaxRunLength ||
      run.offset >= run.length) {
    return absl::DataLossError(absl::StrCat("slot ", slot, " at position ",
                                            run.offset, " of a run of ",
                                            run.length));
  }
  used_bits_[slot >> 6] |= uint64_t{1} << (slot & 63);
  state_[slot] = static_cast<uint8_t>(State::kLive);
  slots_[slot] = value;
  runs_[slot] = run;
  ++used_;
  return absl::OkStatus();
}

absl::Status SwapMap::CheckOwned(const SwapEntry& entry, uint32_t owner) const {
  if (entry.slot >= capacity_) {
    return absl::InvalidArgumentError(
        absl::StrCat("slot ", entry.slot,
                     " is outside the swap area (capacity ", capacity_, ")"));
  }
  const Slot& s = slots_[entry.slot];
  if (state(entry.slot) != State::kLive || s.generation != entry.generation) {
    return absl::NotFoundError(absl::StrCat("no page at slot ", entry.slot,
                                            " generation ", entry.generation,
                                            " (freed or stale entry)"));
  }
  if (s.owner != owner) {
    return absl::PermissionDeniedError(
        absl::StrCat("slot ", entry.slot, " belongs to another lease"));
  }
  return absl::OkStatus();
}

void SwapMap::SetState(uint64_t slot, State state) {
  MEMMGR_DCHECK(state != State::kFree) << "use Release()";
  state_[slot] = static_cast<uint8_t>(state);
}

void SwapMap::Release(uint64_t slot) {
  MEMMGR_DCHECK(IsUsed(slot));
  used_bits_[slot >> 6] &= ~(uint64_t{1} << (slot & 63));
  state_[slot] = static_cast<uint8_t>(State::kFree);
  slots_[slot] = Slot{};
  runs_[slot] = RunPos{};
  --used_;
}

}  // namespace memmgr
