#include "worker/service/worker_metrics.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "common/metric_families.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"
#include "worker/mmu/mmu_types.h"
#include "worker/service/sandbox_manager.h"

namespace memmgr::worker {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Short names for the shared builders (common/metric_families.h).
constexpr auto Single = SingleMetric;
constexpr auto Labelled = LabelledMetric;

// The pool's fault latency histogram (mmu/fault_latency.h), one series per
// source; the swap device source is named after the device ("remote" for
// memmgr-server, "embedded" for the in-process store).
MetricFamily FaultLatencyFamily(const mmu::FaultLatency& latency,
                                const std::string& swap_mode) {
  MetricFamily f{"memmgr_worker_fault_latency_seconds",
                 "Page fault service time by source, from the fault to the "
                 "mapped page, retries (direct reclaim, waiting for the swap "
                 "device) included. Swap faults are all timed; zero, file "
                 "and cow faults are sampled 1 in 16 (their counts are in "
                 "the fault counters).",
                 MetricType::Histogram,
                 {}};
  for (int i = 0; i < mmu::kFaultSourceCount; ++i) {
    const auto source = static_cast<mmu::FaultSource>(i);
    std::string name = mmu::FaultSourceName(source);
    if (source == mmu::FaultSource::kSwapIn) {
      if (swap_mode == "none") continue;
      name = swap_mode == "server" ? "remote" : "embedded";
    }
    const mmu::FaultLatency::Reading r = latency.Read(source);
    ClientMetric m;
    m.label = {{"source", name}};
    m.histogram.sample_count = r.count;
    m.histogram.sample_sum = static_cast<double>(r.sum_ns) * 1e-9;
    uint64_t cumulative = 0;
    for (int b = 0; b < mmu::FaultLatency::kBuckets; ++b) {
      cumulative += r.buckets[b];
      ClientMetric::Bucket bucket;
      bucket.cumulative_count = cumulative;
      bucket.upper_bound =
          b + 1 < mmu::FaultLatency::kBuckets
              ? static_cast<double>(mmu::FaultLatency::BucketBoundNs(b)) * 1e-9
              : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back(bucket);
    }
    f.metric.push_back(std::move(m));
  }
  return f;
}

// Reclaim and swap (mmu/reclaim.h), named after /proc/vmstat.
void AppendReclaim(const ManagerStats& s, std::vector<MetricFamily>* out) {
  const mmu::Reclaimer::Stats& r = s.reclaim;
  const MetricType C = MetricType::Counter;
  const MetricType G = MetricType::Gauge;
  out->push_back(Single("memmgr_worker_pgscan_total",
                        "LRU pages reclaim looked at (pgscan).", C, r.pgscan));
  out->push_back(Labelled(
      "memmgr_worker_pgsteal_total",
      "Pages reclaimed (pgsteal): anon ones swapped out, clean file pages "
      "dropped (re-read from the ELF image on the next fault).",
      C, "type",
      {{"anon", static_cast<double>(r.pgsteal_anon)},
       {"file", static_cast<double>(r.pgsteal_file)}}));
  out->push_back(Single("memmgr_worker_pgactivate_total",
                        "Referenced pages moved to an active list.", C,
                        r.pgactivate));
  out->push_back(Single("memmgr_worker_pgdeactivate_total",
                        "Pages aged from an active to an inactive list.", C,
                        r.pgdeactivate));
  out->push_back(Single("memmgr_worker_swap_out_pages_total",
                        "Pages written to the swap device (pswpout), "
                        "acknowledged.",
                        C, r.pswpout));
  out->push_back(Single("memmgr_worker_swap_in_pages_total",
                        "Pages read from the swap device (pswpin), readahead "
                        "included.",
                        C, r.pswpin));
  out->push_back(Labelled(
      "memmgr_worker_refaults_total",
      "Faults on swapped-out pages: served from the swap cache (still in "
      "memory: under write-out, clean or read ahead) or read from the device.",
      C, "source",
      {{"swapcache", static_cast<double>(r.swapcache_hits)},
       {"device", static_cast<double>(r.swap_faults)}}));
  out->push_back(Single("memmgr_worker_kswapd_wakeups_total",
                        "kswapd woken below the low watermark.", C,
                        r.kswapd_wakeups));
  out->push_back(Single("memmgr_worker_kswapd_rounds_total",
                        "kswapd reclaim rounds (batches).", C,
                        r.kswapd_rounds));
  out->push_back(Single("memmgr_worker_direct_reclaim_total",
                        "Allocations refused below min that reclaimed in the "
                        "faulting sandbox's thread (stalls).",
                        C, r.direct_reclaims));
  out->push_back(Single("memmgr_worker_direct_reclaim_seconds_total",
                        "Time faulting sandboxes spent in direct reclaim.", C,
                        static_cast<double>(r.direct_reclaim_ns) * 1e-9));
  out->push_back(Single("memmgr_worker_swap_io_errors_total",
                        "Swap device calls that failed after their retries.", C,
                        r.swap_io_errors));
  out->push_back(
      Labelled("memmgr_worker_lru_pages",
               "Pages on each LRU list (unevictable: mlocked).", G, "lru",
               {{"inactive_anon", static_cast<double>(r.lru_pages[0])},
                {"active_anon", static_cast<double>(r.lru_pages[1])},
                {"inactive_file", static_cast<double>(r.lru_pages[2])},
                {"active_file", static_cast<double>(r.lru_pages[3])},
                {"unevictable", static_cast<double>(r.unevictable)}}));
  out->push_back(Single("memmgr_worker_swap_cache_pages",
                        "Frames in the swap cache (under write-out, or "
                        "swapped in and still clean).",
                        G, r.swap_cache.cached_frames));
  out->push_back(Single("memmgr_worker_swap_slots",
                        "Swap slots this worker holds on its device.", G,
                        r.swap_cache.slots));
  out->push_back(Single("memmgr_worker_swap_writeback_pages",
                        "Pages being written to the swap device.", G,
                        r.swap_cache.writeback));
  out->push_back(Single("memmgr_worker_sandboxes_parked_for_page",
                        "Sandboxes parked until a page comes from the swap "
                        "device (their executor runs others meanwhile).",
                        G, s.parked_for_page));
  out->push_back(Single("memmgr_worker_page_waits_total",
                        "Times a sandbox parked waiting for a page from the "
                        "swap device.",
                        C, s.page_waits_total));
  out->push_back(Single("memmgr_worker_async_swapins_total",
                        "Background swap device reads started for parked "
                        "faults (readahead included in swap_in_pages).",
                        C, r.async_swapins));
  out->push_back(Single("memmgr_worker_swap_capacity_bytes",
                        "The swap area's size (what may be committed beyond "
                        "the pool; a server's is shared with other workers).",
                        G, static_cast<double>(s.swap_bytes)));
}

}  // namespace

