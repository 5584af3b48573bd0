#pragma once

// Turns what the driver gathers in a step into the learner's training rows:
//  - expert demonstrations (chat messages) -> rows with the chat template applied and the loss on
//    the last assistant turn only (its content and end-of-turn token);
//  - rollouts (completions grouped by task, with verifier scores) -> rows with behaviour
//    log-probs and GRPO advantages;
// and the rows to and from the wire form (chord.v1.Trajectory) that rank 0 broadcasts.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "chord/v1/common.pb.h"
#include "chord/v1/rollout.pb.h"
#include "common/algorithm/grpo_advantage.h"
#include "common/algorithm/micro_batch.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"

namespace chord::learner {

chord::v1::Trajectory RowToTrajectory(const algorithm::TrainingRow& row);
algorithm::TrainingRow TrajectoryToRow(const chord::v1::Trajectory& trajectory);

struct ExpertRows {
  std::vector<algorithm::TrainingRow> rows;
  // Samples left out because prompt + response exceed the length limit (ids of the samples).
  std::vector<std::string> skipped;
};

// Renders each sample with the chat template (all messages) and makes one expert row: prompt =
// tokens before the last assistant turn, response = that turn's content and end-of-turn token
// (loss on all of it), advantage 0, is_expert. Samples longer than `max_sequence_length` tokens
// are skipped (reported). INVALID_ARGUMENT naming the sample when it has no assistant turn or the
// template fails.
absl::StatusOr<ExpertRows> BuildExpertRows(const tokenizer::Tokenizer& tokenizer,
                                           tokenizer::ChatFormat format,
                                           const std::vector<chord::v1::ExpertSample>& samples,
                                           int64_t max_sequence_length);

// One scored rollout: the completion of a task's prompt and its verifier result.
struct ScoredRollout {
  chord::v1::Completion completion;
  double score = 0.0;
  bool correct = false;
};

struct OnPolicyRows {
  std::vector<algorithm::TrainingRow> rows;
  algorithm::GrpoStats grpo;
  // Share of rollouts the verifier judged correct, and mean response length in tokens.
  double accuracy = 0.0;
  double mean_response_tokens = 0.0;
  // Rollouts whose group was dropped (drop_zero_advantage_groups).
  int64_t dropped_rows = 0;
};

// `groups[g]` holds the K scored rollouts of task g. Advantages by GRPO within each group; rows of
// dropped groups are left out. A rollout with no generated token is kept (it trains nothing but
// counts in its group's statistics).
absl::StatusOr<OnPolicyRows> BuildOnPolicyRows(
    const std::vector<std::vector<ScoredRollout>>& groups, const algorithm::GrpoOptions& options);

}  // namespace chord::learner
