// ClusterAgent: a worker's membership in the cluster (docs/cluster.md).
// `memmgr-worker serve --server` starts one: it registers a lease with
// cluster_member set (its node id, frame capacity, distances and Worker
// service address), keeps one Heartbeat stream open to memmgr-server and
//
//   - sends the node's memory (free/used frames, watermarks, capacity) and
//     the sandboxes the server placed here with every heartbeat (the
//     sandbox report only when it changed, and on every new stream, so a
//     restarted server rebuilds its map from it);
//   - executes the commands the server sends down the stream (create, kill)
//     against the SandboxManager and answers each in the next heartbeat.
//
// The workers thus need no inbound connection from the server. The swap
// device (--swap=server) holds a lease of its own for its slots; this one is
// only the membership.
//
// Failures. A stream that breaks (server restarting, network), or gets no
// response for a lease TTL (a half-open connection), is reopened
// with backoff (100 ms doubling to max_backoff) on the same lease: the
// server restores leases from RocksDB, so a kill -9 of the server is a gap in
// heartbeats. A lease lost for good (UNAUTHENTICATED, FAILED_PRECONDITION:
// it expired, or the server restarted on other data) means the server has
// reported this node's placed sandboxes LOST and may have re-created them
// elsewhere: the agent kills them (no sandbox runs twice) and registers a new
// lease. A registration refused with ALREADY_EXISTS (another live worker
// holds this node id) is retried with backoff and logged.
//
// Threads: the agent's thread (connects, writes heartbeats) and, while a
// stream is open, a reader thread it owns (reads commands and executes
// them). Both are joined by Stop() / the destructor.
//
// Lock order: mu_ is a leaf. It is never held across an RPC or a
// SandboxManager call.
#ifndef MEMMGR_WORKER_SERVICE_CLUSTER_AGENT_H_
#define MEMMGR_WORKER_SERVICE_CLUSTER_AGENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "common/mutex.h"
#include "memmgr/v1/memory_manager.pb.h"
#include "worker/service/sandbox_manager.h"

namespace memmgr::worker {

struct ClusterAgentOptions {
  std::string server;     // host:port of memmgr-server
  std::string node_name;  // 1..253 bytes
  uint32_t node = 0;      // the cluster node id, 0..1023
  std::string address;    // host:port of this worker's Worker service
  std::map<uint32_t, uint32_t> distances;  // node -> [10, 254]
  absl::Duration max_backoff = absl::Seconds(5);
  absl::Duration rpc_deadline = absl::Seconds(5);  // per RPC attempt
};

class ClusterAgent {
 public:
  // Validates the options and starts the agent's thread; registering and
  // connecting happen there (the worker serves before the server is up).
  static absl::StatusOr<std::unique_ptr<ClusterAgent>> Start(
      ClusterAgentOptions options, SandboxManager* manager);
  ~ClusterAgent();  // Stop()
  ClusterAgent(const ClusterAgent&) = delete;
  ClusterAgent& operator=(const ClusterAgent&) = delete;

  // Sends a last heartbeat (the placed sandboxes' final statuses), ends the
  // lease (UnregisterWorker) and joins the threads. Call after the
  // SandboxManager was shut down, so the statuses are final.
  void Stop();

  struct Stats {
    bool connected = false;      // a stream is open and answered
    std::string lease_id;        // "" while unregistered
    uint64_t commands = 0;       // commands executed
    uint64_t reconnects = 0;     // streams opened after the first
    uint64_t registrations = 0;  // leases registered
    uint32_t placed = 0;         // cluster sandboxes known here
  };
  Stats GetStats();

 private:
  ClusterAgent(ClusterAgentOptions options, SandboxManager* manager,
               std::unique_ptr<Client> client);

  struct PlacedHere {
    std::string worker_sandbox_id;
    v1::StopStatus last_status;  // as last seen in ListSandboxes
  };

  void Run();
  // Registers a lease; false (after logging) when stopping or refused.
  bool Register();
  // One stream's life: returns its final status (OK when stopping).
  absl::Status RunStream();
  void ReadLoop(grpc::ClientReaderWriter<v1::HeartbeatRequest,
                                         v1::HeartbeatResponse>* stream);
  v1::CommandResult Execute(const v1::WorkerCommand& command);
  v1::WorkerStatus MemoryStatus();
  // The placed sandboxes' report; prunes the ones the manager forgot.
  std::vector<v1::PlacedSandboxReport> Report();
  // The lease is gone for good: kill what was placed here, forget it.
  void DropPlaced(const std::string& why);
  // Sleeps up to `d` or until stopping; false when stopping.
  bool Pause(absl::Duration d);

  const ClusterAgentOptions options_;
  SandboxManager* const manager_;
  const std::unique_ptr<Client> client_;

  Mutex mu_;
  CondVar cv_;  // stopping, results queued, or the reader ended
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool reader_done_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  std::string lease_id_ ABSL_GUARDED_BY(mu_);
  absl::Duration ttl_ ABSL_GUARDED_BY(mu_) = absl::Seconds(10);
  absl::Time last_response_ ABSL_GUARDED_BY(mu_);  // on the current stream
  std::vector<v1::CommandResult> results_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, PlacedHere> placed_ ABSL_GUARDED_BY(mu_);
  uint64_t commands_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t reconnects_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t registrations_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ = false;  // Stop() ran (caller's thread only)
  std::thread thread_;
};

}  // namespace memmgr::worker

#endif  // MEMMGR_WORKER_SERVICE_CLUSTER_AGENT_H_
