// MemCgroup: a memory budget shared by several address spaces, the
// memory.max of a cgroup. A sandbox's processes (guest fork() children)
// charge one MemCgroup, so `--memory` limits the sandbox, not each process;
// each fork of a snapshot gets its own.
//
// What is charged: every address space in the group adds its resident
// frames (ptes mapping a frame other than the zero page) and its page-table
// pages, counted as if they were private. Frames shared copy-on-write with
// a parent or a snapshot count in full for every sharer, as the kernel's
// rss does; the memcg difference (a page is charged once, to whoever
// faulted it in) would make a fork's budget depend on what its siblings do.
//
// Charging never fails by itself: Charge() is bookkeeping, called after the
// fact. The address space checks WouldExceed() before it takes a frame or a
// table, and fails the access with FaultReason::kMemoryLimit (the memcg
// OOM), so the limit holds at every allocation point.
//
// Thread-safety: counters are atomics. The address spaces of one group run
// on one thread at a time (one sandbox), but a group may be released from
// another (a snapshot dropped by an RPC thread).
#ifndef MEMMGR_WORKER_MMU_MEM_CGROUP_H_
#define MEMMGR_WORKER_MMU_MEM_CGROUP_H_

#include <atomic>
#include <cstdint>

namespace memmgr::mmu {

class MemCgroup {
 public:
  // limit_pages 0 = no limit (accounting only).
  explicit MemCgroup(uint64_t limit_pages) : limit_pages_(limit_pages) {}
  MemCgroup(const MemCgroup&) = delete;
  MemCgroup& operator=(const MemCgroup&) = delete;

  uint64_t limit_pages() const { return limit_pages_; }
  uint64_t usage_pages() const {
    return usage_.load(std::memory_order_relaxed);
  }
  uint64_t peak_pages() const { return peak_.load(std::memory_order_relaxed); }
  // Allocations refused at the limit (memory.events "max").
  uint64_t limit_hits() const {
    return limit_hits_.load(std::memory_order_relaxed);
  }

  // Adds `delta` pages (negative: uncharge).
  void Charge(int64_t delta) {
    const uint64_t now = usage_.fetch_add(static_cast<uint64_t>(delta),
                                          std::memory_order_relaxed) +
                         static_cast<uint64_t>(delta);
    uint64_t peak = peak_.load(std::memory_order_relaxed);
    while (now > peak &&
           !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  // Would `extra` more pages on top of the usage plus `pending` (pages an
  // address space holds but has not charged yet) pass the limit? Counts a
  // refusal when it would.
  bool WouldExceed(uint64_t pending, uint64_t extra) {
    if (limit_pages_ == 0) return false;
    if (usage_pages() + pending + extra <= limit_pages_) return false;
    limit_hits_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

 private:
  const uint64_t limit_pages_;
  std::atomic<uint64_t> usage_{0};
  std::atomic<uint64_t> peak_{0};
  std::atomic<uint64_t> limit_hits_{0};
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_MEM_CGROUP_H_
