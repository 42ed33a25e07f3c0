// Sandbox: one guest program and the processes it forks. It runs on a
// FramePool (its own, or one shared with other sandboxes), and owns per
// process an AddressSpace, a CpuState and an Interpreter; it implements the
// Linux riscv64 syscall subset (syscalls.cc) and enforces the limits.
//
//   Sandbox::Create(options, io)   validates options, loads the ELF (loader/)
//   RunFor(n)                      runs about n instructions, then returns
//   Run()                          RunFor until the sandbox finishes
//   TakeSnapshot() / ForkFrom()    snapshots and forks of them (snapshot.h)
//
// Processes are scheduled round-robin in slices of instructions; a process
// blocked in wait4 is skipped until a child exits. There are no threads
// (clone with anything but fork's flags is EINVAL) and no async signals;
// a process blocked on a pipe re-executes its read/write when it can go on.
//
// Stop statuses are shell-like: a guest exit gives its code; a guest killed
// by a fault gives 128 + the signal Linux would send (SIGSEGV, SIGILL,
// SIGTRAP, SIGBUS, SIGKILL for out-of-memory); a limit gives 128 + SIGXCPU
// (instructions, timeout) or 128 + SIGXFSZ (output), like RLIMIT_CPU and
// RLIMIT_FSIZE would. `reason` says which, in one line.
//
// Thread-safety: not thread-safe; external synchronisation required. A
// sandbox is run by one thread at a time (the caller guarantees it: an
// executor hands a sandbox to one thread per slice); it may move between
// threads from one RunFor to the next. Sandboxes sharing a FramePool may run
// on different threads at once (the pool and frame refcounts are
// thread-safe), and so may forks of one Snapshot.
#ifndef MEMMGR_WORKER_SANDBOX_SANDBOX_H_
#define MEMMGR_WORKER_SANDBOX_SANDBOX_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/mmu/address_space.h"
#include "worker/mmu/frame_pool.h"
#include "worker/rv64/cpu_state.h"
#include "worker/rv64/interpreter.h"
#include "worker/sandbox/guest_io.h"

