#include "server/metrics/server_metrics.h"

#include <cmath>

#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"
#include "server/swap/swap_store.h"

namespace memmgr {
namespace {

// The MemoryManager methods with a latency series.
constexpr const char* kMethods[] = {
    "RegisterWorker", "Heartbeat", "UnregisterWorker", "SwapOut",
    "SwapIn",         "FreeSlots", "DupSlots",         "StreamSwapOut",
    "StreamSwapIn",   "GetStats",  "ListLeases"};

prometheus::MetricFamily Single(const std::string& name,
                                const std::string& help,
                                prometheus::MetricType type, double value) {
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return prometheus::MetricFamily{name, help, type, {m}};
}

// Reads the store's state at scrape time.
class StoreCollector final : public prometheus::Collectable {
 public:
  explicit StoreCollector(const SwapStore* store) : store_(store) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    const SwapStoreStats s = store_->GetStats();
    return {
        Single("memmgr_swap_slots_used", "Swap slots holding a page.",
               MetricType::Gauge, s.slots_used),
        Single("memmgr_swap_slots_capacity",
               "Swap slots in the swap area (--swap_capacity).",
               MetricType::Gauge, s.slots_capacity),
        Single("memmgr_swap_out_pages_total",
               "Pages stored by SwapOut (acknowledged, durable).",
               MetricType::Counter, s.swap_out_pages),
        Single("memmgr_swap_in_pages_total", "Pages returned by SwapIn.",
               MetricType::Counter, s.swap_in_pages),
        Single("memmgr_swap_free_pages_total",
               "Slots freed (FreeSlots to count 0, or lease end).",
               MetricType::Counter, s.freed_pages),
        Single("memmgr_leases", "Live worker leases.", MetricType::Gauge,
               s.leases),
        Single("memmgr_lease_expiries_total",
               "Leases that expired for missed heartbeats.",
               MetricType::Counter, s.leases_expired),
        Single("memmgr_swap_meta_fenced",
               "1 after a FreeSlots/DupSlots storage write failed: those are "
               "refused until the server restarts.",
               MetricType::Gauge, s.meta_fenced ? 1 : 0),
        Single("memmgr_rocksdb_sst_bytes", "Bytes of RocksDB SST files.",
               MetricType::Gauge, s.storage.sst_bytes),
        Single("memmgr_rocksdb_live_data_bytes",
               "RocksDB's estimate of live data bytes.", MetricType::Gauge,
               s.storage.live_data_bytes),
        Single("memmgr_rocksdb_memtable_bytes",
               "Bytes in RocksDB memtables (not yet flushed to SST).",
               MetricType::Gauge, s.storage.memtable_bytes),
    };
  }

 private:
  const SwapStore* const store_;
};

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  // 10 µs .. ~10 s, three buckets per decade.
  prometheus::Histogram::BucketBoundaries b;
  for (double v = 1e-5; v < 11.0; v *= std::cbrt(10.0)) b.push_back(v);
  return b;
}

}  // namespace

ServerMetrics::ServerMetrics(const SwapStore* store)
    : registry_(std::make_shared<prometheus::Registry>()),
      store_collector_(std::make_shared<StoreCollector>(store)) {
  latency_family_ = &prometheus::BuildHistogram()
                         .Name("memmgr_rpc_latency_seconds")
                         .Help("Server-side latency of MemoryManager RPCs.")
                         .Register(*registry_);
  requests_family_ = &prometheus::BuildCounter()
                          .Name("memmgr_rpc_requests_total")
                          .Help("MemoryManager RPCs by method and status code.")
                          .Register(*registry_);
  for (const char* m : kMethods) {
    latency_[m] = &latency_family_->Add({{"method", m}}, LatencyBuckets());
  }
  prometheus::BuildGauge()
      .Name("memmgr_build_info")
      .Help("Always 1; labels name the build.")
      .Register(*registry_)
      .Add({{"version", "0.1.0"}, {"component", "server"}})
      .Set(1);
}

void ServerMetrics::ObserveRpc(absl::string_view method, absl::Duration latency,
                               absl::string_view code) {
  auto it = latency_.find(method);
  if (it != latency_.end()) {
    it->second->Observe(absl::ToDoubleSeconds(latency));
  }
  requests_family_
      ->Add({{"method", std::string(method)}, {"code", std::string(code)}})
      .Increment();
}

}  // namespace memmgr
