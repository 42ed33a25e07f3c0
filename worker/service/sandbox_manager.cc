#include "worker/service/sandbox_manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/status_util.h"
#include "worker/mmu/mmu_types.h"
#include "worker/service/image_store.h"

namespace memmgr::worker {
namespace {

using sandbox::Sandbox;

constexpr uint64_t kPage = mmu::kPageSize;

v1::StopStatus Killed(std::string detail) {
  v1::StopStatus s;
  s.set_reason(v1::StopStatus::KILLED);
  s.set_signal(9);
  s.set_detail(std::move(detail));
  return s;
}

absl::Status CheckId(const std::string& id, absl::string_view what) {
  if (id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  }
  return absl::OkStatus();
}

}  // namespace

const char* EntryStateName(EntryState s) {
  switch (s) {
    case EntryState::kCreated:
      return "created";
    case EntryState::kRunnable:
      return "runnable";
    case EntryState::kRunning:
      return "running";
    case EntryState::kParked:
      return "sleeping";
    case EntryState::kStopped:
      return "stopped";
  }
  return "unknown";
}

SandboxManager::SandboxManager(SandboxManagerOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<SandboxManager>> SandboxManager::Create(
    SandboxManagerOptions options) {
  if (options.executors == 0) {
    options.executors =
        std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }
  if (options.executors < 1 || options.executors > 1024) {
    return absl::InvalidArgumentError("--executors must be 1..1024");
  }
  if (options.max_forks < 1 || options.max_forks > Sandbox::kMaxForkCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_forks must be 1..", Sandbox::kMaxForkCount));
  }
  if (options.max_sandboxes < 1) {
    return absl::InvalidArgumentError("--max_sandboxes must be >= 1");
  }
  if (options.max_snapshots < 1) {
    return absl::InvalidArgumentError("--max_snapshots must be >= 1");
  }
  if (options.slice_instructions < 1000) {
    return absl::InvalidArgumentError("--slice_instructions must be >= 1000");
  }
  if (options.output_retain_bytes < 4096) {
    return absl::InvalidArgumentError("--output_retain_bytes must be >= 4K");
  }
  MEMMGR_RETURN_IF_ERROR(NormalizeSwapConfig(&options.swap));
  mmu::FramePool::Options pool_options;
  pool_options.bytes = options.memory_bytes;
  pool_options.numa_node = options.numa_node;
  absl::StatusOr<std::unique_ptr<mmu::FramePool>> pool =
      mmu::FramePool::Create(pool_options);
  if (!pool.ok()) {
    return absl::Status(pool.status().code(),
                        absl::StrCat("--memory: ", pool.status().message()));
  }
  options.default_sandbox_memory_bytes =
      std::min(options.default_sandbox_memory_bytes, options.memory_bytes);
  std::unique_ptr<SandboxManager> m(new SandboxManager(std::move(options)));
  m->pool_ = std::shared_ptr<mmu::FramePool>(*std::move(pool));
  if (m->options_.swap.mode != "none") {
    absl::StatusOr<std::unique_ptr<SwapSetup>> swap =
        SwapSetup::Create(m->options_.swap, m->pool_.get());
    if (!swap.ok()) return swap.status();
    m->swap_ = *std::move(swap);
  }
  for (int i = 0; i < m->options_.executors; ++i) {
    m->executors_.emplace_back([mp = m.get()] { mp->ExecutorLoop(); });
  }
  return m;
}

SandboxManager::~SandboxManager() {
  Shutdown();
  for (std::thread& t : executors_) t.join();
  // Page-ready callbacks call PageArrived: none may run once we are gone.
  if (swap_ != nullptr) swap_->reclaimer()->StopSwapIns();
  // Every entry is stopped (Shutdown) and checked in (executors joined);
  // destroy the sandboxes before the pool.
  MutexLock lock(&mu_);
  entries_.clear();
  snapshots_.clear();
}

void SandboxManager::Shutdown() {
  Graveyard graveyard;
  {
    MutexLock lock(&mu_);
    if (shutting_down_) return;
    shutting_down_ = true;
    std::vector<EntryPtr> live;
    for (auto& [id, e] : entries_) {
      if (e->state != EntryState::kStopped) live.push_back(e);
    }
    for (const EntryPtr& e : live) {
      if (e->state == EntryState::kRunning || e->held) {
        e->kill_requested = true;
        e->kill_status = Killed("worker shutting down");
      } else {
        StopLocked(e, Killed("worker shutting down"), &graveyard);
      }
    }
  }
  work_cv_.SignalAll();
  changed_cv_.SignalAll();
}

absl::StatusOr<SandboxManager::EntryPtr> SandboxManager::FindLocked(
    const std::string& sandbox_id) {
  MEMMGR_RETURN_IF_ERROR(CheckId(sandbox_id, "sandbox_id"));
  auto it = entries_.find(sandbox_id);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat("no sandbox '", sandbox_id, "'"));
  }
  return it->second;
}

