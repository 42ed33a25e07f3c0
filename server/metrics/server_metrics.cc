#include "server/metrics/server_metrics.h"

#include <cmath>

#include "common/metric_families.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"
#include "server/cluster/cluster_state.h"
#include "server/swap/swap_store.h"

namespace memmgr {
namespace {

// The MemoryManager methods with a latency series.
constexpr const char* kMethods[] = {
    "RegisterWorker", "Heartbeat",  "UnregisterWorker", "SwapOut",
    "SwapIn",         "FreeSlots",  "DupSlots",         "StreamSwapOut",
    "StreamSwapIn",   "GetStats",   "ListLeases",       "CreateSandbox",
    "ListSandboxes",  "KillSandbox"};

// Short names for the shared builders (common/metric_families.h).
constexpr auto Single = SingleMetric;
constexpr auto Labelled = LabelledMetric;

// Reads the store's state at scrape time.
class StoreCollector final : public prometheus::Collectable {
 public:
  StoreCollector(const SwapStore* store, ClusterState* cluster)
      : store_(store), cluster_(cluster) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    const SwapStoreStats s = store_->GetStats();
    std::vector<prometheus::MetricFamily> families = {
        Single("memmgr_swap_slots_used", "Swap slots holding a page.",
               MetricType::Gauge, s.slots_used),
        Single("memmgr_swap_slots_capacity",
               "Swap slots in the swap area (--swap_capacity).",
               MetricType::Gauge, s.slots_capacity),
        Single("memmgr_swap_out_pages_total",
               "Pages stored by SwapOut (acknowledged, durable).",
               MetricType::Counter, s.swap_out_pages),
        Labelled("memmgr_swap_in_pages_total",
                 "Pages returned by SwapIn, by the tier that had them: the "
                 "compressed pool (zswap) or RocksDB.",
                 MetricType::Counter, "tier",
                 {{"zswap", static_cast<double>(s.swap_in_zswap_pages)},
                  {"rocksdb", static_cast<double>(s.swap_in_rocksdb_pages)}}),
        Labelled("memmgr_swap_stored_pages_total",
                 "Pages SwapOut stored, by how they were encoded (raw, lz4, "
                 "zstd, same-filled). Only counted with --zswap_compressor or "
                 "a pool.",
                 MetricType::Counter, "codec",
                 {{"raw", static_cast<double>(s.stored_by_codec[0])},
                  {"lz4", static_cast<double>(s.stored_by_codec[1])},
                  {"zstd", static_cast<double>(s.stored_by_codec[2])},
                  {"same", static_cast<double>(s.stored_by_codec[3])}}),
        Single("memmgr_swap_stored_payload_bytes_total",
               "Encoded bytes of those pages (4096 x pages / this = the "
               "compression ratio).",
               MetricType::Counter,
               static_cast<double>(s.stored_payload_bytes)),
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
    if (s.zswap_enabled) {
      const ZswapPool::Stats& z = s.zswap;
      const auto add = [&](const char* name, const char* help, MetricType type,
                           double v) {
        families.push_back(Single(name, help, type, v));
      };
      add("memmgr_zswap_pool_bytes",
          "Bytes the compressed pool holds (payloads + per-entry overhead).",
          MetricType::Gauge, static_cast<double>(z.pool_bytes));
      add("memmgr_zswap_pool_limit_bytes",
          "The pool's limit (--zswap_max_pool_bytes / _percent).",
          MetricType::Gauge,
          static_cast<double>(store_->zswap()->options().max_pool_bytes));
      add("memmgr_zswap_stored_pages", "Pages in the pool.", MetricType::Gauge,
          static_cast<double>(z.stored_pages));
      add("memmgr_zswap_stored_uncompressed_bytes",
          "The pool's pages decoded (stored_pages x 4096).", MetricType::Gauge,
          static_cast<double>(z.stored_uncompressed_bytes));
      add("memmgr_zswap_same_filled_pages",
          "Pool pages stored as one repeated word (zero pages included).",
          MetricType::Gauge, static_cast<double>(z.same_filled_pages));
      add("memmgr_zswap_reject_compress_poor_total",
          "Pages not pooled because they compress poorly (stored raw in "
          "RocksDB).",
          MetricType::Counter, static_cast<double>(z.reject_compress_poor));
      add("memmgr_zswap_reject_pool_full_total",
          "Pages not pooled because the pool was full (until it shrank "
          "below --zswap_accept_threshold_percent).",
          MetricType::Counter, static_cast<double>(z.reject_pool_full));
      add("memmgr_zswap_pool_limit_hit_total",
          "Times the pool reached its limit.", MetricType::Counter,
          static_cast<double>(z.pool_limit_hits));
      add("memmgr_zswap_written_back_pages_total",
          "Least recently used pages dropped from the pool by the shrinker "
          "(their bytes are in RocksDB since SwapOut).",
          MetricType::Counter, static_cast<double>(z.written_back));
      add("memmgr_zswap_crc_errors_total",
          "Pool pages that failed their check (served from RocksDB instead).",
          MetricType::Counter, static_cast<double>(z.crc_errors));
    }
    if (cluster_ != nullptr) {
      const ClusterState::Stats c = cluster_->GetStats();
      auto add = [&](const char* name, const char* help, MetricType type,
                     double v) {
        families.push_back(Single(name, help, type, v));
      };
      add("memmgr_cluster_members",
          "Live cluster member leases (workers placement may choose).",
          MetricType::Gauge, c.members);
      add("memmgr_cluster_members_connected",
          "Cluster members with an open heartbeat stream (commands reach "
          "them).",
          MetricType::Gauge, c.connected);
      add("memmgr_cluster_sandboxes",
          "Sandboxes the server placed and still knows of (stopped and lost "
          "ones included).",
          MetricType::Gauge, static_cast<double>(c.sandboxes));
      add("memmgr_cluster_sandboxes_lost",
          "Of those, sandboxes whose worker's lease ended while they ran.",
          MetricType::Gauge, static_cast<double>(c.lost));
      families.push_back(Labelled(
          "memmgr_cluster_placements_total",
          "CreateSandbox placements by outcome (ok: a worker created it; "
          "failed: no candidate node took it, or a bad request).",
          MetricType::Counter, "result",
          {{"ok", static_cast<double>(c.placements)},
           {"failed", static_cast<double>(c.placement_failures)}}));
      add("memmgr_cluster_commands_total",
          "Commands sent down members' heartbeat streams (create, kill).",
          MetricType::Counter, static_cast<double>(c.commands_sent));
    }
    return families;
  }

 private:
  const SwapStore* const store_;
  ClusterState* const cluster_;  // may be null
};

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  // 10 µs .. ~10 s, three buckets per decade.
  prometheus::Histogram::BucketBoundaries b;
  for (double v = 1e-5; v < 11.0; v *= std::cbrt(10.0)) b.push_back(v);
  return b;
}

}  // namespace

ServerMetrics::ServerMetrics(const SwapStore* store, ClusterState* cluster)
    : registry_(std::make_shared<prometheus::Registry>()),
      store_collector_(std::make_shared<StoreCollector>(store, cluster)) {
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