namespace memmgr::sandbox {

struct SandboxOptions {
  std::string program_path;       // for messages and AT_EXECFN
  std::string program;            // the ELF file's bytes
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> envp;  // exactly the guest's environment
  // Files the guest may open (read-only): guest path -> contents.
  std::map<std::string, std::string> files;
  // With its own pool: the pool's size. Always: the sandbox's memory
  // limit, one budget for all its processes (an mmu::MemCgroup: the frames
  // they map, shared ones counted for each, plus page tables), and the
  // largest single writable request (ENOMEM above). On a shared pool the
  // pool bounds the sum over sandboxes.
  uint64_t memory_bytes = 256 << 20;
  // Swap behind the frame pool (0 = none): with it a single mmap may ask
  // for up to memory_bytes + swap_bytes (the overcommit guess's RAM+swap).
  uint64_t swap_bytes = 0;
  uint64_t stack_bytes = 8 << 20;                 // RLIMIT_STACK
  uint64_t limit_instructions = 0;                // 0 = none
  uint64_t limit_output_bytes = 0;                // stdout + stderr; 0 = none
  absl::Duration timeout = absl::ZeroDuration();  // wall clock; 0 = none
  int max_processes = 64;
  // AT_RANDOM and getrandom: host entropy unless a seed is given.
  bool deterministic_random = false;
  uint64_t random_seed = 0;
  int numa_node = -1;  // of its own pool; a shared pool is bound already
  // Run guest code through the template JIT (worker/rv64/jit/jit.h); off:
  // the interpreter alone.
  bool jit = false;
};

enum class ExitKind {
  kExited,    // exit/exit_group
  kSignaled,  // killed by a fault (signal)
  kLimit,     // an instruction / output / time limit
};

struct ExitStatus {
  ExitKind kind = ExitKind::kExited;
  int code = 0;        // kExited: the guest's status (0..255)
  int signal = 0;      // kSignaled / kLimit: the signal
  std::string reason;  // one line, empty for a normal exit
  // The status a shell would report: code, or 128 + signal.
  int ShellStatus() const {
    return kind == ExitKind::kExited ? code : 128 + signal;
  }
};

struct SandboxStats {
  uint64_t instructions = 0;
  absl::Duration cpu_time;   // time spent running guest code
  mmu::MmuStats mmu;         // summed over every process that ran
  uint64_t peak_frames = 0;  // frame pool high-water mark
  uint64_t syscalls = 0;
  std::map<uint64_t, uint64_t> unknown_syscalls;  // number -> count
  uint64_t processes = 0;  // created, including the first
  uint64_t decoded_instructions = 0;
  uint64_t output_bytes = 0;
};

// What RunFor() stopped at.
enum class RunState {
  kRunnable,           // the budget ran out; call RunFor again
  kIdle,               // nothing can run for `wake_in` (every process sleeps)
  kSnapshotRequested,  // a guest asked for a snapshot (memmgr_snapshot()):
                       // TakeSnapshot() now captures that point
  kFinished,           // exit_status() is final
  // Nothing can run until a page comes from the swap device (only with
  // SetPageReadyCallback): the callback says when; `wake_in` bounds the
  // wait (a sleeper's wake-up, or a 1 s fallback).
  kPageWait,
};

struct RunResult {
  RunState state = RunState::kRunnable;
  // kIdle: time until the first sleeper wakes (or the timeout, whichever is
  // first); the caller may park the sandbox that long. Zero otherwise.
  absl::Duration wake_in;
};

// What a fork of a snapshot gets of its own (Sandbox::ForkFrom).
struct ForkOptions {
  // Required: the fork's stdin/stdout/stderr. Must outlive the fork.
  GuestIo* io = nullptr;
  // The guest sees "fork `index` of `count`": memmgr_snapshot() returns
  // `index` when the snapshot was guest-requested, memmgr_fork_info() both.
  // 1 <= index <= count <= kMaxForkCount.
  uint64_t index = 1;
  uint64_t count = 1;
  // Per-fork arguments the guest reads with memmgr_fork_arg() (its argv is
  // frozen on its stack at the snapshot and stays as it was). At most
  // kMaxForkArgs strings, kMaxForkArgBytes in total.
  std::vector<std::string> args;
  // Limits of the fork's own run, counted from the fork point; unset =
  // the snapshotted sandbox's. memory_bytes is the fork's own budget (its
  // own MemCgroup); it starts charged with everything the snapshot maps,
  // so it must be at least that (else RESOURCE_EXHAUSTED) and at least
  // 1 MiB.
  std::optional<uint64_t> memory_bytes;
  std::optional<uint64_t> limit_instructions;
  std::optional<uint64_t> limit_output_bytes;
  std::optional<absl::Duration> timeout;
};

struct OpenFile;
class Snapshot;

class Sandbox {
 public:
  static constexpr uint64_t kMaxForkCount = 1 << 20;
  static constexpr size_t kMaxForkArgs = 1024;
  static constexpr size_t kMaxForkArgBytes = 1 << 20;

  // The option checks Create() starts with (INVALID_ARGUMENT naming the
  // option), for callers that report bad options apart from bad programs.
  static absl::Status ValidateOptions(const SandboxOptions& options);
  // Validates the options and loads the program: INVALID_ARGUMENT /
  // FAILED_PRECONDITION with the loader's message for a bad ELF. `pool`:
  // the frames to run on, shared with whoever else holds it; nullptr = a
  // pool of its own, options.memory_bytes large.
  static absl::StatusOr<std::unique_ptr<Sandbox>> Create(
      SandboxOptions options, GuestIo* io,
      std::shared_ptr<mmu::FramePool> pool = nullptr);
  ~Sandbox();

  // Runs at most about `max_instructions` guest instructions (all processes
  // together; a slice may overshoot by one straight-line run inside a page)
  // and returns what stopped it. Returns at once with kIdle when every live
  // process sleeps (never sleeps the calling thread; a read of stdin does
  // block in GuestIo::Read, up to the timeout). The timeout runs from the
  // first RunFor, in wall-clock time, parked or not. max_instructions 0 is
  // taken as 1.
  RunResult RunFor(uint64_t max_instructions);
  // Runs until the first process exits or is killed, or a limit is hit:
  // RunFor in slices, sleeping the thread while the sandbox is idle, and
  // carrying on past snapshot requests (memmgr_snapshot() returns the
  // sandbox's fork index, 0 for an original).
  ExitStatus Run();
  bool finished() const { return done_; }
  // Valid once finished().
  const ExitStatus& exit_status() const { return exit_status_; }

  // Freezes the sandbox as it is now (see snapshot.h for what is frozen);
  // it may keep running afterwards. Call between RunFor calls.
  // FAILED_PRECONDITION for a finished sandbox, more than one process
  // (children and zombies included), or an open pipe.
  absl::StatusOr<std::shared_ptr<const Snapshot>> TakeSnapshot();
  // A new sandbox that resumes where `snapshot` was taken, on the
  // snapshot's frame pool, with its own address space (a CoW fork of the
  // snapshot's), interpreter and decode cache. INVALID_ARGUMENT for a null
  // snapshot or bad ForkOptions. Thread-safe for concurrent calls on one
  // snapshot.
  static absl::StatusOr<std::unique_ptr<Sandbox>> ForkFrom(
      std::shared_ptr<const Snapshot> snapshot, ForkOptions options);