class WorkerMetrics::ManagerCollector final : public prometheus::Collectable {
 public:
  void Set(SandboxManager* m) { manager_.store(m, std::memory_order_release); }

  std::vector<MetricFamily> Collect() const override {
    SandboxManager* m = manager_.load(std::memory_order_acquire);
    if (m == nullptr) return {};
    const ManagerStats s = m->GetStats();
    const double page = static_cast<double>(mmu::kPageSize);
    MetricFamily by_state{"memmgr_worker_sandboxes",
                          "Sandboxes by state (stopped ones while their "
                          "status and output are kept).",
                          MetricType::Gauge,
                          {}};
    for (int i = 0; i < 5; ++i) {
      ClientMetric c;
      c.label = {{"state", EntryStateName(static_cast<EntryState>(i))}};
      c.gauge.value = s.sandboxes_by_state[i];
      by_state.metric.push_back(c);
    }
    MetricFamily swap_info =
        Labelled("memmgr_worker_swap_info",
                 "Always 1; the label names where reclaim swaps (--swap).",
                 MetricType::Gauge, "mode", {{s.swap_mode, 1.0}});
    std::vector<MetricFamily> families = {
        by_state,
        swap_info,
        FaultLatencyFamily(m->pool().fault_latency(), s.swap_mode),
        Single("memmgr_worker_snapshots", "Snapshots held (not deleted).",
               MetricType::Gauge, s.snapshots),
        Single("memmgr_worker_snapshots_total",
               "Snapshots taken (Snapshot RPC and guest memmgr_snapshot()).",
               MetricType::Counter, s.snapshots_total),
        Single("memmgr_worker_forks_total", "Sandboxes forked from snapshots.",
               MetricType::Counter, s.forks_total),
        Single("memmgr_worker_cow_breaks_total",
               "Copy-on-write write faults (copy + reuse) of every sandbox "
               "since it was created or forked, stopped ones included.",
               MetricType::Counter, s.cow_breaks_total),
        Single("memmgr_worker_slices_total",
               "Time slices (RunFor calls) the executors ran.",
               MetricType::Counter, s.slices_total),
        Single("memmgr_worker_frames_capacity",
               "Frames (4 KiB) in the worker's pool (--memory).",
               MetricType::Gauge, s.frames_capacity),
        Single("memmgr_worker_frames_used",
               "Frames allocated (the zero page excluded).", MetricType::Gauge,
               s.frames_used),
        Single("memmgr_worker_frames_shared",
               "Allocated frames with more than one reference (shared "
               "copy-on-write by a snapshot and its forks).",
               MetricType::Gauge, s.frames_shared),
        Single("memmgr_worker_frames_private",
               "Allocated frames with one reference.", MetricType::Gauge,
               s.frames_used - std::min(s.frames_used, s.frames_shared)),
        Single("memmgr_worker_memory_used_bytes", "frames_used in bytes.",
               MetricType::Gauge, s.frames_used * page),
        Single("memmgr_worker_executors", "Executor threads.",
               MetricType::Gauge, s.executors),
        Labelled("memmgr_worker_oom_kills_total",
                 "Guests OOM-killed by the worker: scope memcg = over the "
                 "sandbox's own memory limit, node = the worker's frames "
                 "(and swap) ran out.",
                 MetricType::Counter, "scope",
                 {{"memcg", static_cast<double>(s.oom_kills_memcg)},
                  {"node", static_cast<double>(s.oom_kills_node)}}),
    };
    if (s.swap_mode != "none") AppendReclaim(s, &families);
    return families;
  }

