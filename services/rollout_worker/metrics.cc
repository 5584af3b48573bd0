#include "services/rollout_worker/metrics.h"

#include <string>

#include "common/metrics/metrics.h"

namespace chord::rollout_worker {
namespace {

// Rows per batch: 1 .. 4096 in powers of 2.
prometheus::Histogram::BucketBoundaries RowBuckets() {
  prometheus::Histogram::BucketBoundaries buckets;
  for (double rows = 1; rows <= 4096; rows *= 2) buckets.push_back(rows);
  return buckets;
}

}  // namespace

RolloutMetrics::RolloutMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("chord_rollout_requests_total")
                    .Help("Finished Generate and ComputeLogprobs requests, by rpc and result "
                          "(status code name)")
                    .Register(registry)),
      generated_tokens_(prometheus::BuildCounter()
                            .Name("chord_rollout_generated_tokens_total")
                            .Help("Tokens generated (stop tokens included)")
                            .Register(registry)
                            .Add({})),
      queue_depth_(prometheus::BuildGauge()
                       .Name("chord_rollout_queue_depth")
                       .Help("Requests held: waiting for a weight version, queued or running")
                       .Register(registry)
                       .Add({})),
      batch_rows_(prometheus::BuildHistogram()
                      .Name("chord_rollout_batch_rows")
                      .Help("Rows (samples or sequences) per model batch")
                      .Register(registry)
                      .Add({}, RowBuckets())),
      generation_seconds_(prometheus::BuildHistogram()
                              .Name("chord_rollout_generation_seconds")
                              .Help("Model time of one request (queue wait excluded), by rpc")
                              .Register(registry)),
      weight_version_(prometheus::BuildGauge()
                          .Name("chord_rollout_weight_version")
                          .Help("Weight version being served (0 = the model folder)")
                          .Register(registry)
                          .Add({})),
      weight_fetch_seconds_(prometheus::BuildHistogram()
                                .Name("chord_rollout_weight_fetch_seconds")
                                .Help("Time of one successful FetchWeights stream (received and "
                                      "verified)")
                                .Register(registry)
                                .Add({}, metrics::LatencyBuckets())),
      weight_install_seconds_(prometheus::BuildHistogram()
                                  .Name("chord_rollout_weight_install_seconds")
                                  .Help("Time to copy a fetched weight set into the model")
                                  .Register(registry)
                                  .Add({}, metrics::LatencyBuckets())),
      weight_swaps_(prometheus::BuildCounter()
                        .Name("chord_rollout_weight_swaps_total")
                        .Help("Weight versions installed")
                        .Register(registry)
                        .Add({})),
      weight_rejections_(prometheus::BuildCounter()
                             .Name("chord_rollout_weight_rejections_total")
                             .Help("Fetched weight versions refused (tensor names or shapes do "
                                   "not match the model, or the copy failed)")
                             .Register(registry)
                             .Add({})) {}

void RolloutMetrics::CountRequest(absl::string_view rpc, absl::string_view result) {
  requests_.Add({{"rpc", std::string(rpc)}, {"result", std::string(result)}}).Increment();
}

void RolloutMetrics::ObserveGenerationSeconds(absl::string_view rpc, double seconds) {
  generation_seconds_.Add({{"rpc", std::string(rpc)}}, metrics::LatencyBuckets()).Observe(seconds);
}

}  // namespace chord::rollout_worker
