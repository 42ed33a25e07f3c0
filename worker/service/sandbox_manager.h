// SandboxManager: the worker service's core, without gRPC. It owns the
// node's frame pool, every sandbox and snapshot of the worker, and the
// executor threads that run them:
//
//   CreateSandbox / Start / Kill       sandbox life cycle (ids "sb-<n>")
//   Snapshot / Fork / DeleteSnapshot   snapshots (ids "snap-<n>") and forks
//   Wait / OutputOf                    waiting for a stop, reading output
//   ListSandboxes / GetStats           introspection (also for /metrics)
//
// Every method validates its request and answers with the precise status
// code of worker.proto's error model (docs/worker-service.md has the table).
//
// Execution. `executors` threads take runnable sandboxes from one FIFO run
// queue and run each for one slice (RunFor(slice_instructions)), then put it
// back at the tail (round-robin), park it until its sleepers wake (kIdle),
// register the snapshot it asked for and put it back
// (kSnapshotRequested), or stop it (kFinished). See sandbox_entry.h for who
// may touch a sandbox when: a sandbox is never run by two threads at once,
// and a Snapshot of a sandbox in the middle of a slice waits for the slice
// to end. Killing a sandbox touches only its own entry and frames.
//
// Thread-safety: safe for concurrent use. Lock order (a tree; a lock may be
// taken while holding the ones above it, never the other way round):
//
//   SandboxManager::mu_          entries, snapshots, queues, counters
//   ├─ OutputBuffer::mu_         (leaf) appended to by the running thread
//   └─ sandbox::Snapshot::fork_mu_, mmu::FramePool locks   (leaves; only
//                                 reached without mu_ in practice: slices,
//                                 forks and snapshots run unlocked)
//
// mu_ is never held across a time slice, a fork, a snapshot, an image read
// or the destruction of a sandbox (freeing its frames).
#ifndef MEMMGR_WORKER_SERVICE_SANDBOX_MANAGER_H_
#define MEMMGR_WORKER_SERVICE_SANDBOX_MANAGER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "memmgr/v1/worker.pb.h"
#include "worker/mmu/frame_pool.h"
#include "worker/service/sandbox_entry.h"
#include "worker/swap/swap_setup.h"

namespace memmgr::worker {

struct SandboxManagerOptions {
  uint64_t memory_bytes = uint64_t{1} << 30;  // the node's frame pool
  int numa_node = -1;
  int executors = 0;  // 0 = std::thread::hardware_concurrency()
  uint64_t slice_instructions = 4'000'000;
  uint32_t max_forks = 1000;      // per Fork request
  uint32_t max_sandboxes = 4096;  // live (not stopped) at once
  uint32_t max_snapshots = 1024;
  uint32_t retain_stopped = 1024;  // stopped sandboxes kept for Wait/logs
  // Memory limit of a sandbox whose request says 0; clamped to the pool.
  uint64_t default_sandbox_memory_bytes = uint64_t{256} << 20;
  uint64_t output_retain_bytes = uint64_t{1} << 20;  // per sandbox
  uint64_t max_elf_bytes = uint64_t{64} << 20;
  uint64_t max_stdin_bytes = uint64_t{16} << 20;
  uint64_t max_args_bytes = uint64_t{1} << 20;  // args + env, per sandbox
  std::string images_dir;                       // "" = only ELF bytes
  // Reclaim and swap of the pool (worker/swap/swap_setup.h). The library
  // default is no swap (a full pool stops the sandbox that needed a frame);
  // `memmgr-worker serve` defaults to the embedded RocksDB swap.
  SwapConfig swap = [] {
    SwapConfig c;
    c.mode = "none";
    c.worker_id_prefix = "serve";
    return c;
  }();
  // With swap: a sandbox whose guest faults on a page that must come from
  // the swap device is parked and the executor runs other sandboxes until
  // the page is in (Sandbox::SetPageReadyCallback); false = the executor
  // waits for the read.
  bool park_on_swapin = true;
  // Called once per fork with its ForkFrom latency (the metrics histogram).
  std::function<void(absl::Duration)> fork_observer;
};

struct ManagerStats {
  uint64_t frames_capacity = 0;
  uint64_t frames_used = 0;
  uint64_t frames_shared = 0;
  uint32_t sandboxes_by_state[5] = {};  // indexed by EntryState
  uint32_t live = 0;
  uint32_t stopped = 0;
  uint32_t snapshots = 0;
  uint64_t forks_total = 0;
  uint64_t snapshots_total = 0;
  uint64_t cow_breaks_total = 0;
  uint64_t slices_total = 0;
  uint32_t executors = 0;
  uint32_t parked_for_page = 0;   // sandboxes parked waiting for a page
  uint64_t page_waits_total = 0;  // times a sandbox parked for a page
  // Guests OOM-killed by the worker (StopStatus OOM_KILLED): over their own
  // memory limit (memcg scope), or the node's frames ran out (node scope).
  uint64_t oom_kills_memcg = 0;
  uint64_t oom_kills_node = 0;
  // Reclaim and swap; all zero without swap (swap_mode "none").
  std::string swap_mode = "none";
  mmu::Reclaimer::Stats reclaim;
  uint64_t swap_bytes = 0;  // the swap area (what may be committed beyond)
};

class SandboxManager {
 public:
  // Creates the pool and starts the executors. INVALID_ARGUMENT for bad
  // options (the message names the flag).
  static absl::StatusOr<std::unique_ptr<SandboxManager>> Create(
      SandboxManagerOptions options);
  // Shutdown() + joins the executors.
  ~SandboxManager();
  SandboxManager(const SandboxManager&) = delete;
  SandboxManager& operator=(const SandboxManager&) = delete;

