// WorkerService: the memmgr.v1.Worker gRPC service (worker.proto). Thin:
// each handler calls the SandboxManager, converts absl::Status to
// grpc::Status in one place (common/status_util) and counts the outcome.
// Wait and Attach block their handler thread (sync API) until the sandbox
// stops, the deadline passes, the client cancels or the worker shuts down;
// they poll for cancellation every 100 ms.
//
// Thread-safety: safe for concurrent use (gRPC calls handlers from its
// thread pool).
#ifndef MEMMGR_WORKER_SERVICE_WORKER_SERVICE_H_
#define MEMMGR_WORKER_SERVICE_WORKER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "memmgr/v1/worker.grpc.pb.h"
#include "worker/service/sandbox_manager.h"
#include "worker/service/worker_metrics.h"

namespace memmgr::worker {

class WorkerService final : public v1::Worker::Service {
 public:
  struct Options {
    SandboxManager* manager = nullptr;  // required; outlives the service
    WorkerMetrics* metrics = nullptr;   // optional
  };
  explicit WorkerService(Options options) : options_(options) {}

  grpc::Status CreateSandbox(grpc::ServerContext* ctx,
                             const v1::CreateSandboxRequest* request,
                             v1::CreateSandboxResponse* response) override;
  grpc::Status Start(grpc::ServerContext* ctx, const v1::StartRequest* request,
                     v1::StartResponse* response) override;
  grpc::Status Wait(grpc::ServerContext* ctx, const v1::WaitRequest* request,
                    v1::WaitResponse* response) override;
  grpc::Status Attach(grpc::ServerContext* ctx,
                      const v1::AttachRequest* request,
                      grpc::ServerWriter<v1::OutputChunk>* writer) override;
  grpc::Status Snapshot(grpc::ServerContext* ctx,
                        const v1::SnapshotRequest* request,
                        v1::SnapshotResponse* response) override;
  grpc::Status Fork(grpc::ServerContext* ctx, const v1::ForkRequest* request,
                    v1::ForkResponse* response) override;
  grpc::Status Kill(grpc::ServerContext* ctx, const v1::KillRequest* request,
                    v1::KillResponse* response) override;
  grpc::Status ListSandboxes(grpc::ServerContext* ctx,
                             const v1::ListSandboxesRequest* request,
                             v1::ListSandboxesResponse* response) override;
  grpc::Status DeleteSnapshot(grpc::ServerContext* ctx,
                              const v1::DeleteSnapshotRequest* request,
                              v1::DeleteSnapshotResponse* response) override;
  grpc::Status GetStats(grpc::ServerContext* ctx,
                        const v1::WorkerStatsRequest* request,
                        v1::WorkerStatsResponse* response) override;

 private:
  // Converts and counts: every handler returns through here.
  grpc::Status Done(absl::string_view method, const absl::Status& status);

  const Options options_;
};

}  // namespace memmgr::worker

#endif  // MEMMGR_WORKER_SERVICE_WORKER_SERVICE_H_
