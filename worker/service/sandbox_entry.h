// SandboxEntry and SnapshotRecord: what the SandboxManager keeps per
// sandbox and per snapshot. Plain structs; every field is guarded by
// SandboxManager::mu_ except the two noted below.
//
// Ownership of `sandbox` and `io` (the objects a time slice touches): an
// entry is checked out to exactly one thread at a time —
//   - an executor thread while state == kRunning (it calls RunFor without
//     mu_ held);
//   - an RPC thread while `held` (Snapshot calls TakeSnapshot without mu_);
//   - otherwise whoever holds mu_ (creating, stopping, destroying).
// Nobody else reads them, so a sandbox is never run by two threads at once
// and never snapshotted mid-slice.
#ifndef MEMMGR_WORKER_SERVICE_SANDBOX_ENTRY_H_
#define MEMMGR_WORKER_SERVICE_SANDBOX_ENTRY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "memmgr/v1/common.pb.h"
#include "worker/sandbox/sandbox.h"
#include "worker/sandbox/snapshot.h"
#include "worker/service/output_buffer.h"
#include "worker/service/service_io.h"

namespace memmgr::worker {

enum class EntryState {
  kCreated,   // loaded, waiting for Start
  kRunnable,  // in the run queue (unless held)
  kRunning,   // an executor runs a slice of it
  kParked,    // every process sleeps until wake_at (kIdle), or waits for
              // a page from the swap device (waiting_page)
  kStopped,   // status is final; sandbox and io are gone
};
const char* EntryStateName(EntryState s);  // "created", ...

struct SandboxEntry {
  std::string id;
  uint64_t seq = 0;  // creation order
  EntryState state = EntryState::kCreated;
  bool started = false;
  // An RPC thread has checked the sandbox out (see the header comment).
  bool held = false;
  // RPC threads waiting to check it out (Snapshot of a running sandbox).
  // While > 0, a checked-in sandbox is not queued again, so the waiters
  // cannot be starved by executors re-taking it at once.
  int hold_waiters = 0;
  // Kill (or shutdown) arrived while the entry was checked out: whoever
  // checks it back in stops it with kill_status.
  bool kill_requested = false;
  v1::StopStatus kill_status;
  absl::Time wake_at;  // kParked
  // kParked on a page from the swap device (RunState::kPageWait): the
  // page-ready callback queues it again before wake_at.
  bool waiting_page = false;
  // A page-ready callback came while the entry was not parked (it was
  // running, or about to park): queue it at once instead of parking.
  bool page_arrived = false;

  // Checked out with the entry (not guarded by mu_ while checked out).
  // io is declared first: the sandbox uses it until destroyed.
  std::unique_ptr<ServiceIo> io;
  std::unique_ptr<sandbox::Sandbox> sandbox;

  std::shared_ptr<OutputBuffer> output;  // thread-safe itself
  v1::StopStatus status;                 // final once kStopped
  std::string snapshot_id;               // forked from ("" for originals)
  uint64_t fork_index = 0;
  std::string last_snapshot_id;
  uint64_t limit_instructions = 0;  // 0 = none (for the stop reason)

  // Stats as of the end of the last slice (Sandbox::stats() may only be
  // read by the thread that has the sandbox checked out).
  uint64_t instructions = 0;  // since creation / the fork point
  uint64_t peak_frames = 0;
  uint64_t resident_pages = 0;
  uint64_t cow_breaks = 0;  // since creation / the fork point
  // What the sandbox's stats started from (a fork's are its snapshot's).
  uint64_t instructions_base = 0;
  uint64_t cow_base = 0;
  // Pages shared with a snapshot at the last snapshot / fork point, and
  // cow_breaks then: shared_pages is estimated from them (worker.proto).
  uint64_t shared_at_base = 0;
  uint64_t cow_at_shared_base = 0;
};

struct SnapshotRecord {
  std::string id;
  std::shared_ptr<const sandbox::Snapshot> snapshot;
  std::string source_id;  // the sandbox it was taken of
  // The source's stdin not read yet: forks without a delta get it.
  std::string stdin_rest;
  uint64_t resident_pages = 0;
  uint64_t instructions_base = 0;  // snapshot->stats().instructions
  uint64_t cow_base = 0;           // CoW faults in snapshot->stats()
  uint64_t limit_instructions = 0;
  uint64_t forks = 0;
};

}  // namespace memmgr::worker

#endif  // MEMMGR_WORKER_SERVICE_SANDBOX_ENTRY_H_