  // Parking (the worker service's executors): a guest instruction that
  // faults on a page that must come from the swap device does not block
  // the calling thread; the read runs on the reclaimer's I/O threads, the
  // process waits (other processes of the sandbox run on), and RunFor
  // returns kPageWait when nothing else can run. `ready` runs on an I/O
  // thread whenever such a page has come in (call RunFor again). Syscalls
  // still wait in place. Call before the first RunFor; no effect without a
  // reclaimer on the pool. `ready` may run after the sandbox is gone (it
  // must not reference the sandbox), until the reclaimer's StopSwapIns().
  void SetPageReadyCallback(std::function<void()> ready);

  SandboxStats stats() const;
  // Pages charged to the sandbox's budget now, and its limit.
  uint64_t memory_usage_pages() const { return memcg_->usage_pages(); }
  uint64_t memory_limit_pages() const { return memcg_->limit_pages(); }
  const std::shared_ptr<mmu::FramePool>& pool() const { return pool_; }
  // 0 for a sandbox made by Create(); i for fork i of ForkFrom.
  uint64_t fork_index() const { return fork_index_; }

 private:
  struct Process;
  enum class SyscallResult { kContinue, kBlocked, kSleep, kExit };

  Sandbox(SandboxOptions options, GuestIo* io);
  absl::Status Load(std::shared_ptr<mmu::FramePool> pool);
  // One process's slice of at most `budget` instructions and the stop that
  // ended it (syscall, fault, limit checks).
  void RunSlice(Process& p, uint64_t budget);
  // Instructions the limit still allows (the limit counts from the fork
  // point); UINT64_MAX without a limit.
  uint64_t InstructionsLeft() const;
  // One syscall of `p` (a7 and a0..a5 in its registers).
  SyscallResult Syscall(Process& p);
  void Exit(Process& p, ExitStatus status);
  bool TryCompleteWait(Process& parent);
  // Completes the wait4 of every waiting process that has a zombie child.
  void WakeWaiters();
  void Retire(Process& p);  // sums its stats and frees its memory
  bool OverTimeout() const;
  // Ends the sandbox with ExitKind::kLimit (128 + signal) and `reason`.
  void StopForLimit(int signal, std::string reason);
  void StopForTimeout();

  // syscalls.cc
  int64_t SysRead(Process& p, int fd, uint64_t buf, uint64_t len);
  int64_t SysWrite(Process& p, int fd, uint64_t buf, uint64_t len);
  int64_t SysReadv(Process& p, int fd, uint64_t iov, uint64_t cnt);
  int64_t SysWritev(Process& p, int fd, uint64_t iov, uint64_t cnt);
  int64_t SysOpenat(Process& p, int64_t dirfd, uint64_t path, int64_t flags);
  int64_t SysClose(Process& p, int fd);
  int64_t SysPipe2(Process& p, uint64_t fds, int64_t flags);
  int64_t PipeWrite(Process& p, OpenFile& f, uint64_t buf, uint64_t len);
  int64_t SysLseek(Process& p, int fd, int64_t off, int whence);
  int64_t SysFstat(Process& p, int fd, uint64_t buf);
  int64_t SysNewfstatat(Process& p, int64_t dirfd, uint64_t path, uint64_t buf,
                        int64_t flags);
  int64_t SysIoctl(Process& p, int fd, uint64_t req, uint64_t arg);
  int64_t SysMmap(Process& p, uint64_t addr, uint64_t len, uint64_t prot,
                  uint64_t flags, int64_t fd, uint64_t off);
  int64_t SysMunmap(Process& p, uint64_t addr, uint64_t len);
  int64_t SysMprotect(Process& p, uint64_t addr, uint64_t len, uint64_t prot);
  int64_t SysMremap(Process& p, uint64_t old_addr, uint64_t old_len,
                    uint64_t new_len, uint64_t flags, uint64_t new_addr);
  int64_t SysMadvise(Process& p, uint64_t addr, uint64_t len, int64_t advice);
  int64_t SysBrk(Process& p, uint64_t addr);
  // One writable request larger than the sandbox's memory (ENOMEM).
  bool ExceedsCommitLimit(uint64_t bytes) const;
  int64_t SysClockGettime(Process& p, int64_t clock, uint64_t ts);
  int64_t SysGettimeofday(Process& p, uint64_t tv);
  int64_t SysNanosleep(Process& p, uint64_t req, uint64_t rem);
  int64_t SysGetrandom(Process& p, uint64_t buf, uint64_t len, uint64_t flags);
  int64_t SysUname(Process& p, uint64_t buf);
  int64_t SysPrlimit(Process& p, int64_t pid, int64_t res, uint64_t new_limit,
                     uint64_t old_limit);
  int64_t SysRtSigaction(Process& p, int64_t sig, uint64_t act, uint64_t oact,
                         uint64_t size);
  int64_t SysRtSigprocmask(Process& p, int64_t how, uint64_t set, uint64_t oset,
                           uint64_t size);
  int64_t SysClone(Process& p, uint64_t flags, uint64_t stack);
  int64_t SysKill(Process& p, int64_t pid, int64_t sig);
  int64_t SysRseq(Process& p, uint64_t rseq, uint64_t len, int64_t flags,
                  uint64_t sig);
  // Drops decoded code in [addr, addr + len) (saturating).
  void InvalidateCode(Process& p, uint64_t addr, uint64_t len);
  int64_t SysWait4(Process& p, int64_t pid, uint64_t status, int64_t options,
                   uint64_t rusage, SyscallResult* result);
  // snapshot.cc: the memmgr syscalls (docs/worker-execution.md).
  int64_t SysMemmgrSnapshot(Process& p, uint64_t flags);
  int64_t SysMemmgrForkInfo(Process& p, uint64_t info, uint64_t size);
  int64_t SysMemmgrForkArg(Process& p, uint64_t index, uint64_t buf,
                           uint64_t len);

