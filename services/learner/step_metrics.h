#pragma once

// The metrics of one training step as the job store, Watch, Prometheus and `chordctl` see them
// (names in docs/metrics.md): what the trainer reports, what the step's rollouts show, the
// weight version and the step's timings.

#include <cstdint>
#include <map>
#include <string>

#include "common/algorithm/step_metrics.h"
#include "services/learner/batch_builder.h"
#include "services/learner/rollout_source.h"

namespace chord::learner {

struct StepTimings {
  double train_seconds = 0;
  double publish_seconds = 0;
  // The whole step, from asking for its rollouts to publishing its weights.
  double step_seconds = 0;
};

// The step's metrics: the trainer's (StepMetrics::ToPairs); for a step with rollouts also
// train_accuracy, response_length, zero_advantage_group_share, dropped_rows, generated_tokens,
// rollout_resends, policy_lag (versions between the weights trained here, `weight_version` - 1,
// and the oldest that generated the batch), generate_seconds and score_seconds, while a step
// without rollouts (an SFT stage) has no reward_mean rather than a reward of 0; always
// weight_version (published after the step), the timings and tokens_per_second (trained and
// generated tokens over the step's time).
std::map<std::string, double> StepMetricsMap(const algorithm::StepMetrics& trained,
                                             const OnPolicyRows& on_policy,
                                             const RolloutBatch& batch, int64_t weight_version,
                                             const StepTimings& timings);

}  // namespace chord::learner
