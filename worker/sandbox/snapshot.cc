// Snapshots and forks of sandboxes (snapshot.h), and the memmgr syscalls a
// guest uses to ask for a snapshot and to learn which fork it is
// (docs/worker-execution.md has the ABI).
#include "worker/sandbox/snapshot.h"

#include <errno.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/byte_size.h"
#include "common/status_util.h"
#include "worker/sandbox/process.h"

namespace memmgr::sandbox {
namespace {

int64_t Err(int e) { return -static_cast<int64_t>(e); }

// struct memmgr_fork_info (tests/guest/include/memmgr_guest.h).
struct GuestForkInfo {
  uint64_t index;
  uint64_t count;
  uint64_t nargs;
};
static_assert(sizeof(GuestForkInfo) == 24);

}  // namespace

Snapshot::~Snapshot() = default;

absl::StatusOr<std::unique_ptr<mmu::AddressSpace>> Snapshot::ForkAddressSpace(
    std::shared_ptr<mmu::MemCgroup> memcg) const {
  // Only reads the frozen address space: safe from any number of threads.
  return as_->ForkFrozen(std::move(memcg));
}

absl::StatusOr<std::shared_ptr<const Snapshot>> Sandbox::TakeSnapshot() {
  if (done_) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "snapshot: the sandbox has finished (%s)",
        exit_status_.reason.empty()
            ? absl::StrFormat("exit status %d", exit_status_.code)
            : exit_status_.reason));
  }
  if (processes_.size() != 1) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "snapshot: the sandbox has %d processes (children and zombies "
        "count); only a single-process sandbox can be snapshotted",
        processes_.size()));
  }
  Process& p = *processes_.begin()->second;
  for (const auto& [fd, f] : p.files) {
    if (f.pipe != nullptr) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "snapshot: fd %d is a pipe; a sandbox with open pipes cannot be "
          "snapshotted",
          fd));
    }
  }
  if (p.state != Process::State::kRunnable &&
      p.state != Process::State::kSleeping &&
      p.state != Process::State::kPageWait) {
    // Blocked in wait4 or on a pipe: impossible without children or pipes.
    return absl::FailedPreconditionError(
        "snapshot: the process is blocked in a syscall");
  }
  // The frozen copy gets a budget of its own (accounting only): it must not
  // eat into the sandbox's, which keeps running.
  auto as = p.as->Fork(std::make_shared<mmu::MemCgroup>(0));
  if (!as.ok()) return as.status();

  std::shared_ptr<Snapshot> snap(new Snapshot());
  snap->pool_ = pool_;
  snap->options_ = options_;
  snap->image_ = image_;
  snap->files_ = files_;
  snap->process_ = static_cast<const ProcessState&>(p);
  // Parked on a page: the fork re-executes the access and faults it in.
  if (p.state == Process::State::kPageWait) {
    snap->process_.state = Process::State::kRunnable;
  }
  // An LR reservation does not survive a trap into the host; a fork that
  // resumes with an SC must retry, as after any context switch.
  snap->process_.cpu.reservation = rv64::kNoReservation;
  if (p.state == Process::State::kSleeping) {
    snap->sleep_left_ = std::max(p.wake_at - absl::Now(), absl::ZeroDuration());
  }
  snap->guest_requested_ = at_snapshot_request_;
  snap->rng_state_ = rng_state_;
  snap->next_pid_ = next_pid_;
  snap->stats_ = stats();
  snap->resident_pages_ = (*as)->GetStats().rss_pages;
  snap->charged_pages_ =
      snap->resident_pages_ + (*as)->GetStats().page_table_pages;
  snap->as_ = std::move(*as);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::ForkFrom(
    std::shared_ptr<const Snapshot> snapshot, ForkOptions fork) {
  if (snapshot == nullptr) {
    return absl::InvalidArgumentError("fork: no snapshot");
  }
  if (fork.io == nullptr) return absl::InvalidArgumentError("fork: no GuestIo");
  if (fork.count < 1 || fork.count > kMaxForkCount) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "fork: count %d must be between 1 and %d", fork.count, kMaxForkCount));
  }
  if (fork.index < 1 || fork.index > fork.count) {
    return absl::InvalidArgumentError(
        absl::StrFormat("fork: index %d must be between 1 and the count %d",
                        fork.index, fork.count));
  }
  if (fork.args.size() > kMaxForkArgs) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "fork: %d args, at most %d", fork.args.size(), kMaxForkArgs));
  }
  size_t arg_bytes = 0;
  for (const std::string& a : fork.args) arg_bytes += a.size();
  if (arg_bytes > kMaxForkArgBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "fork: args total %d bytes, at most %d", arg_bytes, kMaxForkArgBytes));
  }
  if (fork.timeout.has_value() && *fork.timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("fork: timeout must not be negative");
  }
  SandboxOptions options = snapshot->options_;
  if (fork.memory_bytes.has_value()) {
    if (*fork.memory_bytes < (1 << 20)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("fork: memory %s is below the minimum of 1M",
                          FormatByteSize(*fork.memory_bytes)));
    }
    options.memory_bytes = *fork.memory_bytes;
  }
  // Like the sandbox's own budget: memory plus the swap behind the pool.
  const uint64_t limit_pages =
      (options.memory_bytes + options.swap_bytes) / mmu::kPageSize;
  if (snapshot->charged_pages_ > limit_pages) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "fork: the snapshot maps %s (frames and page tables), more than the "
        "fork's memory limit of %s",
        FormatByteSize(snapshot->charged_pages_ * mmu::kPageSize),
        FormatByteSize(options.memory_bytes)));
  }
  auto memcg = std::make_shared<mmu::MemCgroup>(limit_pages);
  auto as = snapshot->ForkAddressSpace(memcg);
  if (!as.ok()) return as.status();

  if (fork.limit_instructions.has_value()) {
    options.limit_instructions = *fork.limit_instructions;
  }
  if (fork.limit_output_bytes.has_value()) {
    options.limit_output_bytes = *fork.limit_output_bytes;
  }
  if (fork.timeout.has_value()) options.timeout = *fork.timeout;
  std::unique_ptr<Sandbox> sb(new Sandbox(std::move(options), fork.io));
  sb->pool_ = snapshot->pool_;
  sb->memcg_ = std::move(memcg);
  sb->image_ = snapshot->image_;
  sb->files_ = snapshot->files_;
  sb->rng_state_ = snapshot->rng_state_;
  if (sb->options_.deterministic_random) {
    // Reproducible, and different per fork: forks of one seeded snapshot
    // must not all draw the same "random" bytes.
    sb->rng_state_ += fork.index * 0xd1b54a32d192ed03ull;
  }
  sb->next_pid_ = snapshot->next_pid_;
  // Stats go on from the snapshot's; the limits count from here.
  sb->stats_ = snapshot->stats_;
  sb->retired_mmu_ = snapshot->stats_.mmu;
  sb->retired_mmu_.rss_pages = 0;  // only live address spaces have an RSS
  sb->retired_decoded_ = snapshot->stats_.decoded_instructions;
  sb->instructions_base_ = sb->stats_.instructions;
  sb->output_base_ = sb->stats_.output_bytes;
  sb->fork_index_ = fork.index;
  sb->fork_count_ = fork.count;
  sb->fork_args_ = std::move(fork.args);

  auto p = std::make_unique<Process>();
  static_cast<ProcessState&>(*p) = snapshot->process_;
  p->as = std::move(*as);
  if (snapshot->guest_requested_) {
    // The snapshot stopped right after memmgr_snapshot()'s ecall.
    p->cpu.x[rv64::kA0] = fork.index;
  }
  if (p->state == Process::State::kSleeping) {
    p->wake_at = absl::Now() + snapshot->sleep_left_;
  }
  p->interp = std::make_unique<rv64::Interpreter>(
      p->as.get(), &p->cpu, rv64::Interpreter::Options{sb->options_.jit});
  const int64_t pid = p->pid;
  sb->processes_.emplace(pid, std::move(p));
  return sb;
}