  absl::StatusOr<v1::CreateSandboxResponse> CreateSandbox(
      const v1::CreateSandboxRequest& request);
  absl::Status Start(const std::string& sandbox_id);
  // Blocks until the sandbox stops, `deadline` passes (DEADLINE_EXCEEDED)
  // or `cancelled()` returns true (CANCELLED; polled every 100 ms).
  absl::StatusOr<v1::WaitResponse> Wait(const std::string& sandbox_id,
                                        absl::Time deadline,
                                        const std::function<bool()>& cancelled);
  // The sandbox's output (for Attach), kept alive by the caller even if the
  // sandbox is forgotten meanwhile.
  absl::StatusOr<std::shared_ptr<OutputBuffer>> OutputOf(
      const std::string& sandbox_id);
  absl::StatusOr<v1::SnapshotResponse> Snapshot(
      const v1::SnapshotRequest& request);
  absl::StatusOr<v1::ForkResponse> Fork(const v1::ForkRequest& request);
  absl::Status Kill(const std::string& sandbox_id);
  v1::ListSandboxesResponse ListSandboxes();
  absl::Status DeleteSnapshot(const std::string& snapshot_id);
  ManagerStats GetStats();

  // Kills every sandbox (StopStatus KILLED, "worker shutting down"), makes
  // new requests fail with UNAVAILABLE, wakes every waiter. Returns without
  // waiting for running slices (the destructor joins the executors).
  void Shutdown();

  const mmu::FramePool& pool() const { return *pool_; }
  // Null without swap.
  const SwapSetup* swap() const { return swap_.get(); }
  const SandboxManagerOptions& options() const { return options_; }

 private:
  using EntryPtr = std::shared_ptr<SandboxEntry>;
  // Sandboxes (and their io) to destroy once mu_ is released.
  using Graveyard = std::vector<
      std::pair<std::unique_ptr<sandbox::Sandbox>, std::unique_ptr<ServiceIo>>>;

  explicit SandboxManager(SandboxManagerOptions options);

  // executor.cc
  void ExecutorLoop();
  // Moves parked entries whose wake_at passed to the run queue.
  void WakeParkedLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives a new sandbox the page-ready callback (parking), if enabled.
  void SetPageReadyCallback(const EntryPtr& e);
  // The page-ready callback (on a swap I/O thread): queues `weak` again if
  // it is parked for a page, else marks it so it does not park.
  void PageArrived(const std::weak_ptr<SandboxEntry>& weak);
  // Records the stats of the slice that just ended.
  void UpdateStatsLocked(SandboxEntry& e, const sandbox::SandboxStats& stats)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::StopStatus StopStatusOf(const SandboxEntry& e,
                              const sandbox::ExitStatus& exit,
                              const sandbox::SandboxStats& stats) const;

  // Stops `e` with `status`: off the queues, output closed, waiters woken,
  // its sandbox moved to `graveyard`. REQUIRES: e not checked out.
  void StopLocked(const EntryPtr& e, v1::StopStatus status,
                  Graveyard* graveyard) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts a checked-in, runnable entry on the run queue and wakes one
  // executor, unless an RPC thread holds it or waits to (it queues it when
  // it is done).
  void EnqueueLocked(const EntryPtr& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns an entry an RPC thread held: stops it if a kill came meanwhile,
  // else queues it again if runnable.
  void ReleaseHeldLocked(const EntryPtr& e, Graveyard* graveyard)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Registers a snapshot of `e` (cap: max_snapshots); returns its id.
  absl::StatusOr<std::string> RegisterSnapshotLocked(
      SandboxEntry& e, std::shared_ptr<const sandbox::Snapshot> snapshot,
      std::string stdin_rest) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<EntryPtr> FindLocked(const std::string& sandbox_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // RESOURCE_EXHAUSTED unless `n` more sandboxes fit (count and frames).
  absl::Status CheckRoomLocked(uint64_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets the oldest stopped entries beyond retain_stopped.
  void TrimStoppedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  EntryPtr NewEntryLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FillInfoLocked(const SandboxEntry& e, v1::SandboxInfo* info) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SandboxManagerOptions options_;
  // Shared by every sandbox and fork; thread-safe. Set once in Create.
  std::shared_ptr<mmu::FramePool> pool_;
  // After pool_: destroyed before it, and after every sandbox and
  // snapshot (the destructor clears them first). Set once in Create.
  std::unique_ptr<SwapSetup> swap_;
  std::vector<std::thread> executors_;

  Mutex mu_;
  // Signalled when the run queue or the parked list changes, or on
  // shutdown (executors wait on it).
  CondVar work_cv_;
  // Signalled when an entry is checked back in or stops (Snapshot waits
  // for a slice to end; Wait waits for a stop).
  CondVar changed_cv_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, EntryPtr> entries_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, SnapshotRecord> snapshots_ ABSL_GUARDED_BY(mu_);
  // Invariant: e is in run_queue_ iff e->state == kRunnable && !e->held &&
  // e->hold_waiters == 0; in parked_ iff e->state == kParked.
  std::deque<EntryPtr> run_queue_ ABSL_GUARDED_BY(mu_);
  std::list<EntryPtr> parked_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> stopped_order_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sandbox_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_snapshot_ ABSL_GUARDED_BY(mu_) = 1;
  uint32_t live_ ABSL_GUARDED_BY(mu_) = 0;      // entries not stopped
  uint32_t reserved_ ABSL_GUARDED_BY(mu_) = 0;  // creates/forks in flight
  uint64_t forks_total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t snapshots_total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t page_waits_total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t cow_breaks_total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t slices_total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t oom_kills_memcg_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t oom_kills_node_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace memmgr::worker

#endif  // MEMMGR_WORKER_SERVICE_SANDBOX_MANAGER_H_
