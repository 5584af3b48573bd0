#pragma once

// Prometheus metrics of weight publishing and serving (see docs/weight-streaming.md):
//   chord_weights_published_version             gauge: latest published version (-1 before any)
//   chord_weights_publish_seconds               histogram: time to snapshot and checksum a set
//   chord_weights_bytes_served_total            counter: tensor bytes sent in FetchWeights streams
//   chord_weights_fetches_total{result}         counter: finished FetchWeights streams, result one
//                                               of ok, not_found, cancelled, failed
// Thread-safe.

#include <cstdint>

#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace chord::weights {

class WeightMetrics {
 public:
  // Registers the families on `registry`, which must outlive this object.
  explicit WeightMetrics(prometheus::Registry& registry);

  void SetPublishedVersion(int64_t version);
  void ObservePublishSeconds(double seconds);
  void AddBytesServed(uint64_t bytes);
  // `result`: "ok", "not_found", "cancelled" or "failed".
  void RecordFetch(absl::string_view result);

 private:
  prometheus::Gauge& published_version_;
  prometheus::Histogram& publish_seconds_;
  prometheus::Counter& bytes_served_;
  prometheus::Family<prometheus::Counter>& fetches_;
};

}  // namespace chord::weights
