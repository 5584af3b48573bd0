#include "services/learner/batch_builder.h"

#include <gtest/gtest.h>

#include "common/model/tiny_preset.h"
#include "common/tokenizer/tiny_tokenizer.h"
#include "services/learner/rank_coordinator.h"
#include "tests/support/child_process.h"

namespace chord::learner {
namespace {

chord::v1::ExpertSample Sample(const std::string& id, const std::string& user,
                               const std::string& assistant) {
  chord::v1::ExpertSample sample;
  sample.set_id(id);
  auto* u = sample.add_messages();
  u->set_role("user");
  u->set_content(user);
  auto* a = sample.add_messages();
  a->set_role("assistant");
  a->set_content(assistant);
  return sample;
}

TEST(BatchBuilderTest, ExpertRowsTrainOnTheLastAssistantTurnOnly) {
  auto tokenizer = tokenizer::Tokenizer::FromJson(tokenizer::TinyTokenizerJson(), "tiny");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  auto rows = BuildExpertRows(**tokenizer, tokenizer::ChatFormat::kChatML,
                              {Sample("a", "1+2=?", "\\boxed{3}")}, 512);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->rows.size(), 1u);
  const algorithm::TrainingRow& row = rows->rows[0];
  EXPECT_TRUE(row.is_expert);
  EXPECT_EQ(row.advantage, 0.0f);
  // Response = the assistant content + <|im_end|>; the prompt ends with "assistant\n".
  std::string response = (*tokenizer)->Decode(row.response_ids);
  EXPECT_EQ(response, "\\boxed{3}<|im_end|>");
  std::string prompt = (*tokenizer)->Decode(row.prompt_ids);
  EXPECT_EQ(prompt, "<|im_start|>user\n1+2=?<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_TRUE(row.loss_mask.empty());
}

TEST(BatchBuilderTest, LongSamplesAreSkippedAndSamplesWithoutAnswerRefused) {
  auto tokenizer = tokenizer::Tokenizer::FromJson(tokenizer::TinyTokenizerJson(), "tiny");
  auto rows =
      BuildExpertRows(**tokenizer, tokenizer::ChatFormat::kChatML,
                      {Sample("short", "1", "2"), Sample("long", "1", std::string(100, 'x'))}, 40);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->rows.size(), 1u);
  ASSERT_EQ(rows->skipped.size(), 1u);
  EXPECT_EQ(rows->skipped[0], "long");
  chord::v1::ExpertSample no_answer;
  no_answer.set_id("q");
  auto* m = no_answer.add_messages();
  m->set_role("user");
  m->set_content("hi");
  auto refused = BuildExpertRows(**tokenizer, tokenizer::ChatFormat::kChatML, {no_answer}, 512);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("q"), absl::string_view::npos);
}

TEST(BatchBuilderTest, OnPolicyRowsGetGrpoAdvantagesAndStats) {
  auto completion = [](int tokens, float logprob) {
    chord::v1::Completion c;
    c.add_prompt_token_ids(1);
    for (int i = 0; i < tokens; ++i) {
      c.add_token_ids(10 + i);
      c.add_logprobs(logprob);
    }
    return c;
  };
  // Group 0: rewards 1, 0 -> advantages +-0.7071; group 1: all equal -> 0.
  std::vector<std::vector<ScoredRollout>> groups = {
      {{completion(2, -0.5f), 1.0, true}, {completion(4, -1.0f), 0.0, false}},
      {{completion(3, -0.1f), 1.0, true}, {completion(3, -0.2f), 1.0, true}}};
  auto rows = BuildOnPolicyRows(groups, {});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->rows.size(), 4u);
  EXPECT_NEAR(rows->rows[0].advantage, 0.70710, 1e-4);
  EXPECT_NEAR(rows->rows[1].advantage, -0.70710, 1e-4);
  EXPECT_EQ(rows->rows[2].advantage, 0.0f);
  EXPECT_EQ(rows->rows[1].group, 0);  // the group each row came from (the KL reward penalty's)
  EXPECT_EQ(rows->rows[2].group, 1);
  EXPECT_EQ(rows->rows[1].old_logprobs, (std::vector<float>{-1, -1, -1, -1}));
  EXPECT_DOUBLE_EQ(rows->accuracy, 0.75);
  EXPECT_DOUBLE_EQ(rows->mean_response_tokens, 3.0);
  EXPECT_DOUBLE_EQ(rows->grpo.zero_advantage_group_share, 0.5);
  algorithm::GrpoOptions drop;
  drop.drop_zero_advantage_groups = true;
  auto dropped = BuildOnPolicyRows(groups, drop);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped->rows.size(), 2u);
  EXPECT_EQ(dropped->dropped_rows, 2);
}

TEST(BatchBuilderTest, TrajectoryRoundTripAndConfigMap) {
  algorithm::TrainingRow row;
  row.prompt_ids = {1, 2};
  row.response_ids = {3, 4, 5};
  row.old_logprobs = {-0.1f, -0.2f, -0.3f};
  row.loss_mask = {1, 0, 1};
  row.advantage = 0.5f;
  row.reward = 1.0f;
  row.group = 7;
  algorithm::TrainingRow back = TrajectoryToRow(RowToTrajectory(row));
  EXPECT_EQ(back.group, 7);
  EXPECT_EQ(back.prompt_ids, row.prompt_ids);
  EXPECT_EQ(back.response_ids, row.response_ids);
  EXPECT_EQ(back.old_logprobs, row.old_logprobs);
  EXPECT_EQ(back.loss_mask, row.loss_mask);
  EXPECT_EQ(back.advantage, row.advantage);
  EXPECT_EQ(back.reward, row.reward);

  algorithm::Config config;
  ASSERT_TRUE(algorithm::ApplyVariant("chord-mu", &config).ok());
  config.optimizer.lr = 3e-4;
  config.batch.repeat_times = 4;
  chord::v1::RankCommand command;
  for (auto& [k, v] : ConfigToMap(config)) (*command.mutable_algorithm())[k] = v;
  auto restored = ConfigFromMap(command.algorithm());
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(algorithm::DescribeConfig(*restored), algorithm::DescribeConfig(config));
}

}  // namespace
}  // namespace chord::learner
