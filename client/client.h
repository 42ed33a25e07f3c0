// memmgr::Client: the C++ client of the MemoryManager service.
//
// Every call gets a per-attempt deadline; calls that fail with UNAVAILABLE
// (server restarting, connection refused) are retried with exponential
// backoff and jitter, up to max_attempts. No other code is retried: the
// server's answer is final. A retried SwapOut whose first attempt reached
// the server may leave unreferenced slots behind; they are freed with the
// lease (never a wrong or lost page).
//
// Thread-safety: safe for concurrent use (gRPC stubs are).
#ifndef MEMMGR_CLIENT_CLIENT_H_
#define MEMMGR_CLIENT_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "memmgr/v1/memory_manager.grpc.pb.h"

namespace memmgr {

struct ClientOptions {
  std::string target = "127.0.0.1:7070";        // host:port of memmgr-server
  absl::Duration deadline = absl::Seconds(10);  // per attempt
  int max_attempts = 5;                         // 1 = no retries
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  // Default: insecure (plaintext) credentials.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  absl::StatusOr<v1::RegisterWorkerResponse> RegisterWorker(
      const v1::RegisterWorkerRequest& request);
  // Sends one heartbeat on a fresh stream and waits for its answer.
  absl::Status HeartbeatOnce(const std::string& lease_id);
  absl::StatusOr<uint64_t> UnregisterWorker(const std::string& lease_id);

  absl::StatusOr<std::vector<v1::SwapEntry>> SwapOut(
      const std::string& lease_id, const std::vector<std::string>& pages);
  absl::StatusOr<std::vector<std::string>> SwapIn(
      const std::string& lease_id, const std::vector<v1::SwapEntry>& entries);
  absl::StatusOr<uint64_t> FreeSlots(const std::string& lease_id,
                                     const std::vector<v1::SwapEntry>& entries);
  absl::Status DupSlots(const std::string& lease_id,
                        const std::vector<v1::SwapEntry>& entries);

  absl::StatusOr<v1::GetStatsResponse> GetStats();
  absl::StatusOr<v1::ListLeasesResponse> ListLeases();

  // Cluster placement (the server chooses the worker). CreateClusterSandbox
  // and KillClusterSandbox are sent once, never retried: a create the
  // server applied before the connection broke must not run twice.
  absl::StatusOr<v1::CreateClusterSandboxResponse> CreateClusterSandbox(
      const v1::CreateClusterSandboxRequest& request);
  absl::StatusOr<v1::ListClusterSandboxesResponse> ListClusterSandboxes();
  absl::Status KillClusterSandbox(const std::string& sandbox_id);

  // For RPCs without a wrapper yet, and for tests of raw requests.
  v1::MemoryManager::Stub* stub() { return stub_.get(); }
  const ClientOptions& options() const { return options_; }
  // A context with this client's deadline applied.
  std::unique_ptr<grpc::ClientContext> NewContext() const;

 private:
  Client(ClientOptions options, std::shared_ptr<grpc::Channel> channel);

  // Runs `rpc(context)` with deadline and UNAVAILABLE retries.
  template <typename Rpc>
  absl::Status Call(Rpc rpc);

  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::MemoryManager::Stub> stub_;
};

}  // namespace memmgr

#endif  // MEMMGR_CLIENT_CLIENT_H_