// ---- the memmgr syscalls ----

int64_t Sandbox::SysMemmgrSnapshot(Process& p, uint64_t flags) {
  if (flags != 0) return Err(EINVAL);
  // RunFor returns kSnapshotRequested after this syscall; whoever runs the
  // sandbox decides whether to snapshot. This process (the original) sees
  // its own fork index: 0, or i if it is itself fork i of an earlier
  // snapshot; forks of a snapshot taken now see theirs (ForkFrom).
  snapshot_requested_ = true;
  return static_cast<int64_t>(fork_index_);
}

int64_t Sandbox::SysMemmgrForkInfo(Process& p, uint64_t info, uint64_t size) {
  if (size < sizeof(GuestForkInfo)) return Err(EINVAL);
  const GuestForkInfo out = {fork_index_, fork_count_, fork_args_.size()};
  return CopyOut(p, info, &out, sizeof(out)) ? 0 : Err(EFAULT);
}

int64_t Sandbox::SysMemmgrForkArg(Process& p, uint64_t index, uint64_t buf,
                                  uint64_t len) {
  if (index >= fork_args_.size()) return Err(EINVAL);
  const std::string& arg = fork_args_[index];
  const uint64_t n = std::min<uint64_t>(len, arg.size());
  if (n > 0 && !CopyOut(p, buf, arg.data(), n)) return Err(EFAULT);
  return static_cast<int64_t>(arg.size());
}

}  // namespace memmgr::sandbox
