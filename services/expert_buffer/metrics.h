#pragma once

// Prometheus families of the expert buffer (per-RPC families come from common/rpc):
//   chord_expert_buffer_records{dataset, kind}          gauge: records of the served version
//   chord_expert_buffer_samples_served_total{dataset}   counter: records returned by Sample*
//   chord_expert_buffer_epoch{dataset}                  gauge: highest epoch drawn from (0-based)
//   chord_expert_buffer_loads_total{result="ok|error"}  counter: LoadDataset calls and preloads
//   chord_expert_buffer_load_seconds                    histogram: time to read + validate + index
//   chord_expert_buffer_load_bytes_total                counter: JSONL bytes read by loads
// Thread-safe.

#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "common/dataset/dataset.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace chord::expert_buffer {

class ExpertBufferMetrics {
 public:
  // Registers the families on `registry`, which must outlive this object.
  explicit ExpertBufferMetrics(prometheus::Registry& registry);

  // A version of `dataset` with `records` records of `kind` is now served (a series of the
  // dataset under another kind, from an earlier version, is removed).
  void SetServed(absl::string_view dataset, dataset::DatasetKind kind, int64_t records);
  void AddSamplesServed(absl::string_view dataset, int64_t count);
  void SetEpoch(absl::string_view dataset, int64_t epoch);
  // One load finished (ok or not) after `seconds`, having read `bytes`.
  void RecordLoad(bool ok, double seconds, int64_t bytes);

 private:
  prometheus::Family<prometheus::Gauge>& records_;
  prometheus::Family<prometheus::Counter>& samples_served_;
  prometheus::Family<prometheus::Gauge>& epoch_;
  prometheus::Family<prometheus::Counter>& loads_;
  prometheus::Counter& loads_ok_;
  prometheus::Counter& loads_error_;
  prometheus::Histogram& load_seconds_;
  prometheus::Counter& load_bytes_;
};

}  // namespace chord::expert_buffer
