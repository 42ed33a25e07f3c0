#include "common/metric_families.h"

#include "prometheus/client_metric.h"

namespace memmgr {
namespace {

prometheus::ClientMetric Series(prometheus::MetricType type, double value) {
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

}  // namespace

prometheus::MetricFamily SingleMetric(const std::string& name,
                                      const std::string& help,
                                      prometheus::MetricType type,
                                      double value) {
  return prometheus::MetricFamily{name, help, type, {Series(type, value)}};
}

prometheus::MetricFamily LabelledMetric(
    const std::string& name, const std::string& help,
    prometheus::MetricType type, const std::string& label,
    const std::vector<std::pair<std::string, double>>& values) {
  prometheus::MetricFamily f{name, help, type, {}};
  for (const auto& [label_value, value] : values) {
    prometheus::ClientMetric m = Series(type, value);
    m.label = {{label, label_value}};
    f.metric.push_back(std::move(m));
  }
  return f;
}

}  // namespace memmgr
