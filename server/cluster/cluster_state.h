// ClusterState: the server's view of the cluster (docs/cluster.md) — the
// member workers (one NUMA node each: capacity, distances, free frames,
// watermarks, from RegisterWorker and every heartbeat), the sandboxes placed
// on them, and the commands in flight to them.
//
// Commands go down each member's Heartbeat stream (ClusterState::Stream, a
// reactor of the gRPC service) and are answered in a later HeartbeatRequest
// (CommandResult), so workers need no inbound connection from the server.
// Nothing here is persisted: after a server restart, members' leases come
// back from RocksDB, their agents reconnect and report their sandboxes, and
// the state is rebuilt from those reports.
//
// Wired by MemoryManagerService (its Heartbeat reactor is the Stream; the
// CreateSandbox/ListSandboxes/KillSandbox handlers call in) to the workers'
// ClusterAgent (worker/service/cluster_agent.h).
//
// A member whose lease ended (expiry, UnregisterWorker, a restart of the
// same worker taking over its node) leaves placement; its sandboxes are
// reported LOST. Liveness is checked against the swap store's lease table
// whenever the state is read, so no extra thread is needed.
//
// Thread-safety: safe for concurrent use. Lock order: mu_ → Stream::Send's
// lock (a leaf) and mu_ → SwapStore's lock (CheckLease). Streams call in
// without holding their own lock.
#ifndef MEMMGR_SERVER_CLUSTER_CLUSTER_STATE_H_
#define MEMMGR_SERVER_CLUSTER_CLUSTER_STATE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "memmgr/v1/memory_manager.pb.h"
#include "server/cluster/placement.h"

namespace memmgr {

class SwapStore;

struct ClusterStateOptions {
  SwapStore* store = nullptr;  // not owned; outlives this
  // How long a command waits for its worker's answer when the caller gave
  // no sooner deadline.
  absl::Duration command_timeout = absl::Seconds(30);
  // Placed sandboxes remembered (for ListSandboxes); beyond this, stopped
  // and lost ones are forgotten (running ones never are).
  size_t max_sandboxes_known = 100000;
};

class ClusterState {
 public:
  // A member's open Heartbeat stream. Send must not block on the network and
  // must not call back into ClusterState.
  class Stream {
   public:
    virtual ~Stream() = default;
    virtual void Send(const v1::HeartbeatResponse& response) = 0;
  };

  explicit ClusterState(ClusterStateOptions options);

  ClusterState(const ClusterState&) = delete;
  ClusterState& operator=(const ClusterState&) = delete;

  // A heartbeat of a cluster member's lease (already refreshed) arrived on
  // `stream`: records its status, command results and sandbox reports, and
  // makes `stream` the way commands reach it.
  void OnMemberHeartbeat(const std::string& lease_id,
                         const v1::RegisterWorkerRequest& spec,
                         const v1::HeartbeatRequest& request, Stream* stream);
  // `stream` ended; it is never used again. Commands waiting on it fail.
  void OnStreamClosed(Stream* stream);

  // The MemoryManager cluster RPCs; `deadline` bounds waiting for workers.
  absl::StatusOr<v1::CreateClusterSandboxResponse> CreateSandbox(
      const v1::CreateClusterSandboxRequest& request, absl::Time deadline);
  absl::Status KillSandbox(const std::string& sandbox_id, absl::Time deadline);
  v1::ListClusterSandboxesResponse ListSandboxes();

  // Fails every waiting command with UNAVAILABLE and refuses new ones.
  void Shutdown();

  struct Stats {
    uint32_t members = 0;    // live member leases
    uint32_t connected = 0;  // of those, with an open stream
    uint64_t sandboxes = 0;  // placed and known (LOST ones included)
    uint64_t lost = 0;
    uint64_t placements = 0;          // creates that succeeded
    uint64_t placement_failures = 0;  // creates that failed
    uint64_t commands_sent = 0;
  };
  Stats GetStats();

 private:
  struct Member {
    std::string lease_id;
    v1::RegisterWorkerRequest spec;
    v1::WorkerStatus status;
    bool has_status = false;
    Stream* stream = nullptr;  // null while disconnected
    absl::Time last_seen;
  };
  struct Pending {
    std::string lease_id;
    Stream* stream = nullptr;
    bool done = false;
    absl::Status status;
    std::string worker_sandbox_id;
  };
  struct Placed {
    std::string lease_id;
    uint32_t numa_node = 0;
    std::string node_name;
    std::string address;
    std::string worker_sandbox_id;
    v1::StopStatus status;
    bool reported = false;  // seen in a report of its worker at least once
  };

  // Sandbox ids carry a random tag of this server run, so ids made after a
  // restart never collide with the ones workers report from before it.
  std::string NewSandboxIdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops members whose lease is no longer live; their sandboxes go LOST.
  // Then TrimLocked.
  void ReapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets stopped/lost sandboxes beyond max_sandboxes_known.
  void TrimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<NodeView> NodeViewsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends `command` to the member of `lease_id` and waits for its answer
  // until `deadline` (mu_ is released while waiting). UNAVAILABLE when the
  // member has no stream or it closes first, DEADLINE_EXCEEDED when no
  // answer came in time, else the worker's answer.
  absl::Status RunCommandLocked(const std::string& lease_id,
                                v1::WorkerCommand command, absl::Time deadline,
                                std::string* worker_sandbox_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Member* MemberByNodeLocked(uint32_t node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ClusterStateOptions options_;
  const std::string run_tag_;  // random, per ClusterState

  Mutex mu_;
  CondVar cv_;  // a Pending finished, or shutting down
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, Member> members_ ABSL_GUARDED_BY(mu_);    // by lease
  std::map<std::string, Placed> sandboxes_ ABSL_GUARDED_BY(mu_);  // by id
  absl::flat_hash_map<uint64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);
  InterleaveCursors cursors_ ABSL_GUARDED_BY(mu_);
  uint64_t next_command_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_sandbox_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t placements_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t placement_failures_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t commands_sent_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace memmgr

#endif  // MEMMGR_SERVER_CLUSTER_CLUSTER_STATE_H_
