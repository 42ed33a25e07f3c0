// memmgr-server: the central memory-manager service. Wires flags into a
// ServerRunner and waits for SIGTERM/SIGINT; all logic lives in
// memmgr_server_core.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "common/byte_size.h"
#include "common/flags_help.h"
#include "common/logging.h"
#include "server/server_runner.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070",
          "gRPC listen address host:port (port 0 = pick a free port; see "
          "--port_file)");
ABSL_FLAG(std::string, port_file, "",
          "if set, write the bound gRPC port to this file once serving");
ABSL_FLAG(std::string, data_dir, "",
          "RocksDB directory holding swap slots and leases (required; created "
          "if missing)");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "Prometheus /metrics listen address host:port; empty disables");
ABSL_FLAG(std::string, metrics_port_file, "",
          "if set, write the bound metrics port to this file");
ABSL_FLAG(uint64_t, swap_capacity, uint64_t{1} << 20,
          "swap area size in 4 KiB pages (slots); 1048576 = 4 GiB");
ABSL_FLAG(uint32_t, max_batch_pages, 256,
          "largest SwapOut/SwapIn/FreeSlots batch in pages (1..4096)");
ABSL_FLAG(bool, sync, false,
          "fsync the RocksDB WAL on every batch (power-loss durability); "
          "without it an acknowledged batch survives kill -9 but not power "
          "loss");
ABSL_FLAG(absl::Duration, lease_ttl, absl::Seconds(30),
          "a worker lease expires this long after its last heartbeat and its "
          "slots are freed (10ms..24h)");
ABSL_FLAG(std::string, zswap_compressor, "lz4",
          "how SwapOut encodes pages for RocksDB and the compressed pool: "
          "lz4, zstd (level 1) or none (raw; same-filled pages are always "
          "stored as one word)");
ABSL_FLAG(memmgr::ByteSize, zswap_max_pool_bytes, memmgr::ByteSize{0},
          "the compressed pool's limit (e.g. 512M); 0 = --zswap_max_pool_"
          "percent of host memory");
ABSL_FLAG(uint32_t, zswap_max_pool_percent, 20,
          "the pool's limit as a percentage of host memory when "
          "--zswap_max_pool_bytes is 0 (zswap's max_pool_percent); 0 = no "
          "pool (SwapIn always reads RocksDB)");
ABSL_FLAG(uint32_t, zswap_accept_threshold_percent, 90,
          "once the pool is full, it accepts pages again when the shrinker "
          "has brought it under this percentage of its limit (1..100)");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "on SIGTERM, how long in-flight RPCs may take before they are "
          "cancelled");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "memmgr-server: the cluster memory manager (swap store, leases, "
      "metrics).\n\nUsage: memmgr-server --data_dir=DIR [flags]\n"
      "Stops cleanly on SIGTERM/SIGINT: drains RPCs, closes RocksDB.");
  memmgr::ShowFlagsOfInHelp("server/main.cc");
  absl::ParseCommandLine(argc, argv);

  // Block the stop signals before any thread starts, so only sigwait below
  // receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  memmgr::ServerConfig config;
  config.listen = absl::GetFlag(FLAGS_listen);
  config.port_file = absl::GetFlag(FLAGS_port_file);
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  config.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  config.metrics_port_file = absl::GetFlag(FLAGS_metrics_port_file);
  config.swap_capacity = absl::GetFlag(FLAGS_swap_capacity);
  config.max_batch_pages = absl::GetFlag(FLAGS_max_batch_pages);
  config.sync = absl::GetFlag(FLAGS_sync);
  config.lease_ttl = absl::GetFlag(FLAGS_lease_ttl);
  config.zswap_compressor = absl::GetFlag(FLAGS_zswap_compressor);
  config.zswap_max_pool_bytes = absl::GetFlag(FLAGS_zswap_max_pool_bytes).bytes;
  config.zswap_max_pool_percent = absl::GetFlag(FLAGS_zswap_max_pool_percent);
  config.zswap_accept_threshold_percent =
      absl::GetFlag(FLAGS_zswap_accept_threshold_percent);

  absl::StatusOr<std::unique_ptr<memmgr::ServerRunner>> runner =
      memmgr::ServerRunner::Start(config);
  if (!runner.ok()) {
    std::cerr << "memmgr-server: " << runner.status().message() << "\n";
    return 1;
  }
  MEMMGR_LOG(INFO)
      << "memmgr-server serving gRPC on port " << (*runner)->port()
      << ", metrics on port " << (*runner)->metrics_port() << ", data in "
      << config.data_dir << (config.sync ? " (sync)" : "") << ", pages encoded "
      << config.zswap_compressor << ", compressed pool "
      << ((*runner)->store()->zswap() != nullptr
              ? memmgr::FormatByteSize(
                    (*runner)->store()->zswap()->options().max_pool_bytes)
              : std::string("off"));

  int sig = 0;
  sigwait(&stop_signals, &sig);
  MEMMGR_LOG(INFO) << "signal " << sig << ": draining and closing";
  (*runner)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  MEMMGR_LOG(INFO) << "memmgr-server stopped cleanly";
  return 0;
}
