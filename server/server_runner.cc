#include "server/server_runner.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_util.h"
#include "prometheus/exposer.h"
#include "server/swap/rocksdb_slot_storage.h"
#include "server/swap/swap_entry.h"

namespace memmgr {

absl::Status WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.good()) {
      return absl::InternalError(absl::StrCat("cannot write ", tmp));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ServerRunner>> ServerRunner::Start(
    const ServerConfig& config) {
  if (config.data_dir.empty()) {
    return absl::InvalidArgumentError(
        "--data_dir is required (the RocksDB directory for swap slots)");
  }
  // Flags first: a bad one must not open (or create) the data directory.
  absl::StatusOr<Compressor> compressor =
      ParseCompressor(config.zswap_compressor);
  if (!compressor.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--zswap_compressor: ", compressor.status().message()));
  }
  if (config.zswap_max_pool_percent > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("--zswap_max_pool_percent=", config.zswap_max_pool_percent,
                     ": want 0..100"));
  }
  if (config.zswap_accept_threshold_percent < 1 ||
      config.zswap_accept_threshold_percent > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("--zswap_accept_threshold_percent=",
                     config.zswap_accept_threshold_percent, ": want 1..100"));
  }
  std::unique_ptr<ServerRunner> r(new ServerRunner());

  absl::StatusOr<std::unique_ptr<RocksDbSlotStorage>> storage =
      RocksDbSlotStorage::Open(config.data_dir);
  if (!storage.ok()) return storage.status();
  SwapStoreOptions opts;
  opts.capacity_pages = config.swap_capacity;
  opts.max_batch_pages = config.max_batch_pages;
  opts.sync = config.sync;
  opts.lease_ttl = config.lease_ttl;
  opts.compressor = *compressor;
  opts.zswap_max_pool_bytes = config.zswap_max_pool_bytes;
  if (opts.zswap_max_pool_bytes == 0 && config.zswap_max_pool_percent > 0) {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page_size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page_size > 0) {
      opts.zswap_max_pool_bytes = static_cast<uint64_t>(pages) *
                                  static_cast<uint64_t>(page_size) / 100 *
                                  config.zswap_max_pool_percent;
    }
  }
  opts.zswap_accept_threshold_percent = config.zswap_accept_threshold_percent;
  absl::StatusOr<std::unique_ptr<SwapStore>> store =
      SwapStore::Open(opts, *std::move(storage));
  if (!store.ok()) return store.status();
  r->store_ = *std::move(store);
  r->store_->StartLeaseReaper();

  ClusterStateOptions cluster_options;
  cluster_options.store = r->store_.get();
  r->cluster_ = std::make_unique<ClusterState>(cluster_options);
  r->metrics_ =
      std::make_unique<ServerMetrics>(r->store_.get(), r->cluster_.get());
  if (!config.metrics_listen.empty()) {
    try {
      r->exposer_ =
          std::make_unique<prometheus::Exposer>(config.metrics_listen);
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat(
          "cannot serve metrics on ", config.metrics_listen, ": ", e.what()));
    }
    r->exposer_->RegisterCollectable(r->metrics_->registry());
    r->exposer_->RegisterCollectable(r->metrics_->store_collector());
    std::vector<int> ports = r->exposer_->GetListeningPorts();
    r->metrics_port_ = ports.empty() ? 0 : ports.front();
  }

  r->service_ =
      std::make_unique<MemoryManagerService>(MemoryManagerService::Options{
          r->store_.get(), r->metrics_.get(), r->cluster_.get()});
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(),
                           &r->port_);
  // A full batch plus protobuf framing must fit in one message.
  const int max_message =
      static_cast<int>(config.max_batch_pages * (kPageSize + 64) + (1 << 16));
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(max_message);
  builder.RegisterService(r->service_.get());
  r->server_ = builder.BuildAndStart();
  if (r->server_ == nullptr || r->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen,
                     " (address in use, or not host:port?)"));
  }
  if (!config.port_file.empty()) {
    MEMMGR_RETURN_IF_ERROR(WritePortFile(config.port_file, r->port_));
  }
  if (!config.metrics_port_file.empty() && r->metrics_port_ != 0) {
    MEMMGR_RETURN_IF_ERROR(
        WritePortFile(config.metrics_port_file, r->metrics_port_));
  }
  return r;
}

void ServerRunner::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  const absl::Time start = absl::Now();
  // civetweb's stop waits out its ~1 s poll interval: close /metrics while
  // the RPCs drain instead of after.
  std::thread metrics_closer(
      [exposer = std::move(exposer_)]() mutable { exposer.reset(); });
  if (server_ != nullptr) {
    if (auto* health = server_->GetHealthCheckService()) {
      health->Shutdown();  // readiness goes NOT_SERVING first
    }
    // Cluster RPCs waiting for a worker's answer return UNAVAILABLE now
    // instead of holding the drain for up to their deadline.
    cluster_->Shutdown();
    service_->CancelStreams();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
  }
  const absl::Time drained = absl::Now();
  metrics_closer.join();
  const absl::Time metrics_closed = absl::Now();
  // Closing the store stops the reaper and closes RocksDB; every
  // acknowledged batch is already in its WAL.
  cluster_.reset();
  store_.reset();
  MEMMGR_LOG(INFO) << "shutdown: RPCs drained in " << (drained - start)
                   << ", metrics closed " << (metrics_closed - drained)
                   << " later, store closed in "
                   << (absl::Now() - metrics_closed);
}

ServerRunner::~ServerRunner() { Shutdown(); }

}  // namespace memmgr
