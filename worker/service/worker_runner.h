// WorkerRunner: one running `memmgr-worker serve` — the SandboxManager (frame
// pool + executors), the gRPC server (Worker + health + reflection) and the
// Prometheus exposer — built from a WorkerConfig. serve_main.cc only parses
// flags into a config and waits for a signal; tests start the same thing
// in-process.
//
// Thread-safety: Shutdown() may be called from any thread, once or more.
#ifndef MEMMGR_WORKER_SERVICE_WORKER_RUNNER_H_
#define MEMMGR_WORKER_SERVICE_WORKER_RUNNER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/service/cluster_agent.h"
#include "worker/service/sandbox_manager.h"
#include "worker/service/worker_metrics.h"
#include "worker/service/worker_service.h"

namespace prometheus {
class Exposer;
}

namespace memmgr::worker {

struct WorkerConfig {
  std::string listen = "127.0.0.1:7071";  // host:port; port 0 = ephemeral
  std::string port_file;                  // gets the bound gRPC port
  std::string metrics_listen = "127.0.0.1:9465";  // "" disables /metrics
  std::string metrics_port_file;
  SandboxManagerOptions manager;  // fork_observer is set by the runner
  // Cluster membership (ClusterAgent) when cluster.server is set. An empty
  // cluster.address is the listen address with the bound port (the host
  // name instead of a wildcard host); an empty cluster.node_name is that
  // address.
  ClusterAgentOptions cluster;
};

class WorkerRunner {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerRunner>> Start(
      WorkerConfig config);
  ~WorkerRunner();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }  // 0 when disabled
  SandboxManager* manager() const { return manager_.get(); }
  ClusterAgent* cluster_agent() const { return agent_.get(); }  // may be null

  // Kills every sandbox (KILLED, "worker shutting down"), which ends every
  // Wait and Attach; stops accepting RPCs and lets in-flight ones finish
  // for up to `grace`; then joins the executors and frees the pool.
  void Shutdown(absl::Duration grace = absl::Seconds(10));

 private:
  WorkerRunner() = default;

  // Declaration order is teardown order, reversed: the gRPC server goes
  // first, the manager (sandboxes, pool) after it, metrics last.
  std::unique_ptr<WorkerMetrics> metrics_;
  std::unique_ptr<SandboxManager> manager_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<WorkerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ClusterAgent> agent_;  // uses manager_
  int port_ = 0;
  int metrics_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace memmgr::worker

#endif  // MEMMGR_WORKER_SERVICE_WORKER_RUNNER_H_
