// MmGate: the node-wide reader/writer gate between guests and reclaim —
// what mmap_lock + TLB shootdown are to Linux, for a software MMU.
//
// Every thread that touches an address space of the pool (an executor
// running a sandbox slice, a fork from a snapshot, an address space's
// construction or destruction) holds the gate shared. Reclaim (kswapd, or
// direct reclaim on behalf of a faulting sandbox) holds it exclusive while
// it rewrites ptes of other address spaces and flushes their soft TLBs:
// then no guest can be between a TLB lookup and the access it guards, so a
// frame whose ptes and TLB entries are gone is unreachable, with no IPI.
//
// Shared holds are reentrant per thread (a slice that exits a process
// destroys its address space inside the slice). A thread that must wait —
// for reclaim to free frames, for a page from the swap device — releases
// all of its shared depth (ReleaseAll), waits, and takes it back
// (Reacquire); whatever it learnt about ptes before is stale afterwards, so
// callers restart their walk (AddressSpace::Translate does; epoch() tells).
//
// Writer preference: a waiting writer stops new first-level readers, so
// kswapd gets in within one slice even under load.
//
// Thread-safety: safe for concurrent use. The gate is the outermost lock of
// the MMU: taken before any FramePool, SwapCache or Reclaimer lock.
#ifndef MEMMGR_WORKER_MMU_MM_GATE_H_
#define MEMMGR_WORKER_MMU_MM_GATE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <mutex>

namespace memmgr::mmu {

class MmGate {
 public:
  MmGate() = default;
  MmGate(const MmGate&) = delete;
  MmGate& operator=(const MmGate&) = delete;

  void LockShared() {
    int& depth = Depth();
    if (depth++ > 0) return;
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !writer_ && writers_waiting_ == 0; });
    ++readers_;
  }
  void UnlockShared() {
    int& depth = Depth();
    if (--depth > 0) return;
    std::lock_guard<std::mutex> l(mu_);
    if (--readers_ == 0 && writers_waiting_ > 0) cv_.notify_all();
  }
  // Drops every shared level this thread holds; returns how many.
  int ReleaseAll() {
    int& depth = Depth();
    const int held = depth;
    if (held > 0) {
      depth = 1;
      UnlockShared();
    }
    return held;
  }
  void Reacquire(int held) {
    if (held == 0) return;
    LockShared();
    Depth() = held;
  }
  bool HeldShared() const { return Depth() > 0; }

  void Lock() {
    std::unique_lock<std::mutex> l(mu_);
    ++writers_waiting_;
    cv_.wait(l, [&] { return !writer_ && readers_ == 0; });
    --writers_waiting_;
    writer_ = true;
  }
  void Unlock() {
    {
      std::lock_guard<std::mutex> l(mu_);
      writer_ = false;
      epoch_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
  }
  // Bumped by every exclusive section: a reader that released the gate
  // compares epochs to know whether reclaim ran meanwhile.
  uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }

  class Shared {
   public:
    explicit Shared(MmGate* gate) : gate_(gate) {
      if (gate_ != nullptr) gate_->LockShared();
    }
    ~Shared() {
      if (gate_ != nullptr) gate_->UnlockShared();
    }
    Shared(const Shared&) = delete;
    Shared& operator=(const Shared&) = delete;

   private:
    MmGate* const gate_;
  };
  class Exclusive {
   public:
    explicit Exclusive(MmGate* gate) : gate_(gate) { gate_->Lock(); }
    ~Exclusive() { gate_->Unlock(); }
    Exclusive(const Exclusive&) = delete;
    Exclusive& operator=(const Exclusive&) = delete;

   private:
    MmGate* const gate_;
  };

 private:
  // This thread's shared depth on this gate: a few slots per thread, so a
  // thread may hold the gates of several pools (tests) at once.
  int& Depth() const {
    struct Slot {
      const MmGate* gate;
      int depth;
    };
    thread_local Slot slots[4] = {};
    for (Slot& s : slots) {
      if (s.gate == this) return s.depth;
    }
    for (Slot& s : slots) {
      if (s.depth == 0) {
        s.gate = this;
        return s.depth;
      }
    }
    std::abort();  // more than 4 gates held by one thread: a bug
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int readers_ = 0;
  int writers_waiting_ = 0;
  bool writer_ = false;
  std::atomic<uint64_t> epoch_{0};
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_MM_GATE_H_