absl::Status SandboxManager::CheckRoomLocked(uint64_t n) {
  if (shutting_down_) return absl::UnavailableError("worker shutting down");
  if (live_ + reserved_ + n > options_.max_sandboxes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        live_, " live sandboxes (+", reserved_, " being made); ", n,
        " more would pass --max_sandboxes=", options_.max_sandboxes));
  }
  // With swap, kswapd and direct reclaim make room; without, a pool below
  // min would stop the new sandbox at its first fault.
  if (swap_ == nullptr && pool_->BelowMin()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("worker memory is below its min watermark (",
                     pool_->free_frames(), " of ", pool_->total_frames(),
                     " frames free, min ", pool_->watermarks().min, ")"));
  }
  return absl::OkStatus();
}

SandboxManager::EntryPtr SandboxManager::NewEntryLocked() {
  auto e = std::make_shared<SandboxEntry>();
  e->seq = next_sandbox_++;
  e->id = absl::StrCat("sb-", e->seq);
  e->output = std::make_shared<OutputBuffer>(options_.output_retain_bytes);
  return e;
}

absl::StatusOr<v1::CreateSandboxResponse> SandboxManager::CreateSandbox(
    const v1::CreateSandboxRequest& request) {
  // Validate everything before touching state.
  const bool has_elf = !request.elf().empty();
  const bool has_image = !request.image().empty();
  if (has_elf == has_image) {
    return absl::InvalidArgumentError(
        "give exactly one of elf (the program's bytes) and image (a name in "
        "--images_dir)");
  }
  if (has_elf && request.elf().size() > options_.max_elf_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("elf is ", request.elf().size(), " bytes; the limit is ",
                     options_.max_elf_bytes, " (--max_elf_bytes)"));
  }
  if (request.stdin().size() > options_.max_stdin_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stdin is ", request.stdin().size(), " bytes; the limit is ",
        options_.max_stdin_bytes, " (--max_stdin_bytes)"));
  }
  uint64_t arg_bytes = 0;
  for (const std::string& a : request.args()) arg_bytes += a.size() + 1;
  for (const std::string& e : request.env()) {
    arg_bytes += e.size() + 1;
    if (e.empty() || e[0] == '=' || e.find('=') == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("env entry '", e, "' is not NAME=VALUE"));
    }
  }
  if (arg_bytes > options_.max_args_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("args + env are ", arg_bytes, " bytes; the limit is ",
                     options_.max_args_bytes, " (--max_args_bytes)"));
  }
  const v1::SandboxLimits& limits = request.limits();
  if (limits.memory_high_pages() != 0 || limits.swap_max_pages() != 0) {
    return absl::UnimplementedError(
        "memory_high_pages and swap_max_pages are not enforced per sandbox "
        "yet (the worker reclaims and swaps node-wide, under pool "
        "pressure); leave them 0");
  }
  if (limits.oom_score_adj() < -1000 || limits.oom_score_adj() > 1000) {
    return absl::InvalidArgumentError("oom_score_adj must be in -1000..1000");
  }
  uint64_t memory_bytes = options_.default_sandbox_memory_bytes;
  if (limits.memory_max_pages() != 0) {
    // With swap a sandbox may hold more than the pool (memory.max above
    // the node's RAM, the rest swapped), up to what swap can take.
    const uint64_t swap_pages =
        swap_ != nullptr ? swap_->swap_bytes() / kPage : 0;
    if (limits.memory_max_pages() > pool_->total_frames() + swap_pages) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "memory_max_pages=", limits.memory_max_pages(),
          " is more than this worker's memory (", pool_->total_frames(),
          " frames",
          swap_pages != 0 ? absl::StrCat(" + ", swap_pages, " swap slots") : "",
          ")"));
    }
    memory_bytes = limits.memory_max_pages() * kPage;
  }
  if (limits.wall_time_ms() > uint64_t{365} * 24 * 3600 * 1000) {
    return absl::InvalidArgumentError("wall_time_ms is over a year");
  }

  sandbox::SandboxOptions options;
  if (has_image) {
    absl::StatusOr<std::string> bytes =
        ReadImage(options_.images_dir, request.image(), options_.max_elf_bytes);
    if (!bytes.ok()) return bytes.status();
    options.program = *std::move(bytes);
    options.program_path = request.image();
  } else {
    options.program = request.elf();
    options.program_path = "sandbox.elf";
  }
  options.argv.assign(request.args().begin(), request.args().end());
  if (options.argv.empty()) options.argv.push_back(options.program_path);
  options.envp.assign(request.env().begin(), request.env().end());
  options.memory_bytes = memory_bytes;
  options.stack_bytes = std::min<uint64_t>(options.stack_bytes, memory_bytes);
  options.limit_instructions = limits.instructions();
  options.limit_output_bytes = limits.output_bytes();
  options.timeout = absl::Milliseconds(limits.wall_time_ms());
  MEMMGR_RETURN_IF_ERROR(Sandbox::ValidateOptions(options));

  EntryPtr e;
  {
    MutexLock lock(&mu_);
    MEMMGR_RETURN_IF_ERROR(CheckRoomLocked(1));
    ++reserved_;
    e = NewEntryLocked();
  }
  e->io = std::make_unique<ServiceIo>(request.stdin(), e->output);
  e->limit_instructions = limits.instructions();
  // Loading (ELF parsing, copying segments) runs without mu_.
  absl::StatusOr<std::unique_ptr<Sandbox>> sb =
      Sandbox::Create(std::move(options), e->io.get(), pool_);
  MutexLock lock(&mu_);
  --reserved_;
  if (!sb.ok()) return sb.status();
  if (shutting_down_) return absl::UnavailableError("worker shutting down");
  e->sandbox = *std::move(sb);
  SetPageReadyCallback(e);
  UpdateStatsLocked(*e, e->sandbox->stats());
  entries_[e->id] = e;
  ++live_;
  v1::CreateSandboxResponse resp;
  resp.set_sandbox_id(e->id);
  return resp;
}

