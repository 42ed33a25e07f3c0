// The executor threads of SandboxManager: run queue, parking, and turning a
// slice's outcome into the sandbox's next state. ExecutorLoop takes mu_ by
// hand (Lock/Unlock around each slice) rather than with a MutexLock scope;
// scripts/check-thread-safety still checks it against the ABSL_GUARDED_BY
// annotations of sandbox_manager.h.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "worker/service/sandbox_manager.h"

namespace memmgr::worker {
namespace {

constexpr int kSigKill = 9;
constexpr int kSigXfsz = 25;

uint64_t CowFaults(const sandbox::SandboxStats& s) {
  return s.mmu.fault(mmu::FaultClass::kCowCopy) +
         s.mmu.fault(mmu::FaultClass::kCowReuse);
}

}  // namespace

void SandboxManager::ExecutorLoop() {
  mu_.Lock();
  for (;;) {
    if (shutting_down_ && run_queue_.empty()) break;
    const absl::Time now = absl::Now();
    WakeParkedLocked(now);
    if (run_queue_.empty()) {
      if (shutting_down_) break;
      if (parked_.empty()) {
        work_cv_.Wait(&mu_);
      } else {
        absl::Time next = absl::InfiniteFuture();
        for (const EntryPtr& p : parked_) next = std::min(next, p->wake_at);
        // Until the earliest wake-up, re-checked at least every 50 ms (a
        // Signal for a newly parked sandbox may reach another executor).
        work_cv_.WaitWithTimeout(&mu_,
                                 std::clamp(next - now, absl::Microseconds(100),
                                            absl::Milliseconds(50)));
      }
      continue;
    }
    EntryPtr e = run_queue_.front();
    run_queue_.pop_front();
    if (e->kill_requested) {  // shutdown marked it before it ran again
      Graveyard graveyard;
      StopLocked(e, e->kill_status, &graveyard);
      mu_.Unlock();
      graveyard.clear();
      mu_.Lock();
      continue;
    }
    e->state = EntryState::kRunning;
    // Arrivals so far are in the sandbox's own count; only one during this
    // slice may stop it from parking.
    e->page_arrived = false;
    sandbox::Sandbox* sb = e->sandbox.get();
    mu_.Unlock();

    // Checked out: this thread alone touches sb and e->io until it locks
    // mu_ again and changes e->state.
    const sandbox::RunResult result = sb->RunFor(options_.slice_instructions);
    const sandbox::SandboxStats stats = sb->stats();
    absl::StatusOr<std::shared_ptr<const sandbox::Snapshot>> snap =
        absl::UnknownError("no snapshot asked for");
    std::string stdin_rest;
    if (result.state == sandbox::RunState::kSnapshotRequested) {
      snap = sb->TakeSnapshot();
      stdin_rest = std::string(e->io->remaining_stdin());
    }
    sandbox::ExitStatus exit;
    if (result.state == sandbox::RunState::kFinished) exit = sb->exit_status();

    Graveyard graveyard;
    mu_.Lock();
    ++slices_total_;
    UpdateStatsLocked(*e, stats);
    if (result.state == sandbox::RunState::kSnapshotRequested) {
      if (!snap.ok()) {
        MEMMGR_LOG(WARNING)
            << e->id
            << ": the guest asked for a snapshot: " << snap.status().message();
      } else {
        absl::StatusOr<std::string> id =
            RegisterSnapshotLocked(*e, *std::move(snap), std::move(stdin_rest));
        if (!id.ok()) {
          MEMMGR_LOG(WARNING)
              << e->id << ": snapshot dropped: " << id.status().message();
        }
      }
    }
    // Checked in: the new state (still kRunning here) decides who may
    // touch the sandbox next.
    if (e->kill_requested) {
      StopLocked(e, e->kill_status, &graveyard);
    } else {
      switch (result.state) {
        case sandbox::RunState::kRunnable:
        case sandbox::RunState::kSnapshotRequested:
          e->state = EntryState::kRunnable;
          EnqueueLocked(e);
          break;
        case sandbox::RunState::kIdle:
          e->state = EntryState::kParked;
          e->wake_at = absl::Now() + result.wake_in;
          parked_.push_back(e);
          work_cv_.Signal();  // someone must watch the new wake-up time
          break;
        case sandbox::RunState::kPageWait:
          ++page_waits_total_;
          if (e->page_arrived) {  // came in meanwhile: no need to park
            e->page_arrived = false;
            e->state = EntryState::kRunnable;
            EnqueueLocked(e);
            break;
          }
          e->state = EntryState::kParked;
          e->waiting_page = true;
          e->wake_at = absl::Now() + result.wake_in;
          parked_.push_back(e);
          work_cv_.Signal();
          break;
        case sandbox::RunState::kFinished: {
          v1::StopStatus status = StopStatusOf(*e, exit, stats);
          if (status.reason() == v1::StopStatus::OOM_KILLED) {
            // The same test StopStatusOf's detail makes: a page refused by
            // the sandbox's own limit is a memcg OOM, else the node's.
            ++(stats.mmu.fault(mmu::FaultClass::kMemoryLimit) > 0
                   ? oom_kills_memcg_
                   : oom_kills_node_);
          }
          StopLocked(e, std::move(status), &graveyard);
          break;
        }
      }
    }
    changed_cv_.SignalAll();
    if (!graveyard.empty()) {
      mu_.Unlock();
      graveyard.clear();  // frees the sandbox's frames without mu_
      mu_.Lock();
    }
  }
  mu_.Unlock();
  work_cv_.SignalAll();  // the others may exit too
}

void SandboxManager::WakeParkedLocked(absl::Time now) {
  for (auto it = parked_.begin(); it != parked_.end();) {
    const EntryPtr& e = *it;
    if (e->wake_at > now) {
      ++it;
      continue;
    }
    e->state = EntryState::kRunnable;
    e->waiting_page = false;
    EnqueueLocked(e);
    it = parked_.erase(it);
  }
}

void SandboxManager::SetPageReadyCallback(const EntryPtr& e) {
  if (swap_ == nullptr || !options_.park_on_swapin) return;
  e->sandbox->SetPageReadyCallback(
      [this, weak = std::weak_ptr<SandboxEntry>(e)] { PageArrived(weak); });
}

void SandboxManager::PageArrived(const std::weak_ptr<SandboxEntry>& weak) {
  const EntryPtr e = weak.lock();
  if (e == nullptr) return;
  {
    MutexLock lock(&mu_);
    if (e->state != EntryState::kParked || !e->waiting_page) {
      if (e->state != EntryState::kStopped) e->page_arrived = true;
      return;
    }
    parked_.remove(e);
    e->waiting_page = false;
    e->state = EntryState::kRunnable;
    EnqueueLocked(e);
  }
}

void SandboxManager::UpdateStatsLocked(SandboxEntry& e,
                                       const sandbox::SandboxStats& stats) {
  const uint64_t cow =
      CowFaults(stats) - std::min(CowFaults(stats), e.cow_base);
  cow_breaks_total_ += cow - std::min(cow, e.cow_breaks);
  e.cow_breaks = cow;
  e.instructions =
      stats.instructions - std::min(stats.instructions, e.instructions_base);
  // Not stats.peak_frames: that is the shared pool's high-water mark.
  e.peak_frames = stats.mmu.peak_rss_pages;
  e.resident_pages = stats.mmu.rss_pages;
}

v1::StopStatus SandboxManager::StopStatusOf(
    const SandboxEntry& e, const sandbox::ExitStatus& exit,
    const sandbox::SandboxStats& stats) const {
  v1::StopStatus s;
  switch (exit.kind) {
    case sandbox::ExitKind::kExited:
      s.set_reason(v1::StopStatus::EXITED);
      s.set_exit_code(exit.code);
      break;
    case sandbox::ExitKind::kSignaled: {
      const uint64_t limit_faults =
          stats.mmu.fault(mmu::FaultClass::kMemoryLimit);
      const uint64_t oom_faults =
          stats.mmu.fault(mmu::FaultClass::kOutOfMemory);
      s.set_signal(exit.signal);
      if (exit.signal == kSigKill && limit_faults + oom_faults > 0) {
        // The sandbox killed the guest because a page could not be had:
        // its own memory limit (memcg OOM) or the node's frames.
        s.set_reason(v1::StopStatus::OOM_KILLED);
        s.set_detail(absl::StrCat(limit_faults > 0
                                      ? "memcg: over its memory limit"
                                      : "node: the worker's frames ran out",
                                  " (", exit.reason, ")"));
      } else {
        s.set_reason(v1::StopStatus::SIGNALED);
        s.set_detail(exit.reason);
      }
      break;
    }
    case sandbox::ExitKind::kLimit:
      s.set_signal(exit.signal);
      if (exit.signal == kSigXfsz) {
        s.set_reason(v1::StopStatus::LIMIT_OUTPUT);
      } else if (e.limit_instructions != 0 &&
                 e.instructions >= e.limit_instructions) {
        s.set_reason(v1::StopStatus::LIMIT_INSTRUCTIONS);
      } else {
        s.set_reason(v1::StopStatus::LIMIT_TIME);
      }
      s.set_detail(exit.reason);
      break;
  }
  return s;
}

}  // namespace memmgr::worker
