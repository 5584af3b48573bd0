#include "services/reward/metrics.h"

#include <string>

#include "common/metrics/metrics.h"

namespace chord::reward {
namespace {

// Scoring one item takes microseconds: buckets from 1 us to 1 s.
prometheus::Histogram::BucketBoundaries ItemSecondsBuckets() {
  return {1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 1e-2, 0.1, 1.0};
}

}  // namespace

RewardMetrics::RewardMetrics(prometheus::Registry& registry)
    : scored_(prometheus::BuildCounter()
                  .Name("chord_reward_scored_total")
                  .Help("Items scored, by verifier and outcome (correct or wrong)")
                  .Register(registry)),
      seconds_(prometheus::BuildHistogram()
                   .Name("chord_reward_score_seconds")
                   .Help("Time to score one item, by verifier")
                   .Register(registry)),
      batch_size_(prometheus::BuildHistogram()
                      .Name("chord_reward_batch_items")
                      .Help("Items per Score call")
                      .Register(registry)
                      .Add({}, metrics::SizeBuckets())),
      queue_depth_(prometheus::BuildGauge()
                       .Name("chord_reward_pool_queue_depth")
                       .Help("Items waiting for a scoring worker")
                       .Register(registry)
                       .Add({})) {}

RewardMetrics::VerifierSeries RewardMetrics::ForVerifier(absl::string_view verifier) {
  std::string name(verifier);
  VerifierSeries series;
  series.correct = &scored_.Add({{"verifier", name}, {"outcome", "correct"}});
  series.wrong = &scored_.Add({{"verifier", name}, {"outcome", "wrong"}});
  series.seconds = &seconds_.Add({{"verifier", name}}, ItemSecondsBuckets());
  return series;
}

}  // namespace chord::reward