absl::Status SandboxManager::Start(const std::string& sandbox_id) {
  MutexLock lock(&mu_);
  absl::StatusOr<EntryPtr> e = FindLocked(sandbox_id);
  if (!e.ok()) return e.status();
  if ((*e)->state == EntryState::kStopped) {
    return absl::FailedPreconditionError(
        absl::StrCat(sandbox_id, " has stopped"));
  }
  if ((*e)->started) {
    return absl::FailedPreconditionError(
        absl::StrCat(sandbox_id, " is already started"));
  }
  (*e)->started = true;
  (*e)->state = EntryState::kRunnable;
  EnqueueLocked(*e);
  return absl::OkStatus();
}

void SandboxManager::EnqueueLocked(const EntryPtr& e) {
  if (e->held || e->hold_waiters > 0) return;
  run_queue_.push_back(e);
  work_cv_.Signal();
}

absl::StatusOr<v1::WaitResponse> SandboxManager::Wait(
    const std::string& sandbox_id, absl::Time deadline,
    const std::function<bool()>& cancelled) {
  MutexLock lock(&mu_);
  absl::StatusOr<EntryPtr> found = FindLocked(sandbox_id);
  if (!found.ok()) return found.status();
  const EntryPtr e = *found;
  while (e->state != EntryState::kStopped) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat(sandbox_id, " is still ", EntryStateName(e->state)));
    }
    if (cancelled && cancelled()) {
      return absl::CancelledError("the caller went away");
    }
    changed_cv_.WaitWithTimeout(&mu_, std::min(left, absl::Milliseconds(100)));
  }
  v1::WaitResponse resp;
  *resp.mutable_status() = e->status;
  resp.set_instructions(e->instructions);
  resp.set_peak_frames(e->peak_frames);
  return resp;
}

