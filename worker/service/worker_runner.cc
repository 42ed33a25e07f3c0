#include "worker/service/worker_runner.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/status_util.h"
#include "prometheus/exposer.h"

namespace memmgr::worker {
namespace {

// Writes `port` to `path` atomically (temp file + rename), so a reader
// polling for the file never sees it half-written.
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

// host:port others reach the Worker service at: the listen host with the
// bound port, the host name for a wildcard listen address.
std::string AdvertisedAddress(const std::string& listen, int port) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") {
    char name[256] = {};
    host = ::gethostname(name, sizeof(name) - 1) == 0 && name[0] != 0
               ? name
               : "localhost";
  }
  return absl::StrCat(host, ":", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<WorkerRunner>> WorkerRunner::Start(
    WorkerConfig config) {
  std::unique_ptr<WorkerRunner> r(new WorkerRunner());
  r->metrics_ = std::make_unique<WorkerMetrics>();
  WorkerMetrics* metrics = r->metrics_.get();
  config.manager.fork_observer = [metrics](absl::Duration d) {
    metrics->ObserveFork(d);
  };
  absl::StatusOr<std::unique_ptr<SandboxManager>> manager =
      SandboxManager::Create(config.manager);
  if (!manager.ok()) return manager.status();
  r->manager_ = *std::move(manager);
  r->metrics_->SetManager(r->manager_.get());

  if (!config.metrics_listen.empty()) {
    try {
      r->exposer_ =
          std::make_unique<prometheus::Exposer>(config.metrics_listen);
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat(
          "cannot serve metrics on ", config.metrics_listen, ": ", e.what()));
    }
    r->exposer_->RegisterCollectable(r->metrics_->registry());
    r->exposer_->RegisterCollectable(r->metrics_->manager_collector());
    std::vector<int> ports = r->exposer_->GetListeningPorts();
    r->metrics_port_ = ports.empty() ? 0 : ports.front();
  }

  r->service_ = std::make_unique<WorkerService>(
      WorkerService::Options{r->manager_.get(), r->metrics_.get()});
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(),
                           &r->port_);
  // A CreateSandbox carries the ELF, stdin, args and env at their caps.
  const SandboxManagerOptions& mo = r->manager_->options();
  const uint64_t max_message = mo.max_elf_bytes + mo.max_stdin_bytes +
                               mo.max_args_bytes + (uint64_t{1} << 20);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<uint64_t>(max_message, INT32_MAX)));
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
  if (!config.cluster.server.empty()) {
    if (config.cluster.address.empty()) {
      config.cluster.address = AdvertisedAddress(config.listen, r->port_);
    }
    // Not the bare host name: two workers on one host would take each
    // other's node over (same name) in an endless round of lost leases.
    if (config.cluster.node_name.empty()) {
      config.cluster.node_name = config.cluster.address;
    }
    absl::StatusOr<std::unique_ptr<ClusterAgent>> agent =
        ClusterAgent::Start(config.cluster, r->manager_.get());
    if (!agent.ok()) return agent.status();
    r->agent_ = *std::move(agent);
  }
  return r;
}

void WorkerRunner::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  const absl::Time start = absl::Now();
  // civetweb's stop waits out its ~1 s poll interval: close /metrics while
  // the RPCs drain instead of after.
  std::thread metrics_closer(
      [exposer = std::move(exposer_)]() mutable { exposer.reset(); });
  // Killing the sandboxes first ends every Wait and Attach, so the drain
  // below only waits for short unary calls.
  if (manager_ != nullptr) manager_->Shutdown();
  // Then the cluster learns their final statuses and that this node left.
  if (agent_ != nullptr) agent_->Stop();
  if (server_ != nullptr) {
    if (auto* health = server_->GetHealthCheckService()) health->Shutdown();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
  }
  const absl::Time drained = absl::Now();
  metrics_closer.join();
  if (metrics_ != nullptr) metrics_->SetManager(nullptr);
  agent_.reset();
  manager_.reset();  // joins the executors, frees every frame
  MEMMGR_LOG(INFO) << "shutdown: RPCs drained in " << (drained - start)
                   << ", sandboxes and pool freed " << (absl::Now() - drained)
                   << " later";
}

WorkerRunner::~WorkerRunner() { Shutdown(); }

}  // namespace memmgr::worker
