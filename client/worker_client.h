// memmgr::WorkerClient: the C++ client of a worker's Worker service
// (`memmgr-worker serve`, proto/memmgr/v1/worker.proto).
//
// Every unary call gets the per-call deadline of ClientOptions; Wait and
// Attach take their own (they last as long as the sandbox runs). Nothing
// is retried: CreateSandbox and Fork are not idempotent, and a retried
// UNAVAILABLE could make sandboxes twice. Errors carry the server's code.
//
// Thread-safety: safe for concurrent use (gRPC stubs are).
#ifndef MEMMGR_CLIENT_WORKER_CLIENT_H_
#define MEMMGR_CLIENT_WORKER_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "memmgr/v1/worker.grpc.pb.h"

namespace memmgr {

struct WorkerClientOptions {
  std::string target = "127.0.0.1:7071";        // host:port of the worker
  absl::Duration deadline = absl::Seconds(30);  // per unary call
  // Largest CreateSandbox request (ELF + stdin + args).
  int max_send_bytes = 128 << 20;
};

class WorkerClient {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerClient>> Create(
      WorkerClientOptions options);

  absl::StatusOr<v1::CreateSandboxResponse> CreateSandbox(
      const v1::CreateSandboxRequest& request);
  absl::Status Start(const std::string& sandbox_id);
  // `timeout` <= 0: no deadline (waits until the sandbox stops).
  absl::StatusOr<v1::WaitResponse> Wait(const std::string& sandbox_id,
                                        absl::Duration timeout);
  // Calls `on_chunk` for every chunk until the stream ends (the sandbox
  // stopped, or at once with no_wait) or on_chunk returns false.
  absl::Status Attach(
      const v1::AttachRequest& request,
      const std::function<bool(const v1::OutputChunk&)>& on_chunk,
      absl::Duration timeout = absl::ZeroDuration());
  absl::StatusOr<v1::SnapshotResponse> Snapshot(const std::string& sandbox_id,
                                                bool keep_running);
  absl::StatusOr<v1::ForkResponse> Fork(const v1::ForkRequest& request);
  absl::Status Kill(const std::string& sandbox_id);
  absl::StatusOr<v1::ListSandboxesResponse> ListSandboxes();
  absl::Status DeleteSnapshot(const std::string& snapshot_id);
  absl::StatusOr<v1::WorkerStatsResponse> GetStats();

  v1::Worker::Stub* stub() { return stub_.get(); }
  const WorkerClientOptions& options() const { return options_; }

 private:
  WorkerClient(WorkerClientOptions options,
               std::shared_ptr<grpc::Channel> channel);
  std::unique_ptr<grpc::ClientContext> NewContext(
      absl::Duration deadline) const;

  const WorkerClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Worker::Stub> stub_;
};

}  // namespace memmgr

#endif  // MEMMGR_CLIENT_WORKER_CLIENT_H_
