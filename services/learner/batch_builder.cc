#include "services/learner/batch_builder.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace chord::learner {

chord::v1::Trajectory RowToTrajectory(const algorithm::TrainingRow& row) {
  chord::v1::Trajectory t;
  t.mutable_prompt_token_ids()->Add(row.prompt_ids.begin(), row.prompt_ids.end());
  t.mutable_response_token_ids()->Add(row.response_ids.begin(), row.response_ids.end());
  t.mutable_behaviour_logprobs()->Add(row.old_logprobs.begin(), row.old_logprobs.end());
  for (uint8_t m : row.loss_mask) t.add_response_mask(m);
  t.set_advantage(row.advantage);
  t.set_is_expert(row.is_expert);
  t.set_reward(row.reward);
  if (row.group >= 0) t.set_group_id(absl::StrCat(row.group));
  return t;
}

algorithm::TrainingRow TrajectoryToRow(const chord::v1::Trajectory& t) {
  algorithm::TrainingRow row;
  row.prompt_ids.assign(t.prompt_token_ids().begin(), t.prompt_token_ids().end());
  row.response_ids.assign(t.response_token_ids().begin(), t.response_token_ids().end());
  row.old_logprobs.assign(t.behaviour_logprobs().begin(), t.behaviour_logprobs().end());
  for (int32_t m : t.response_mask()) row.loss_mask.push_back(m != 0 ? 1 : 0);
  row.advantage = t.advantage();
  row.is_expert = t.is_expert();
  row.reward = t.reward();
  int64_t group = -1;
  if (absl::SimpleAtoi(t.group_id(), &group)) row.group = group;
  return row;
}

absl::StatusOr<ExpertRows> BuildExpertRows(const tokenizer::Tokenizer& tokenizer,
                                           tokenizer::ChatFormat format,
                                           const std::vector<chord::v1::ExpertSample>& samples,
                                           int64_t max_sequence_length) {
  ExpertRows out;
  for (const chord::v1::ExpertSample& sample : samples) {
    std::vector<tokenizer::ChatMessage> messages;
    for (const chord::v1::ChatMessage& m : sample.messages()) {
      messages.push_back({m.role(), m.content()});
    }
    auto rendered = tokenizer::RenderChat(tokenizer, format, messages,
                                          /*add_generation_prompt=*/false);
    if (!rendered.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("expert sample ", sample.id(), ": ", rendered.status().message()));
    }
    if (rendered->last_assistant_begin < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("expert sample ", sample.id(), ": no assistant turn to train on"));
    }
    if (rendered->last_assistant_end > max_sequence_length) {
      out.skipped.push_back(sample.id());
      continue;
    }
    algorithm::TrainingRow row;
    row.prompt_ids.assign(rendered->ids.begin(),
                          rendered->ids.begin() + rendered->last_assistant_begin);
    row.response_ids.assign(rendered->ids.begin() + rendered->last_assistant_begin,
                            rendered->ids.begin() + rendered->last_assistant_end);
    row.is_expert = true;
    out.rows.push_back(std::move(row));
  }
  return out;
}

absl::StatusOr<OnPolicyRows> BuildOnPolicyRows(
    const std::vector<std::vector<ScoredRollout>>& groups, const algorithm::GrpoOptions& options) {
  std::vector<double> rewards;
  std::vector<int64_t> group_ids;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (const ScoredRollout& r : groups[g]) {
      rewards.push_back(r.score);
      group_ids.push_back(static_cast<int64_t>(g));
    }
  }
  auto grpo = algorithm::ComputeGrpoAdvantages(rewards, group_ids, options);
  if (!grpo.ok()) return grpo.status();
  OnPolicyRows out;
  out.grpo = grpo->stats;
  size_t i = 0;
  int64_t correct = 0;
  int64_t tokens = 0;
  for (const auto& group : groups) {
    for (const ScoredRollout& r : group) {
      const chord::v1::Completion& c = r.completion;
      correct += r.correct ? 1 : 0;
      tokens += c.token_ids_size();
      if (grpo->dropped[i]) {
        ++out.dropped_rows;
        ++i;
        continue;
      }
      algorithm::TrainingRow row;
      row.prompt_ids.assign(c.prompt_token_ids().begin(), c.prompt_token_ids().end());
      row.response_ids.assign(c.token_ids().begin(), c.token_ids().end());
      row.old_logprobs.assign(c.logprobs().begin(), c.logprobs().end());
      row.advantage = static_cast<float>(grpo->advantages[i]);
      row.reward = static_cast<float>(r.score);
      row.group = group_ids[i];
      out.rows.push_back(std::move(row));
      ++i;
    }
  }
  if (!rewards.empty()) {
    out.accuracy = static_cast<double>(correct) / static_cast<double>(rewards.size());
    out.mean_response_tokens = static_cast<double>(tokens) / static_cast<double>(rewards.size());
  }
  return out;
}

}  // namespace chord::learner
