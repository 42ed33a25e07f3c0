// ServerMetrics: the server's Prometheus registry. Store gauges and counters
// are read from SwapStore at scrape time (a Collectable), so the store knows
// nothing of Prometheus; per-RPC latency and outcome are recorded by the gRPC
// layer through ObserveRpc.
//
// Thread-safety: safe for concurrent use.
#ifndef MEMMGR_SERVER_METRICS_SERVER_METRICS_H_
#define MEMMGR_SERVER_METRICS_SERVER_METRICS_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace memmgr {

class ClusterState;
class SwapStore;

class ServerMetrics {
 public:
  // `store` (and `cluster`, if not null: the memmgr_cluster_* families)
  // must outlive this object and every scrape through it.
  explicit ServerMetrics(const SwapStore* store,
                         ClusterState* cluster = nullptr);

  // Records one finished RPC. `method` is one of the MemoryManager method
  // names (bounded label set); `code` a gRPC status code name.
  void ObserveRpc(absl::string_view method, absl::Duration latency,
                  absl::string_view code);

  // Everything to expose: the registry and the store collector.
  std::shared_ptr<prometheus::Collectable> registry() const {
    return registry_;
  }
  std::shared_ptr<prometheus::Collectable> store_collector() const {
    return store_collector_;
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> store_collector_;
  prometheus::Family<prometheus::Histogram>* latency_family_;
  prometheus::Family<prometheus::Counter>* requests_family_;
  // Pre-created per method so the hot path skips the family's label lookup.
  absl::flat_hash_map<std::string, prometheus::Histogram*> latency_;
};

}  // namespace memmgr

#endif  // MEMMGR_SERVER_METRICS_SERVER_METRICS_H_