  // Copies for syscalls: false (the caller returns -EFAULT) on a bad pointer.
  bool CopyIn(Process& p, uint64_t va, void* dst, uint64_t len);
  bool CopyOut(Process& p, uint64_t va, const void* src, uint64_t len);
  // A NUL-terminated guest string of at most `max` bytes.
  bool CopyInString(Process& p, uint64_t va, uint64_t max, std::string* out);
  void FillRandom(void* buf, size_t len);
  // Emits output subject to the output limit; false if the limit stopped it.
  int64_t EmitOutput(Process& p, int fd, absl::string_view data);

  SandboxOptions options_;
  GuestIo* const io_;
  // Declared before every address space: the pool outlives them.
  std::shared_ptr<mmu::FramePool> pool_;
  // The sandbox's memory budget, charged by every process's address space.
  std::shared_ptr<mmu::MemCgroup> memcg_;
  std::shared_ptr<const mmu::GuestImage> image_;
  // options_.files as images: every open and mmap shares one copy.
  std::map<std::string, std::shared_ptr<const mmu::GuestImage>> files_;
  std::map<int64_t, std::unique_ptr<Process>> processes_;  // by pid
  int64_t next_pid_ = 1000;
  bool done_ = false;
  bool wake_waiters_ = false;  // a process exited since the last WakeWaiters
  ExitStatus exit_status_;
  bool started_ = false;  // start_ is set (the first RunFor)
  absl::Time start_;
  int64_t next_to_run_ = 0;  // round-robin cursor: the lowest pid to run next
  uint64_t rng_state_ = 0;
  SandboxStats stats_;
  // The limits count from here: zero for an original, the snapshot's
  // totals for a fork (whose stats_ start at the snapshot's).
  uint64_t instructions_base_ = 0;
  uint64_t output_base_ = 0;
  // Snapshots and forks (snapshot.cc).
  bool snapshot_requested_ = false;  // set by memmgr_snapshot() in Syscall
  // RunFor last returned kSnapshotRequested and nothing ran since: a
  // snapshot taken now is at the guest's request point.
  bool at_snapshot_request_ = false;
  uint64_t fork_index_ = 0;
  uint64_t fork_count_ = 0;
  std::vector<std::string> fork_args_;
  mmu::MmuStats retired_mmu_;
  uint64_t retired_decoded_ = 0;
  // Parking (SetPageReadyCallback). Shared with the queued reads, which
  // may outlive the sandbox: `arrived` counts pages come in.
  struct PageWait {
    std::atomic<uint64_t> arrived{0};
    std::function<void()> ready;
  };
  std::shared_ptr<PageWait> page_wait_;
  std::function<void()> park_hook_;  // the address spaces' park hook
};

}  // namespace memmgr::sandbox

#endif  // MEMMGR_WORKER_SANDBOX_SANDBOX_H_