 private:
  std::atomic<SandboxManager*> manager_{nullptr};
};

WorkerMetrics::WorkerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()) {
  auto collector = std::make_shared<ManagerCollector>();
  manager_collector_ = collector.get();
  collector_ = std::move(collector);
  // 1 µs .. ~10 s, three buckets per decade: a fork is microseconds, a
  // fork of a huge address space with copied page tables much more.
  prometheus::Histogram::BucketBoundaries buckets;
  for (double v = 1e-6; v < 11.0; v *= std::cbrt(10.0)) buckets.push_back(v);
  fork_latency_ = &prometheus::BuildHistogram()
                       .Name("memmgr_worker_fork_latency_seconds")
                       .Help("Time to make one fork (Sandbox::ForkFrom).")
                       .Register(*registry_)
                       .Add({}, buckets);
  requests_family_ = &prometheus::BuildCounter()
                          .Name("memmgr_worker_rpc_requests_total")
                          .Help("Worker RPCs by method and status code.")
                          .Register(*registry_);
  prometheus::BuildGauge()
      .Name("memmgr_build_info")
      .Help("Always 1; labels name the build.")
      .Register(*registry_)
      .Add({{"version", "0.1.0"}, {"component", "worker"}})
      .Set(1);
}

void WorkerMetrics::SetManager(SandboxManager* manager) {
  manager_collector_->Set(manager);
}

void WorkerMetrics::ObserveFork(absl::Duration latency) {
  fork_latency_->Observe(absl::ToDoubleSeconds(latency));
}

void WorkerMetrics::ObserveRpc(absl::string_view method,
                               absl::string_view code) {
  requests_family_
      ->Add({{"method", std::string(method)}, {"code", std::string(code)}})
      .Increment();
}

}  // namespace memmgr::worker
