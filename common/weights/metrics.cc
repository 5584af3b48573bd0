#include "common/weights/metrics.h"

#include <string>

#include "common/metrics/metrics.h"

namespace chord::weights {

WeightMetrics::WeightMetrics(prometheus::Registry& registry)
    : published_version_(prometheus::BuildGauge()
                             .Name("chord_weights_published_version")
                             .Help("Latest published weight version (-1 before the first)")
                             .Register(registry)
                             .Add({})),
      publish_seconds_(prometheus::BuildHistogram()
                           .Name("chord_weights_publish_seconds")
                           .Help("Time to snapshot and checksum a weight set when publishing")
                           .Register(registry)
                           .Add({}, metrics::LatencyBuckets())),
      bytes_served_(prometheus::BuildCounter()
                        .Name("chord_weights_bytes_served_total")
                        .Help("Tensor bytes sent in FetchWeights streams")
                        .Register(registry)
                        .Add({})),
      fetches_(prometheus::BuildCounter()
                   .Name("chord_weights_fetches_total")
                   .Help("Finished FetchWeights streams by result (ok, not_found, cancelled, "
                         "failed)")
                   .Register(registry)) {
  published_version_.Set(-1);
  // Every result exists from the start so that rate() works before the first failure.
  for (const char* result : {"ok", "not_found", "cancelled", "failed"}) {
    fetches_.Add({{"result", result}});
  }
}

void WeightMetrics::SetPublishedVersion(int64_t version) {
  published_version_.Set(static_cast<double>(version));
}

void WeightMetrics::ObservePublishSeconds(double seconds) { publish_seconds_.Observe(seconds); }

void WeightMetrics::AddBytesServed(uint64_t bytes) {
  bytes_served_.Increment(static_cast<double>(bytes));
}

void WeightMetrics::RecordFetch(absl::string_view result) {
  fetches_.Add({{"result", std::string(result)}}).Increment();
}

}  // namespace chord::weights
