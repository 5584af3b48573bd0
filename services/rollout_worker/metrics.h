#pragma once

// Prometheus families of the rollout worker (registered on the service's registry):
//   chord_rollout_requests_total{rpc, result}     finished Generate / ComputeLogprobs calls;
//                                                 result is the status code name ("OK",
//                                                 "RESOURCE_EXHAUSTED", "CANCELLED", ...)
//   chord_rollout_generated_tokens_total          tokens generated (stop tokens included)
//   chord_rollout_queue_depth                     gauge, requests held (waiting for a weight
//                                                 version, queued or running)
//   chord_rollout_batch_rows                      histogram, rows per model batch
//   chord_rollout_generation_seconds{rpc}         histogram, model time of one request
//   chord_rollout_weight_version                  gauge, the version being served
//   chord_rollout_weight_fetch_seconds            histogram, one FetchWeights stream (verified)
//   chord_rollout_weight_install_seconds          histogram, copying a fetched set into the model
//   chord_rollout_weight_swaps_total              versions installed
//   chord_rollout_weight_rejections_total         fetched versions refused (names or shapes do
//                                                 not match the model, or the copy failed)
// Thread-safe.

#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace chord::rollout_worker {

class RolloutMetrics {
 public:
  // Registers the families on `registry`, which must outlive this object.
  explicit RolloutMetrics(prometheus::Registry& registry);

  // `rpc` is "Generate" or "ComputeLogprobs"; `result` a status code name.
  void CountRequest(absl::string_view rpc, absl::string_view result);
  void AddGeneratedTokens(double tokens) { generated_tokens_.Increment(tokens); }
  void SetQueueDepth(double requests) { queue_depth_.Set(requests); }
  void ObserveBatchRows(double rows) { batch_rows_.Observe(rows); }
  void ObserveGenerationSeconds(absl::string_view rpc, double seconds);
  void SetWeightVersion(double version) { weight_version_.Set(version); }
  void ObserveWeightFetchSeconds(double seconds) { weight_fetch_seconds_.Observe(seconds); }
  void ObserveWeightInstallSeconds(double seconds) { weight_install_seconds_.Observe(seconds); }
  void CountWeightSwap() { weight_swaps_.Increment(); }
  void CountWeightRejection() { weight_rejections_.Increment(); }

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Counter& generated_tokens_;
  prometheus::Gauge& queue_depth_;
  prometheus::Histogram& batch_rows_;
  prometheus::Family<prometheus::Histogram>& generation_seconds_;
  prometheus::Gauge& weight_version_;
  prometheus::Histogram& weight_fetch_seconds_;
  prometheus::Histogram& weight_install_seconds_;
  prometheus::Counter& weight_swaps_;
  prometheus::Counter& weight_rejections_;
};

}  // namespace chord::rollout_worker