absl::StatusOr<std::shared_ptr<OutputBuffer>> SandboxManager::OutputOf(
    const std::string& sandbox_id) {
  MutexLock lock(&mu_);
  absl::StatusOr<EntryPtr> e = FindLocked(sandbox_id);
  if (!e.ok()) return e.status();
  return (*e)->output;
}

absl::Status SandboxManager::Kill(const std::string& sandbox_id) {
  Graveyard graveyard;
  {
    MutexLock lock(&mu_);
    absl::StatusOr<EntryPtr> e = FindLocked(sandbox_id);
    if (!e.ok()) return e.status();
    const EntryPtr& entry = *e;
    if (entry->state == EntryState::kStopped) return absl::OkStatus();
    if (entry->state == EntryState::kRunning || entry->held) {
      // The thread that has it checked out stops it when its slice (or
      // snapshot) ends.
      entry->kill_requested = true;
      entry->kill_status = Killed("killed by the Kill RPC");
      return absl::OkStatus();
    }
    StopLocked(entry, Killed("killed by the Kill RPC"), &graveyard);
  }
  return absl::OkStatus();  // graveyard destroyed here, without mu_
}

void SandboxManager::StopLocked(const EntryPtr& e, v1::StopStatus status,
                                Graveyard* graveyard) {
  if (e->state == EntryState::kStopped) return;
  // Off whichever queue it is on (none while checked out).
  if (auto it = std::find(run_queue_.begin(), run_queue_.end(), e);
      it != run_queue_.end()) {
    run_queue_.erase(it);
  }
  if (e->state == EntryState::kParked) parked_.remove(e);
  e->state = EntryState::kStopped;
  e->status = std::move(status);
  e->output->Close();
  graveyard->emplace_back(std::move(e->sandbox), std::move(e->io));
  --live_;
  stopped_order_.push_back(e->id);
  TrimStoppedLocked();
  changed_cv_.SignalAll();
}

void SandboxManager::TrimStoppedLocked() {
  while (stopped_order_.size() > options_.retain_stopped) {
    entries_.erase(stopped_order_.front());
    stopped_order_.pop_front();
  }
}

void SandboxManager::ReleaseHeldLocked(const EntryPtr& e,
                                       Graveyard* graveyard) {
  e->held = false;
  if (e->kill_requested) {
    StopLocked(e, e->kill_status, graveyard);
  } else if (e->state == EntryState::kRunnable) {
    EnqueueLocked(e);  // unless another Snapshot waits for it
  }
  changed_cv_.SignalAll();
}

absl::StatusOr<std::string> SandboxManager::RegisterSnapshotLocked(
    SandboxEntry& e, std::shared_ptr<const sandbox::Snapshot> snapshot,
    std::string stdin_rest) {
  if (snapshots_.size() >= options_.max_snapshots) {
    return absl::ResourceExhaustedError(
        absl::StrCat(snapshots_.size(), " snapshots: --max_snapshots=",
                     options_.max_snapshots, " reached; delete some"));
  }
  SnapshotRecord r;
  r.id = absl::StrCat("snap-", next_snapshot_++);
  r.source_id = e.id;
  r.stdin_rest = std::move(stdin_rest);
  r.resident_pages = snapshot->resident_pages();
  const sandbox::SandboxStats& s = snapshot->stats();
  r.instructions_base = s.instructions;
  r.cow_base = s.mmu.fault(mmu::FaultClass::kCowCopy) +
               s.mmu.fault(mmu::FaultClass::kCowReuse);
  r.limit_instructions = e.limit_instructions;
  r.snapshot = std::move(snapshot);
  // The source now shares its resident pages with the snapshot.
  e.shared_at_base = r.resident_pages;
  e.cow_at_shared_base = e.cow_breaks;
  e.last_snapshot_id = r.id;
  ++snapshots_total_;
  std::string id = r.id;
  snapshots_.emplace(id, std::move(r));
  return id;
}

