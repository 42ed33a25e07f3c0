#include "worker/service/worker_metrics.h"

#include <atomic>
#include <cmath>

#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"
#include "worker/mmu/mmu_types.h"
#include "worker/service/sandbox_manager.h"

namespace memmgr::worker {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Single(const std::string& name, const std::string& help,
                    MetricType type, double value) {
  ClientMetric m;
  if (type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return MetricFamily{name, help, type, {m}};
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
    return {
        by_state,
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
    };
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
