// MemoryManagerService: the gRPC face of the server. Thin by design (the
// TF-Serving habit): every handler validates what the core cannot (proto
// shapes), calls SwapStore, and converts absl::Status to grpc::Status in one
// place (common/status_util). Unary and bulk-stream RPCs use the sync API
// (their work is blocking RocksDB I/O, which must not run on callback
// threads); Heartbeat uses a callback reactor so an idle worker's stream
// holds no thread, and so that a cluster member's stream can carry
// commands down to it at any time. RPCs of later milestones answer
// UNIMPLEMENTED (the generated base class's default).
//
// Thread-safety: safe for concurrent use; gRPC calls handlers concurrently.
// Lock order: streams_mu_ is a leaf (no other lock is taken while holding
// it); ClusterState::mu_ -> a Heartbeat stream's write-queue lock (a leaf).
#ifndef MEMMGR_SERVER_GRPC_MEMORY_MANAGER_SERVICE_H_
#define MEMMGR_SERVER_GRPC_MEMORY_MANAGER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_set.h"
#include "common/mutex.h"
#include "memmgr/v1/memory_manager.grpc.pb.h"
#include "server/cluster/cluster_state.h"
#include "server/metrics/server_metrics.h"
#include "server/swap/swap_store.h"

namespace memmgr {

class MemoryManagerService final
    : public v1::MemoryManager::WithCallbackMethod_Heartbeat<
          v1::MemoryManager::Service> {
 public:
  struct Options {
    SwapStore* store = nullptr;        // not owned; outlives the service
    ServerMetrics* metrics = nullptr;  // not owned; may be null
    // The cluster control plane (CreateSandbox, ListSandboxes,
    // KillSandbox, members' heartbeats); null = those RPCs answer
    // UNIMPLEMENTED. Not owned; outlives the service.
    ClusterState* cluster = nullptr;
  };
  explicit MemoryManagerService(Options options);

  // Cancels every open stream (heartbeats, bulk streams) so that
  // grpc::Server::Shutdown does not wait for idle workers; new streams are
  // refused with UNAVAILABLE.
  void CancelStreams();

  grpc::Status RegisterWorker(grpc::ServerContext* ctx,
                              const v1::RegisterWorkerRequest* req,
                              v1::RegisterWorkerResponse* resp) override;
  grpc::ServerBidiReactor<v1::HeartbeatRequest, v1::HeartbeatResponse>*
  Heartbeat(grpc::CallbackServerContext* ctx) override;
  grpc::Status UnregisterWorker(grpc::ServerContext* ctx,
                                const v1::UnregisterWorkerRequest* req,
                                v1::UnregisterWorkerResponse* resp) override;
  grpc::Status SwapOut(grpc::ServerContext* ctx, const v1::SwapOutRequest* req,
                       v1::SwapOutResponse* resp) override;
  grpc::Status SwapIn(grpc::ServerContext* ctx, const v1::SwapInRequest* req,
                      v1::SwapInResponse* resp) override;
  grpc::Status FreeSlots(grpc::ServerContext* ctx,
                         const v1::FreeSlotsRequest* req,
                         v1::FreeSlotsResponse* resp) override;
  grpc::Status DupSlots(grpc::ServerContext* ctx,
                        const v1::DupSlotsRequest* req,
                        v1::DupSlotsResponse* resp) override;
  grpc::Status StreamSwapOut(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::SwapOutResponse, v1::SwapOutRequest>* stream)
      override;
  grpc::Status StreamSwapIn(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::SwapInResponse, v1::SwapInRequest>* stream)
      override;
  grpc::Status GetStats(grpc::ServerContext* ctx,
                        const v1::GetStatsRequest* req,
                        v1::GetStatsResponse* resp) override;
  grpc::Status ListLeases(grpc::ServerContext* ctx,
                          const v1::ListLeasesRequest* req,
                          v1::ListLeasesResponse* resp) override;
  // Cluster placement (server/cluster/cluster_state.h): block their
  // handler thread until the chosen worker answers over its Heartbeat
  // stream, at most until the client's deadline (and 60 s).
  grpc::Status CreateSandbox(grpc::ServerContext* ctx,
                             const v1::CreateClusterSandboxRequest* req,
                             v1::CreateClusterSandboxResponse* resp) override;
  grpc::Status ListSandboxes(grpc::ServerContext* ctx,
                             const v1::ListClusterSandboxesRequest* req,
                             v1::ListClusterSandboxesResponse* resp) override;
  grpc::Status KillSandbox(grpc::ServerContext* ctx,
                           const v1::KillClusterSandboxRequest* req,
                           v1::KillClusterSandboxResponse* resp) override;

  // Used by the heartbeat reactor.
  SwapStore* store() const { return options_.store; }
  ClusterState* cluster() const { return options_.cluster; }
  void Observe(absl::string_view method, absl::Time start,
               const absl::Status& status);
  bool TrackStream(grpc::ServerContextBase* ctx);  // false when shutting down
  void UntrackStream(grpc::ServerContextBase* ctx);

 private:
  absl::Status DoSwapOut(const v1::SwapOutRequest& req,
                         v1::SwapOutResponse* resp);
  absl::Status DoSwapIn(const v1::SwapInRequest& req, v1::SwapInResponse* resp);
  absl::Status NeedCluster() const;

  const Options options_;
  Mutex streams_mu_;
  bool shutting_down_ ABSL_GUARDED_BY(streams_mu_) = false;
  absl::flat_hash_set<grpc::ServerContextBase*> streams_
      ABSL_GUARDED_BY(streams_mu_);
};

}  // namespace memmgr

#endif  // MEMMGR_SERVER_GRPC_MEMORY_MANAGER_SERVICE_H_
