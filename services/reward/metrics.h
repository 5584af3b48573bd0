#pragma once

// Prometheus families of the reward service (registered on the service's registry):
//   chord_reward_scored_total{verifier, outcome="correct"|"wrong"}   items scored
//   chord_reward_score_seconds{verifier}                             histogram, per item
//   chord_reward_batch_items                                         histogram, items per call
//   chord_reward_pool_queue_depth                                    gauge, items waiting for a
//                                                                    worker
// Thread-safe.

#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace chord::reward {

class RewardMetrics {
 public:
  // Registers the families on `registry`, which must outlive this object.
  explicit RewardMetrics(prometheus::Registry& registry);

  // The series of one verifier; cheap to use from the hot path once obtained.
  struct VerifierSeries {
    prometheus::Counter* correct = nullptr;
    prometheus::Counter* wrong = nullptr;
    prometheus::Histogram* seconds = nullptr;
  };
  VerifierSeries ForVerifier(absl::string_view verifier);

  void ObserveBatchSize(double items) { batch_size_.Observe(items); }
  void SetQueueDepth(double items) { queue_depth_.Set(items); }

 private:
  prometheus::Family<prometheus::Counter>& scored_;
  prometheus::Family<prometheus::Histogram>& seconds_;
  prometheus::Histogram& batch_size_;
  prometheus::Gauge& queue_depth_;
};

}  // namespace chord::reward
