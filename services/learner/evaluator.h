#pragma once

// The held-out evaluation of a job: every eval task once, decoded as the spec's `eval` section
// says (greedy by default) by the rollout workers with the weights of a given version, scored by
// the reward service. The other ranks get heartbeats meanwhile.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "chord/v1/common.pb.h"
#include "services/learner/job_spec.h"
#include "services/learner/outage.h"
#include "services/learner/rollout_pool.h"
#include "services/learner/trainer.h"
#include "services/reward/client.h"

namespace chord::learner {

struct EvalResult {
  // eval_accuracy, eval_reward_mean, eval_response_length, eval_samples, eval_seconds
  // (docs/metrics.md).
  std::map<std::string, double> metrics;
  int64_t correct = 0;
  int64_t samples = 0;
};

class Evaluator {
 public:
  // None of the pointers owned; all must outlive the evaluator. `outages` (may be null) waits out
  // outages of the workers and the reward service (call "evaluation").
  Evaluator(const JobSpec* spec, std::vector<chord::v1::Task> tasks, reward::RewardClient* reward,
            RolloutPool* pool, Trainer* trainer, absl::Duration heartbeat_interval,
            const OutageWaiter* outages = nullptr)
      : spec_(spec),
        tasks_(std::move(tasks)),
        reward_(reward),
        pool_(pool),
        trainer_(trainer),
        heartbeat_interval_(heartbeat_interval),
        outages_(outages) {}

  // False when the job has no eval tasks (Run must not be called then).
  bool enabled() const { return !tasks_.empty(); }

  // Evaluates the weights of `weight_version` (workers answer with that version or newer). The
  // clients' and the heartbeat's errors unchanged (a failed heartbeat cancels the generation).
  absl::StatusOr<EvalResult> Run(int64_t weight_version);

 private:
  // One attempt: generation on the workers, then scores.
  absl::Status GenerateAndScore(const std::vector<chord::v1::Prompt>& prompts,
                                const chord::v1::SamplingParams& sampling, int64_t weight_version,
                                chord::v1::ScoreResponse* scores, double* tokens);

  const JobSpec* spec_;
  std::vector<chord::v1::Task> tasks_;
  reward::RewardClient* reward_;
  RolloutPool* pool_;
  Trainer* trainer_;
  absl::Duration heartbeat_interval_;
  const OutageWaiter* outages_;
};

}  // namespace chord::learner
