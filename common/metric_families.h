// Builders for Prometheus metric families that a Collectable computes at
// scrape time (the server's store collector, the worker's manager
// collector): one series, or one series per value of a single label.
// Plain functions; safe from any thread.
#ifndef MEMMGR_COMMON_METRIC_FAMILIES_H_
#define MEMMGR_COMMON_METRIC_FAMILIES_H_

#include <string>
#include <utility>
#include <vector>

#include "prometheus/metric_family.h"
#include "prometheus/metric_type.h"

namespace memmgr {

// A family with one unlabelled series (a Counter's or a Gauge's value).
prometheus::MetricFamily SingleMetric(const std::string& name,
                                      const std::string& help,
                                      prometheus::MetricType type,
                                      double value);

// A family with one series per (label value, value) pair.
prometheus::MetricFamily LabelledMetric(
    const std::string& name, const std::string& help,
    prometheus::MetricType type, const std::string& label,
    const std::vector<std::pair<std::string, double>>& values);

}  // namespace memmgr

#endif  // MEMMGR_COMMON_METRIC_FAMILIES_H_
