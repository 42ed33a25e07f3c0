// Snapshot: a sandbox frozen at one point, to fork new sandboxes from
// (Sandbox::TakeSnapshot, Sandbox::ForkFrom). Like Firecracker's snapshot
// or a zygote after warm-up: start a program once, freeze it when it is
// warm, and fork as many copies as needed, each paying only for the pages
// it writes.
//
// What is frozen (everything a fork resumes with):
//   - the process: CPU state (x0..x31, f0..f31, pc, fflags/frm = fcsr,
//     instret; the LR reservation is dropped, as a trap would), pid/ppid,
//     signal dispositions and mask, set_tid_address, rseq, a nanosleep in
//     progress (as the time it had left), and the fd table: passed-in files
//     with their offsets (the file images are shared, never copied);
//   - the address space: a CoW fork of the sandbox's (AddressSpace::Fork():
//     every frame shared, refcounted, write-protected), with its vmas, brk
//     and limits. The snapshot's copy never runs; each fork forks it again;
//   - the sandbox: options and limits, the passed-in files, the random
//     state, the stats so far (a fork's stats start from them; its limits
//     count from the fork point), and whether the guest asked for it.
// Not frozen: the GuestIo (each fork brings its own), the decode cache
// (each fork decodes afresh), the wall clock.
//
// Only single-process sandboxes without pipes can be snapshotted (a pipe's
// other end would be in another process, or buffered bytes would have to
// be duplicated): Sandbox::TakeSnapshot says FAILED_PRECONDITION otherwise.
//
// Lifetime: refcounted (std::shared_ptr<const Snapshot>). The snapshot
// holds its FramePool; forks hold the pool and their own frame references,
// so the snapshot, the sandbox it came from and every other fork may be
// destroyed in any order.
//
// Thread-safety: immutable after TakeSnapshot returns. Forking the frozen
// address space (AddressSpace::ForkFrozen) only reads it: its page tables
// are shared copy-on-write with every fork and never written while shared,
// so ForkFrom may be called from many threads on one snapshot without a
// lock.
#ifndef MEMMGR_WORKER_SANDBOX_SNAPSHOT_H_
#define MEMMGR_WORKER_SANDBOX_SNAPSHOT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/mmu/address_space.h"
#include "worker/mmu/frame_pool.h"
#include "worker/sandbox/process.h"
#include "worker/sandbox/sandbox.h"

namespace memmgr::sandbox {

class Snapshot {
 public:
  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  const std::string& program_path() const { return options_.program_path; }
  // True if taken at a memmgr_snapshot() call (forks then see their index
  // as its return value); false if the host took it between two slices.
  bool guest_requested() const { return guest_requested_; }
  // The snapshotted sandbox's stats at that point (a fork's baseline).
  const SandboxStats& stats() const { return stats_; }
  // Frames the frozen address space maps (shared with the sandbox it came
  // from and with every fork until they write them).
  uint64_t resident_pages() const { return resident_pages_; }
  const std::shared_ptr<mmu::FramePool>& pool() const { return pool_; }
  // The frozen address space (read-only; safe to read from any thread).
  const mmu::AddressSpace& address_space() const { return *as_; }

 private:
  friend class Sandbox;
  Snapshot() = default;

  // A CoW child of the frozen address space, for one fork, charging
  // `memcg`. Thread-safe.
  absl::StatusOr<std::unique_ptr<mmu::AddressSpace>> ForkAddressSpace(
      std::shared_ptr<mmu::MemCgroup> memcg) const;

  // Declared first, destroyed last: the address space below lives in it.
  std::shared_ptr<mmu::FramePool> pool_;
  SandboxOptions options_;  // program bytes and files moved out (below)
  std::shared_ptr<const mmu::GuestImage> image_;
  std::map<std::string, std::shared_ptr<const mmu::GuestImage>> files_;
  ProcessState process_;
  // A nanosleep in progress: the fork sleeps this much longer.
  absl::Duration sleep_left_;
  bool guest_requested_ = false;
  uint64_t rng_state_ = 0;
  int64_t next_pid_ = 0;
  SandboxStats stats_;
  uint64_t resident_pages_ = 0;
  // What a fork starts charged with: resident frames + page tables.
  uint64_t charged_pages_ = 0;

  // Never run and never changed once TakeSnapshot has set it.
  std::unique_ptr<const mmu::AddressSpace> as_;
};

}  // namespace memmgr::sandbox

#endif  // MEMMGR_WORKER_SANDBOX_SNAPSHOT_H_
