// Clock: the one seam to wall time, so lease expiry and deadlines can be
// tested with a manual clock instead of sleeps.
//
// Thread-safety: implementations are safe for concurrent use.
#ifndef MEMMGR_COMMON_CLOCK_H_
#define MEMMGR_COMMON_CLOCK_H_

#include <atomic>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace memmgr {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // The process-wide real clock.
  static Clock* Real();
};

// A clock that moves only when told to. Safe for concurrent use.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::UnixEpoch() + absl::Hours(1))
      : now_ns_(absl::ToUnixNanos(start)) {}
  absl::Time Now() const override {
    return absl::FromUnixNanos(now_ns_.load(std::memory_order_acquire));
  }
  void Advance(absl::Duration d) {
    now_ns_.fetch_add(absl::ToInt64Nanoseconds(d), std::memory_order_acq_rel);
  }

 private:
  std::atomic<int64_t> now_ns_;
};

}  // namespace memmgr

#endif  // MEMMGR_COMMON_CLOCK_H_
