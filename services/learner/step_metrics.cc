#include "services/learner/step_metrics.h"

#include <algorithm>

namespace chord::learner {

std::map<std::string, double> StepMetricsMap(const algorithm::StepMetrics& trained,
                                             const OnPolicyRows& on_policy,
                                             const RolloutBatch& batch, int64_t weight_version,
                                             const StepTimings& timings) {
  std::map<std::string, double> metrics;
  for (const auto& [name, value] : trained.ToPairs()) metrics[name] = value;
  if (batch.groups.empty()) {
    // No rollouts this step (an SFT stage): no reward to report rather than a reward of 0.
    metrics.erase("reward_mean");
  } else {
    metrics["train_accuracy"] = on_policy.accuracy;
    metrics["response_length"] = on_policy.mean_response_tokens;
    metrics["zero_advantage_group_share"] = on_policy.grpo.zero_advantage_group_share;
    metrics["dropped_rows"] = static_cast<double>(on_policy.dropped_rows);
    metrics["generated_tokens"] = static_cast<double>(batch.stats.generated_tokens);
    metrics["rollout_resends"] = static_cast<double>(batch.stats.resends);
    // Versions between the weights trained here and the oldest that generated this batch.
    metrics["policy_lag"] =
        static_cast<double>(weight_version - 1 - batch.stats.min_weight_version);
    metrics["generate_seconds"] = batch.generate_seconds;
    metrics["score_seconds"] = batch.score_seconds;
  }
  metrics["weight_version"] = static_cast<double>(weight_version);
  metrics["train_seconds"] = timings.train_seconds;
  metrics["publish_seconds"] = timings.publish_seconds;
  metrics["step_seconds"] = timings.step_seconds;
  const double tokens = trained.on_policy_tokens + trained.expert_tokens +
                        static_cast<double>(batch.stats.generated_tokens);
  metrics["tokens_per_second"] = tokens / std::max(timings.step_seconds, 1e-9);
  return metrics;
}

}  // namespace chord::learner
