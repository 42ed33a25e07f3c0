#include "worker/sandbox/sandbox.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/byte_size.h"
#include "common/logging.h"
#include "common/status_util.h"
#include "worker/loader/elf_loader.h"
#include "worker/sandbox/process.h"

namespace memmgr::sandbox {
namespace {

constexpr int kSigKill = 9;
constexpr int kSigXcpu = 24;
constexpr int kSigXfsz = 25;

// Instructions per scheduling slice: ~10 ms of guest time, short enough for
// the timeout and fairness between forked processes.
constexpr uint64_t kSliceInstructions = 1 << 22;

// AT_HWCAP for RV64IMAFDC: one bit per extension letter.
constexpr uint64_t kHwcap = (1u << ('I' - 'A')) | (1u << ('M' - 'A')) |
                            (1u << ('A' - 'A')) | (1u << ('F' - 'A')) |
                            (1u << ('D' - 'A')) | (1u << ('C' - 'A'));

const char* SignalName(int sig) {
  switch (sig) {
    case 4:
      return "SIGILL";
    case 5:
      return "SIGTRAP";
    case 7:
      return "SIGBUS";
    case 9:
      return "SIGKILL";
    case 11:
      return "SIGSEGV";
    case 24:
      return "SIGXCPU";
    case 25:
      return "SIGXFSZ";
  }
  return "signal";
}

}  // namespace

Sandbox::Sandbox(SandboxOptions options, GuestIo* io)
    : options_(std::move(options)), io_(io) {}

Sandbox::~Sandbox() = default;

absl::Status Sandbox::ValidateOptions(const SandboxOptions& options) {
  if (options.argv.empty()) {
    return absl::InvalidArgumentError("sandbox: argv must include argv[0]");
  }
  if (options.memory_bytes < (1 << 20)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--memory %s is too small: a guest needs at least 1M",
                        FormatByteSize(options.memory_bytes)));
  }
  if (options.stack_bytes < (64 << 10) ||
      options.stack_bytes > options.memory_bytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--stack %s must be between 64K and the memory size %s",
                        FormatByteSize(options.stack_bytes),
                        FormatByteSize(options.memory_bytes)));
  }
  if (options.max_processes < 1 || options.max_processes > 4096) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--max_processes %d must be between 1 and 4096",
                        options.max_processes));
  }
  if (options.timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--timeout must not be negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Create(
    SandboxOptions options, GuestIo* io, std::shared_ptr<mmu::FramePool> pool) {
  if (io == nullptr) return absl::InvalidArgumentError("sandbox: no GuestIo");
  MEMMGR_RETURN_IF_ERROR(ValidateOptions(options));
  std::unique_ptr<Sandbox> sb(new Sandbox(std::move(options), io));
  MEMMGR_RETURN_IF_ERROR(sb->Load(std::move(pool)));
  return sb;
}

absl::Status Sandbox::Load(std::shared_ptr<mmu::FramePool> pool) {
  if (pool == nullptr) {
    mmu::FramePool::Options pool_options;
    pool_options.bytes = options_.memory_bytes;
    pool_options.numa_node = options_.numa_node;
    auto own = mmu::FramePool::Create(pool_options);
    if (!own.ok()) return own.status();
    pool = std::move(*own);
  }
  pool_ = std::move(pool);
  // Loading maps and fills pages: reclaim must not walk the tables meanwhile.
  mmu::MmGate::Shared gate(pool_->reclaimer() != nullptr ? pool_->gate()
                                                         : nullptr);

  if (options_.deterministic_random) {
    rng_state_ = options_.random_seed * 0x9e3779b97f4a7c15ull + 1;
  }
  for (auto& [path, bytes] : options_.files) {
    auto file = std::make_shared<mmu::GuestImage>();
    file->name = path;
    file->bytes = std::move(bytes);
    files_.emplace(path, std::move(file));
  }
  options_.files.clear();
  auto image = std::make_shared<mmu::GuestImage>();
  image->name = options_.program_path;
  image->bytes = std::move(options_.program);
  image_ = image;

  // With swap the frame pool bounds what is resident and reclaim keeps it
  // there; the budget then counts like memory.max + memory.swap.max (a
  // fork's starting charge, everything it shares, may exceed the pool).
  memcg_ = std::make_shared<mmu::MemCgroup>(
      (options_.memory_bytes + options_.swap_bytes) / mmu::kPageSize);
  mmu::AddressSpace::Options as_options;
  as_options.memcg = memcg_;
  as_options.stack_limit = options_.stack_bytes;
  auto as = mmu::AddressSpace::Create(pool_.get(), as_options);
  if (!as.ok()) return as.status();

  loader::LoadOptions load;
  load.argv = options_.argv;
  load.envp = options_.envp;
  load.execfn = options_.program_path;
  load.hwcap = kHwcap;
  load.stack_size = options_.stack_bytes;
  FillRandom(load.random.data(), load.random.size());
  auto loaded = loader::LoadElf(**as, image_, load);
  if (!loaded.ok()) {
    return absl::Status(loaded.status().code(),
                        absl::StrFormat("%s: %s", options_.program_path,
                                        loaded.status().message()));
  }

  auto p = std::make_unique<Process>();
  p->pid = next_pid_++;
  p->ppid = 1;
  p->as = std::move(*as);
  p->cpu.pc = loaded->entry;
  p->cpu.x[rv64::kSp] = loaded->stack_pointer;
  p->interp = std::make_unique<rv64::Interpreter>(
      p->as.get(), &p->cpu, rv64::Interpreter::Options{options_.jit});
  processes_.emplace(p->pid, std::move(p));
  stats_.processes = 1;
  return absl::OkStatus();
}

void Sandbox::FillRandom(void* buf, size_t len) {
  auto* out = static_cast<uint8_t*>(buf);
  if (options_.deterministic_random) {
    for (size_t i = 0; i < len; ++i) {
      // splitmix64, one byte per step: simple and reproducible.
      uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      out[i] = static_cast<uint8_t>(z ^ (z >> 31));
    }
    return;
  }
  size_t done = 0;
  while (done < len) {
    const ssize_t n = getrandom(out + done, len - done, 0);
    // Only EINTR is worth retrying; a host without entropy is broken.
    MEMMGR_CHECK(n > 0 || errno == EINTR) << "host getrandom failed";
    if (n > 0) done += static_cast<size_t>(n);
  }
}

void Sandbox::StopForLimit(int signal, std::string reason) {
  ExitStatus st;
  st.kind = ExitKind::kLimit;
  st.signal = signal;
  st.reason = std::move(reason);
  Exit(*processes_.begin()->second, st);  // the first process: the sandbox
}

void Sandbox::StopForTimeout() {
  StopForLimit(kSigXcpu,
               absl::StrFormat("timeout after %s (--timeout)",
                               absl::FormatDuration(options_.timeout)));
}

bool Sandbox::OverTimeout() const {
  return options_.timeout > absl::ZeroDuration() &&
         absl::Now() - start_ > options_.timeout;
}

uint64_t Sandbox::InstructionsLeft() const {
  if (options_.limit_instructions == 0) return UINT64_MAX;
  // The interpreter may overshoot a little (straight-line code runs to its
  // next jump): never let the difference wrap around.
  const uint64_t used = stats_.instructions - instructions_base_;
  return used < options_.limit_instructions ? options_.limit_instructions - used
                                            : 0;
}

RunResult Sandbox::RunFor(uint64_t max_instructions) {
  // A slice runs with the pool's gate held shared: reclaim rewrites our
  // ptes only between slices (or while a fault of ours waits for it).
  mmu::MmGate::Shared gate(pool_->reclaimer() != nullptr ? pool_->gate()
                                                         : nullptr);
  at_snapshot_request_ = false;
  if (done_) return {RunState::kFinished, absl::ZeroDuration()};
  if (!started_) {
    start_ = absl::Now();
    started_ = true;
  }
  if (OverTimeout()) {
    StopForTimeout();
    return {RunState::kFinished, absl::ZeroDuration()};
  }
  const uint64_t stop_at =
      stats_.instructions + std::max<uint64_t>(max_instructions, 1);
  while (!done_ && stats_.instructions < stop_at) {
    // One round: every process once, starting at the cursor (so a small
    // budget per call still reaches every process in turn).
    bool ran = false;
    std::vector<int64_t> pids;
    for (auto it = processes_.lower_bound(next_to_run_); it != processes_.end();
         ++it) {
      pids.push_back(it->first);
    }
    for (auto it = processes_.begin();
         it != processes_.end() && it->first < next_to_run_; ++it) {
      pids.push_back(it->first);
    }
    for (int64_t pid : pids) {
      auto it = processes_.find(pid);
      if (it == processes_.end()) continue;
      Process& p = *it->second;
      if (p.state == Process::State::kBlockedPipe) {
        const Pipe& pipe = *p.blocked_pipe;
        const bool ready =
            p.blocked_on_write
                ? pipe.readers == 0 || pipe.unread() < Pipe::kCapacity
                : pipe.writers == 0 || pipe.unread() > 0;
        if (!ready) continue;
        p.blocked_pipe.reset();
        p.state = Process::State::kRunnable;  // re-executes the ecall
      }
      if (p.state == Process::State::kSleeping) {
        if (absl::Now() < p.wake_at) continue;
        p.state = Process::State::kRunnable;
      }
      if (p.state == Process::State::kPageWait) {
        if (page_wait_->arrived.load(std::memory_order_acquire) ==
            p.page_wait_seen) {
          continue;
        }
        p.state = Process::State::kRunnable;  // re-executes the access
      }
      if (p.state != Process::State::kRunnable) continue;
      ran = true;
      next_to_run_ = pid + 1;
      RunSlice(p, std::min({kSliceInstructions, InstructionsLeft(),
                            stop_at - stats_.instructions}));
      if (done_) return {RunState::kFinished, absl::ZeroDuration()};
      if (snapshot_requested_) {
        // Stop right after the ecall: a snapshot now is at that point.
        snapshot_requested_ = false;
        at_snapshot_request_ = true;
        return {RunState::kSnapshotRequested, absl::ZeroDuration()};
      }
      if (stats_.instructions >= stop_at) break;
    }
    if (ran) continue;
    // Nobody ran. If someone sleeps, the caller may park the sandbox until
    // the first wake-up (never past the timeout, which the next RunFor
    // then reports); if someone waits for a page, until it comes.
    absl::Time wake = absl::InfiniteFuture();
    bool page_wait = false;
    for (const auto& [pid, q] : processes_) {
      if (q->state == Process::State::kSleeping) {
        wake = std::min(wake, q->wake_at);
      }
      page_wait |= q->state == Process::State::kPageWait;
    }
    if (page_wait) {
      // The ready callback ends the wait; the bound is a safety net.
      wake = std::min(wake, absl::Now() + absl::Seconds(1));
      if (options_.timeout > absl::ZeroDuration()) {
        wake =
            std::min(wake, start_ + options_.timeout + absl::Milliseconds(1));
      }
      return {RunState::kPageWait,
              std::max(wake - absl::Now(), absl::ZeroDuration())};
    }
    if (wake != absl::InfiniteFuture()) {
      if (options_.timeout > absl::ZeroDuration()) {
        wake =
            std::min(wake, start_ + options_.timeout + absl::Milliseconds(1));
      }
      return {RunState::kIdle,
              std::max(wake - absl::Now(), absl::ZeroDuration())};
    }
    // Every process waits on a pipe (or on a child that does): nothing
    // can ever run again. Linux would hang; say so instead.
    ExitStatus st;
    st.kind = ExitKind::kSignaled;
    st.signal = kSigKill;
    st.reason = "deadlock: every process is blocked on a pipe or wait4";
    Exit(*processes_.begin()->second, st);
  }
  return {done_ ? RunState::kFinished : RunState::kRunnable,
          absl::ZeroDuration()};
}

void Sandbox::RunSlice(Process& p, uint64_t budget) {
  const uint64_t before = p.cpu.instret;
  const absl::Time t0 = absl::Now();
  // Only guest instructions may park (their faults are precise); the
  // syscall below, if any, waits in place.
  uint64_t arrived = 0;
  if (page_wait_ != nullptr) {
    arrived = page_wait_->arrived.load(std::memory_order_acquire);
    p.as->SetParkHook(&park_hook_);
  }
  const rv64::Stop stop = p.interp->Run(before + budget);
  if (page_wait_ != nullptr) p.as->SetParkHook(nullptr);
  stats_.cpu_time += absl::Now() - t0;
  stats_.instructions += p.cpu.instret - before;
  stats_.peak_frames =
      std::max(stats_.peak_frames, pool_->GetStats().used_frames);

  switch (stop.reason) {
    case rv64::StopReason::kEcall:
      ++stats_.syscalls;
      switch (Syscall(p)) {
        case SyscallResult::kContinue:
          break;
        case SyscallResult::kSleep:
          p.state = Process::State::kSleeping;
          break;
        case SyscallResult::kBlocked:
          p.state = p.blocked_pipe != nullptr ? Process::State::kBlockedPipe
                                              : Process::State::kWaiting;
          break;
        case SyscallResult::kExit:
          break;  // Exit() was called
      }
      break;
    case rv64::StopReason::kLimit:
      break;  // the slice ended; the limit is checked below
    case rv64::StopReason::kFault:
      if (stop.fault.reason == mmu::FaultReason::kSwapWait) {
        // Parked (pc at the access): runnable again once a page came in
        // after `arrived` was read, so an arrival cannot be missed.
        p.state = Process::State::kPageWait;
        p.page_wait_seen = arrived;
        break;
      }
      [[fallthrough]];
    default: {
      ExitStatus st;
      st.kind = ExitKind::kSignaled;
      st.signal = stop.Signal();
      std::string what;
      if (stop.reason == rv64::StopReason::kFault) {
        what = absl::StrFormat(
            "%s fault at 0x%x (%s)", mmu::AccessName(stop.fault.access),
            stop.fault.address, mmu::FaultReasonName(stop.fault.reason));
        if (stop.fault.reason == mmu::FaultReason::kSwapIo) {
          absl::StrAppend(&what, ": ", p.as->swap_error().message());
        }
        const mmu::FramePool::Stats ps = pool_->GetStats();
        // With a pool of its own (memmgr-worker run, and its forks) the
        // pool is --memory too: say so either way.
        const bool pool_is_limit =
            ps.total_frames == options_.memory_bytes / mmu::kPageSize;
        if (stop.fault.reason == mmu::FaultReason::kMemoryLimit ||
            (stop.fault.reason == mmu::FaultReason::kOutOfMemory &&
             pool_is_limit)) {
          what = absl::StrFormat("out of memory (--memory=%s)",
                                 FormatByteSize(options_.memory_bytes));
        } else if (stop.fault.reason == mmu::FaultReason::kOutOfMemory) {
          // A shared pool (a worker's: the node's memory) is exhausted.
          what = absl::StrFormat(
              "out of memory (frame pool of %s exhausted: %d free frames, "
              "min watermark %d)",
              FormatByteSize(ps.total_frames * mmu::kPageSize), ps.free_frames,
              pool_->watermarks().min);
        }
      } else if (stop.reason == rv64::StopReason::kIllegal) {
        what = absl::StrFormat("illegal instruction 0x%08x", stop.insn_word);
      } else if (stop.reason == rv64::StopReason::kMisaligned) {
        what =
            absl::StrFormat("misaligned atomic access at 0x%x", stop.address);
      } else {
        what = rv64::StopReasonName(stop.reason);
      }
      st.reason = absl::StrFormat("killed by %s: %s at pc 0x%x",
                                  SignalName(st.signal), what, p.cpu.pc);
      Exit(p, st);
      break;
    }
  }
  if (wake_waiters_) WakeWaiters();
  // After every stop, not only kLimit: a guest whose slices end in
  // syscalls must not outrun the limit.
  if (!done_ && InstructionsLeft() == 0) {
    StopForLimit(
        kSigXcpu,
        absl::StrFormat("instruction limit reached (--limit_instructions=%d)",
                        options_.limit_instructions));
  }
  if (!done_ && OverTimeout()) StopForTimeout();
}

ExitStatus Sandbox::Run() {
  for (;;) {
    const RunResult r = RunFor(kSliceInstructions);
    if (r.state == RunState::kFinished) break;
    if (r.state == RunState::kIdle) absl::SleepFor(r.wake_in);
    if (r.state == RunState::kPageWait) {
      // Only with a ready callback; its owner should run RunFor itself.
      absl::SleepFor(std::min(r.wake_in, absl::Microseconds(100)));
    }
  }
  return exit_status_;
}

void Sandbox::SetPageReadyCallback(std::function<void()> ready) {
  if (pool_->reclaimer() == nullptr) return;
  page_wait_ = std::make_shared<PageWait>();
  page_wait_->ready = std::move(ready);
  park_hook_ = [pw = page_wait_] {
    pw->arrived.fetch_add(1, std::memory_order_acq_rel);
    if (pw->ready) pw->ready();
  };
}

void Sandbox::Exit(Process& p, ExitStatus status) {
  if (p.pid == processes_.begin()->first) {
    done_ = true;
    exit_status_ = std::move(status);
    return;
  }
  p.state = Process::State::kZombie;
  p.wait_status = status.kind == ExitKind::kExited ? (status.code & 0xff) << 8
                                                   : (status.signal & 0x7f);
  Retire(p);
  // Orphans of p are reparented to the first process, like to init.
  for (auto& [pid, q] : processes_) {
    if (q->ppid == p.pid) q->ppid = processes_.begin()->first;
  }
  // The parent's wait4 completes in Run(), after the caller is done with
  // `p` (reaping frees it).
  wake_waiters_ = true;
}

void Sandbox::WakeWaiters() {
  wake_waiters_ = false;
  std::vector<int64_t> waiting;
  for (const auto& [pid, q] : processes_) {
    if (q->state == Process::State::kWaiting) waiting.push_back(pid);
  }
  for (int64_t pid : waiting) {
    if (auto it = processes_.find(pid); it != processes_.end()) {
      TryCompleteWait(*it->second);
    }
  }
}

void Sandbox::Retire(Process& p) {
  if (p.as == nullptr) return;
  for (const auto& [fd, f] : p.files) f.RefPipe(-1);  // exit closes fds
  p.files.clear();
  p.blocked_pipe.reset();
  const mmu::MmuStats s = p.as->GetStats();
  for (int i = 0; i < mmu::kFaultClassCount; ++i) {
    retired_mmu_.faults[i] += s.faults[i];
  }
  retired_mmu_.tlb_hits += s.tlb_hits;
  retired_mmu_.tlb_misses += s.tlb_misses;
  retired_mmu_.tlb_flushes += s.tlb_flushes;
  retired_mmu_.peak_rss_pages =
      std::max(retired_mmu_.peak_rss_pages, s.peak_rss_pages);
  retired_decoded_ += p.interp->code().decoded();
  p.interp.reset();
  p.as.reset();
}

SandboxStats Sandbox::stats() const {
  // Reclaim (another thread's, with the gate exclusive) flushes our TLBs
  // and so writes their counters: read them with the gate held shared.
  mmu::MmGate::Shared gate(pool_->reclaimer() != nullptr ? pool_->gate()
                                                         : nullptr);
  SandboxStats s = stats_;
  s.mmu = retired_mmu_;
  s.decoded_instructions = retired_decoded_;
  for (const auto& [pid, p] : processes_) {
    if (p->as == nullptr) continue;
    const mmu::MmuStats m = p->as->GetStats();
    for (int i = 0; i < mmu::kFaultClassCount; ++i) {
      s.mmu.faults[i] += m.faults[i];
    }
    s.mmu.tlb_hits += m.tlb_hits;
    s.mmu.tlb_misses += m.tlb_misses;
    s.mmu.tlb_flushes += m.tlb_flushes;
    s.mmu.peak_rss_pages = std::max(s.mmu.peak_rss_pages, m.peak_rss_pages);
    s.mmu.rss_pages += m.rss_pages;
    s.decoded_instructions += p->interp->code().decoded();
  }
  return s;
}

}  // namespace memmgr::sandbox