absl::StatusOr<v1::SnapshotResponse> SandboxManager::Snapshot(
    const v1::SnapshotRequest& request) {
  EntryPtr e;
  {
    MutexLock lock(&mu_);
    absl::StatusOr<EntryPtr> found = FindLocked(request.sandbox_id());
    if (!found.ok()) return found.status();
    e = *found;
    // Checked before waiting: every failure after the wait is a stopped
    // sandbox, which needs no re-queueing. (RegisterSnapshotLocked checks
    // the cap again for snapshots taken meanwhile.)
    if (snapshots_.size() >= options_.max_snapshots) {
      return absl::ResourceExhaustedError(
          absl::StrCat("--max_snapshots=", options_.max_snapshots,
                       " reached; delete some snapshots"));
    }
    // A snapshot in the middle of a slice waits for it to end (or for
    // another RPC's snapshot of the same sandbox). hold_waiters keeps the
    // executor from queueing it again meanwhile.
    ++e->hold_waiters;
    while (e->state == EntryState::kRunning || e->held) {
      changed_cv_.Wait(&mu_);
    }
    --e->hold_waiters;
    if (e->state == EntryState::kStopped || e->kill_requested) {
      return absl::FailedPreconditionError(
          absl::StrCat(request.sandbox_id(), " has stopped (",
                       e->status.detail(), "); nothing to snapshot"));
    }
    e->held = true;
    if (auto it = std::find(run_queue_.begin(), run_queue_.end(), e);
        it != run_queue_.end()) {
      run_queue_.erase(it);
    }
  }
  // Checked out: nobody else touches e->sandbox now.
  absl::StatusOr<std::shared_ptr<const sandbox::Snapshot>> snap =
      e->sandbox->TakeSnapshot();
  std::string stdin_rest(e->io->remaining_stdin());
  Graveyard graveyard;
  MutexLock lock(&mu_);
  v1::SnapshotResponse resp;
  absl::Status status;
  if (!snap.ok()) {
    status = snap.status();
  } else {
    resp.set_resident_pages((*snap)->resident_pages());
    absl::StatusOr<std::string> id =
        RegisterSnapshotLocked(*e, *std::move(snap), std::move(stdin_rest));
    if (!id.ok()) {
      status = id.status();
    } else {
      resp.set_snapshot_id(*id);
      if (!request.keep_running() && !e->kill_requested) {
        e->kill_requested = true;
        v1::StopStatus s = Killed(absl::StrCat(
            "stopped by Snapshot (keep_running=false) into ", *id));
        s.set_signal(0);
        e->kill_status = s;
      }
    }
  }
  ReleaseHeldLocked(e, &graveyard);
  if (!status.ok()) return status;
  return resp;
}

