// WorkerMetrics: the worker's Prometheus registry, exposed on /metrics by
// WorkerRunner. Gauges and counters are read from the SandboxManager at
// scrape time (a Collectable), so the manager knows nothing of Prometheus;
// the fork latency histogram is fed through
// SandboxManagerOptions::fork_observer, and RPC outcomes through
// ObserveRpc. Labels are bounded: states, method names and status codes,
// never sandbox ids.
//
// Thread-safety: safe for concurrent use.
#ifndef MEMMGR_WORKER_SERVICE_WORKER_METRICS_H_
#define MEMMGR_WORKER_SERVICE_WORKER_METRICS_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace memmgr::worker {

class SandboxManager;

class WorkerMetrics {
 public:
  WorkerMetrics();

  // The manager whose state scrapes read; must outlive every later scrape.
  // Before it is set, scrapes show only the registry's own metrics.
  void SetManager(SandboxManager* manager);

  void ObserveFork(absl::Duration latency);
  void ObserveRpc(absl::string_view method, absl::string_view code);

  std::shared_ptr<prometheus::Collectable> registry() const {
    return registry_;
  }
  std::shared_ptr<prometheus::Collectable> manager_collector() const {
    return collector_;
  }

 private:
  class ManagerCollector;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> collector_;
  ManagerCollector* manager_collector_;  // == collector_.get()
  prometheus::Histogram* fork_latency_;
  prometheus::Family<prometheus::Counter>* requests_family_;
};

}  // namespace memmgr::worker

#endif  // MEMMGR_WORKER_SERVICE_WORKER_METRICS_H_
