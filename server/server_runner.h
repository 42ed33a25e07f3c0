// ServerRunner: one running memmgr-server — the swap store on RocksDB, the
// gRPC server (MemoryManager + health + reflection) and the Prometheus
// exposer — built from a ServerConfig. main.cc only parses flags into a
// config and waits for a signal; benchmarks and tests start the same thing
// in-process.
//
// Thread-safety: Shutdown() may be called from any thread, once or more.
#ifndef MEMMGR_SERVER_SERVER_RUNNER_H_
#define MEMMGR_SERVER_SERVER_RUNNER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/cluster/cluster_state.h"
#include "server/grpc/memory_manager_service.h"
#include "server/metrics/server_metrics.h"
#include "server/swap/swap_store.h"

namespace prometheus {
class Exposer;
}

namespace memmgr {

struct ServerConfig {
  std::string listen = "127.0.0.1:7070";  // host:port; port 0 = ephemeral
  std::string port_file;                  // gets the bound gRPC port
  std::string data_dir;                   // RocksDB directory (required)
  std::string metrics_listen = "127.0.0.1:9464";  // "" disables /metrics
  std::string metrics_port_file;                  // gets the bound metrics port
  uint64_t swap_capacity = uint64_t{1} << 20;
  uint32_t max_batch_pages = 256;
  bool sync = false;
  absl::Duration lease_ttl = absl::Seconds(30);
  // The compressed tier (server/zswap). The library default is off: raw
  // records, no pool; memmgr-server's flags default to lz4 and 20%.
  std::string zswap_compressor = "none";  // lz4 | zstd | none
  uint64_t zswap_max_pool_bytes = 0;      // 0: use the percentage
  uint32_t zswap_max_pool_percent = 0;    // of host memory; 0 = no pool
  uint32_t zswap_accept_threshold_percent = 90;
};

class ServerRunner {
 public:
  static absl::StatusOr<std::unique_ptr<ServerRunner>> Start(
      const ServerConfig& config);
  ~ServerRunner();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }  // 0 when disabled
  SwapStore* store() const { return store_.get(); }
  ClusterState* cluster() const { return cluster_.get(); }

  // Stops accepting RPCs, cancels open streams, lets in-flight unary RPCs
  // finish for up to `grace`, then closes the store (RocksDB) cleanly.
  void Shutdown(absl::Duration grace = absl::Seconds(10));

 private:
  ServerRunner() = default;

  // Declaration order is teardown order, reversed: the gRPC server goes
  // first, the store (RocksDB) last.
  std::unique_ptr<SwapStore> store_;
  std::unique_ptr<ClusterState> cluster_;  // uses store_
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<MemoryManagerService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  int metrics_port_ = 0;
  bool shut_down_ = false;
};

// Writes `port` to `path` atomically (write a temp file, then rename), so a
// reader polling for the file never sees it half-written.
absl::Status WritePortFile(const std::string& path, int port);

}  // namespace memmgr

#endif  // MEMMGR_SERVER_SERVER_RUNNER_H_