absl::StatusOr<v1::ForkResponse> SandboxManager::Fork(
    const v1::ForkRequest& request) {
  MEMMGR_RETURN_IF_ERROR(CheckId(request.snapshot_id(), "snapshot_id"));
  const uint32_t count = request.count();
  if (count < 1 || count > options_.max_forks) {
    return absl::InvalidArgumentError(
        absl::StrCat("count=", count, ": must be 1..", options_.max_forks,
                     " (--max_forks)"));
  }
  if (request.deltas_size() != 0 &&
      static_cast<uint32_t>(request.deltas_size()) != count) {
    return absl::InvalidArgumentError(
        absl::StrCat(request.deltas_size(), " deltas for ", count,
                     " forks: give none or one per fork"));
  }
  for (int i = 0; i < request.deltas_size(); ++i) {
    const v1::ForkDelta& d = request.deltas(i);
    if (d.stdin().size() > options_.max_stdin_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "deltas[", i,
          "].stdin is over --max_stdin_bytes=", options_.max_stdin_bytes));
    }
    uint64_t bytes = 0;
    for (const std::string& a : d.args()) bytes += a.size();
    if (static_cast<size_t>(d.args_size()) > Sandbox::kMaxForkArgs ||
        bytes > Sandbox::kMaxForkArgBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("deltas[", i, "].args: at most ", Sandbox::kMaxForkArgs,
                       " arguments and ", Sandbox::kMaxForkArgBytes, " bytes"));
    }
  }

  SnapshotRecord snap;  // a copy: the snapshot may be deleted meanwhile
  std::vector<EntryPtr> forks;
  {
    MutexLock lock(&mu_);
    auto it = snapshots_.find(request.snapshot_id());
    if (it == snapshots_.end()) {
      return absl::NotFoundError(
          absl::StrCat("no snapshot '", request.snapshot_id(), "'"));
    }
    MEMMGR_RETURN_IF_ERROR(CheckRoomLocked(count));
    snap = it->second;
    reserved_ += count;
    for (uint32_t i = 0; i < count; ++i) forks.push_back(NewEntryLocked());
  }

  // The forks themselves run without mu_ (ForkFrom is thread-safe on one
  // snapshot), so concurrent Fork requests proceed in parallel.
  absl::Status status;
  const absl::Time start = absl::Now();
  for (uint32_t i = 0; i < count && status.ok(); ++i) {
    SandboxEntry& e = *forks[i];
    const bool has_delta = request.deltas_size() != 0;
    e.io = std::make_unique<ServiceIo>(
        has_delta ? request.deltas(i).stdin() : snap.stdin_rest, e.output);
    sandbox::ForkOptions fo;
    fo.io = e.io.get();
    fo.index = i + 1;
    fo.count = count;
    if (has_delta) {
      fo.args.assign(request.deltas(i).args().begin(),
                     request.deltas(i).args().end());
    }
    const absl::Time t0 = absl::Now();
    absl::StatusOr<std::unique_ptr<Sandbox>> sb =
        Sandbox::ForkFrom(snap.snapshot, std::move(fo));
    if (options_.fork_observer) options_.fork_observer(absl::Now() - t0);
    if (!sb.ok()) {
      status = sb.status();
      break;
    }
    e.sandbox = *std::move(sb);
    SetPageReadyCallback(forks[i]);
  }
  const absl::Duration latency = absl::Now() - start;

  if (!status.ok()) {
    // All or nothing: the forks made so far go.
    for (EntryPtr& e : forks) {
      e->sandbox.reset();
      e->io.reset();
    }
    MutexLock lock(&mu_);
    reserved_ -= count;
    return status;
  }
  v1::ForkResponse resp;
  resp.set_fork_latency_ns(
      static_cast<uint64_t>(absl::ToInt64Nanoseconds(latency)));
  MutexLock lock(&mu_);
  reserved_ -= count;
  if (shutting_down_) return absl::UnavailableError("worker shutting down");
  for (uint32_t i = 0; i < count; ++i) {
    const EntryPtr& e = forks[i];
    e->snapshot_id = snap.id;
    e->fork_index = i + 1;
    e->limit_instructions = snap.limit_instructions;
    e->instructions_base = snap.instructions_base;
    e->cow_base = snap.cow_base;
    e->resident_pages = snap.resident_pages;
    e->shared_at_base = snap.resident_pages;
    e->cow_at_shared_base = 0;
    entries_[e->id] = e;
    ++live_;
    resp.add_sandbox_ids(e->id);
    if (request.start()) {
      e->started = true;
      e->state = EntryState::kRunnable;
      run_queue_.push_back(e);
    }
  }
  forks_total_ += count;
  if (auto it = snapshots_.find(snap.id); it != snapshots_.end()) {
    it->second.forks += count;
  }
  if (request.start()) work_cv_.SignalAll();
  return resp;
}

absl::Status SandboxManager::DeleteSnapshot(const std::string& snapshot_id) {
  MEMMGR_RETURN_IF_ERROR(CheckId(snapshot_id, "snapshot_id"));
  std::shared_ptr<const sandbox::Snapshot> last_ref;
  MutexLock lock(&mu_);
  auto it = snapshots_.find(snapshot_id);
  if (it == snapshots_.end()) {
    return absl::NotFoundError(absl::StrCat("no snapshot '", snapshot_id, "'"));
  }
  // Forks hold their own references to the frames and the pool: they live
  // on. The snapshot's frames go when its last fork goes.
  last_ref = std::move(it->second.snapshot);
  snapshots_.erase(it);
  return absl::OkStatus();
}

