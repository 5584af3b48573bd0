#include "services/learner/evaluator.h"

#include "absl/time/clock.h"
#include "common/status/status_macros.h"
#include "services/learner/rollout_source.h"
#include "services/learner/seed_streams.h"

namespace chord::learner {

absl::Status Evaluator::GenerateAndScore(const std::vector<chord::v1::Prompt>& prompts,
                                         const chord::v1::SamplingParams& sampling,
                                         int64_t weight_version, chord::v1::ScoreResponse* scores,
                                         double* tokens) {
  ASSIGN_OR_RETURN(auto completions, pool_->Generate(prompts, sampling, 1, weight_version));
  chord::v1::ScoreRequest items;
  items.set_think_format_penalty(spec_->think_format_penalty);
  for (size_t i = 0; i < tasks_.size(); ++i) {
    const chord::v1::Task& task = tasks_[i];
    const chord::v1::Completion& c = completions[i].front();
    *tokens += c.token_ids_size();
    AddScoreItem(task, task.id(), c.text(), spec_->verifier, &items);
  }
  ASSIGN_OR_RETURN(*scores, reward_->Score(items));
  return absl::OkStatus();
}

absl::StatusOr<EvalResult> Evaluator::Run(int64_t weight_version) {
  absl::Time start = absl::Now();
  std::vector<chord::v1::Prompt> prompts;
  for (const chord::v1::Task& task : tasks_) prompts.push_back(PromptOf(task));
  chord::v1::SamplingParams sampling;
  sampling.set_temperature(static_cast<float>(spec_->evaluation.temperature));
  sampling.set_has_temperature(true);
  sampling.set_max_new_tokens(spec_->evaluation.max_new_tokens);
  sampling.set_seed(EvalSamplingSeed(spec_->seed));
  for (const std::string& s : spec_->sampling.stop_strings) sampling.add_stop_strings(s);
  chord::v1::ScoreResponse scores;
  double tokens = 0;
  RETURN_IF_ERROR(trainer_->HeartbeatWhile(
      heartbeat_interval_,
      [&]() -> absl::Status {
        return WaitOutOutages(outages_, "evaluation", [&]() -> absl::Status {
          tokens = 0;
          return GenerateAndScore(prompts, sampling, weight_version, &scores, &tokens);
        });
      },
      [this] { pool_->Cancel(); }));
  EvalResult result;
  double reward_sum = 0;
  for (const chord::v1::ScoreResult& s : scores.results()) {
    result.correct += s.correct() ? 1 : 0;
    reward_sum += s.score();
  }
  result.samples = scores.results_size();
  const double n = static_cast<double>(result.samples);
  result.metrics = {
      {"eval_accuracy", static_cast<double>(result.correct) / n},
      {"eval_reward_mean", reward_sum / n},
      {"eval_response_length", tokens / n},
      {"eval_samples", n},
      {"eval_seconds", absl::ToDoubleSeconds(absl::Now() - start)},
  };
  return result;
}

}  // namespace chord::learner