void SandboxManager::FillInfoLocked(const SandboxEntry& e,
                                    v1::SandboxInfo* info) const {
  info->set_sandbox_id(e.id);
  if (e.state == EntryState::kStopped) *info->mutable_status() = e.status;
  info->set_running(e.started && e.state != EntryState::kStopped);
  info->set_started(e.started);
  // A stopped sandbox's frames are freed.
  info->set_resident_pages(e.state == EntryState::kStopped ? 0
                                                           : e.resident_pages);
  const uint64_t broken = e.cow_breaks - e.cow_at_shared_base;
  const uint64_t shared =
      e.shared_at_base > broken ? e.shared_at_base - broken : 0;
  info->set_shared_pages(
      e.state == EntryState::kStopped ? 0 : std::min(shared, e.resident_pages));
  info->set_swapped_pages(0);
  info->set_snapshot_id(e.snapshot_id);
  info->set_last_snapshot_id(e.last_snapshot_id);
  info->set_fork_index(e.fork_index);
  info->set_instructions(e.instructions);
}

v1::ListSandboxesResponse SandboxManager::ListSandboxes() {
  v1::ListSandboxesResponse resp;
  MutexLock lock(&mu_);
  std::vector<const SandboxEntry*> sorted;
  for (const auto& [id, e] : entries_) sorted.push_back(e.get());
  std::sort(sorted.begin(), sorted.end(),
            [](const SandboxEntry* a, const SandboxEntry* b) {
              return a->seq < b->seq;
            });
  for (const SandboxEntry* e : sorted) FillInfoLocked(*e, resp.add_sandboxes());
  return resp;
}

ManagerStats SandboxManager::GetStats() {
  ManagerStats s;
  const mmu::FramePool::Stats ps = pool_->GetStats();
  s.frames_capacity = ps.total_frames;
  s.frames_used = ps.used_frames;
  // Shared frames: frames a snapshot holds (its forks and the sandbox it
  // came from map them until they write them) plus frames with more than
  // one reference (leaf tables copied after a guest fork), each counted
  // once. Page tables are shared between forks, so a frame's refcount alone
  // undercounts. Snapshots are frozen, so walking their tables from this
  // thread is safe; the refcount scan reads atomics without a lock, a
  // consistent-enough reading for a gauge.
  std::vector<bool> shared(ps.total_frames, false);
  {
    // Reclaim rewrites snapshot tables too (their pages are swapped like
    // any other): walk them with the gate held shared.
    mmu::MmGate::Shared gate(swap_ != nullptr ? pool_->gate() : nullptr);
    std::vector<std::shared_ptr<const sandbox::Snapshot>> snaps;
    {
      MutexLock lock(&mu_);
      for (const auto& [id, snap] : snapshots_) {
        snaps.push_back(snap.snapshot);
      }
    }
    for (const auto& snap : snaps) {
      snap->address_space().ForEachMappedFrame([&](mmu::Pfn pfn) {
        if (pfn < shared.size()) shared[pfn] = true;
      });
    }
  }
  for (uint64_t pfn = 1; pfn < ps.total_frames; ++pfn) {
    if (shared[pfn] || pool_->Descriptor(static_cast<mmu::Pfn>(pfn))
                               .refcount.load(std::memory_order_relaxed) > 1) {
      ++s.frames_shared;
    }
  }
  MutexLock lock(&mu_);
  for (const auto& [id, e] : entries_) {
    ++s.sandboxes_by_state[static_cast<int>(e->state)];
  }
  s.live = live_;
  s.stopped = static_cast<uint32_t>(entries_.size()) - live_;
  s.snapshots = static_cast<uint32_t>(snapshots_.size());
  s.forks_total = forks_total_;
  s.snapshots_total = snapshots_total_;
  s.cow_breaks_total = cow_breaks_total_;
  s.slices_total = slices_total_;
  s.executors = static_cast<uint32_t>(executors_.size());
  for (const EntryPtr& p : parked_) s.parked_for_page += p->waiting_page;
  s.page_waits_total = page_waits_total_;
  s.oom_kills_memcg = oom_kills_memcg_;
  s.oom_kills_node = oom_kills_node_;
  if (swap_ != nullptr) {
    s.swap_mode = swap_->mode();
    s.reclaim = swap_->reclaimer()->GetStats();
    s.swap_bytes = swap_->swap_bytes();
  }
  return s;
}

}  // namespace memmgr::worker
