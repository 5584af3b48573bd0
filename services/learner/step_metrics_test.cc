// What a training step reports (step_metrics.h): the trainer's figures, the rollouts' and the
// step's timings; an SFT step (no rollouts) has no reward_mean.

#include "services/learner/step_metrics.h"

#include <gtest/gtest.h>

namespace chord::learner {
namespace {

TEST(StepMetricsTest, AStepWithRolloutsReportsThemAndItsLag) {
  algorithm::StepMetrics trained;
  trained.loss = 0.5;
  trained.reward_mean = 0.25;
  trained.on_policy_tokens = 30;
  trained.expert_tokens = 10;
  OnPolicyRows on_policy;
  on_policy.accuracy = 0.25;
  on_policy.mean_response_tokens = 7.5;
  on_policy.dropped_rows = 2;
  on_policy.grpo.zero_advantage_group_share = 0.5;
  RolloutBatch batch;
  batch.groups.resize(1);
  batch.stats.generated_tokens = 60;
  batch.stats.resends = 1;
  batch.stats.min_weight_version = 4;
  batch.generate_seconds = 1.5;
  batch.score_seconds = 0.25;
  StepTimings timings{/*train_seconds=*/2, /*publish_seconds=*/0.5, /*step_seconds=*/4};
  auto metrics = StepMetricsMap(trained, on_policy, batch, /*weight_version=*/7, timings);
  EXPECT_DOUBLE_EQ(metrics.at("loss"), 0.5);
  EXPECT_DOUBLE_EQ(metrics.at("reward_mean"), 0.25);
  EXPECT_DOUBLE_EQ(metrics.at("train_accuracy"), 0.25);
  EXPECT_DOUBLE_EQ(metrics.at("response_length"), 7.5);
  EXPECT_DOUBLE_EQ(metrics.at("dropped_rows"), 2);
  EXPECT_DOUBLE_EQ(metrics.at("zero_advantage_group_share"), 0.5);
  EXPECT_DOUBLE_EQ(metrics.at("rollout_resends"), 1);
  // Trained on version 6 (published 7 after it), generated with version 4: two behind.
  EXPECT_DOUBLE_EQ(metrics.at("policy_lag"), 2);
  EXPECT_DOUBLE_EQ(metrics.at("weight_version"), 7);
  EXPECT_DOUBLE_EQ(metrics.at("generate_seconds"), 1.5);
  EXPECT_DOUBLE_EQ(metrics.at("train_seconds"), 2);
  EXPECT_DOUBLE_EQ(metrics.at("step_seconds"), 4);
  // (30 + 10 trained + 60 generated) tokens in 4 s.
  EXPECT_DOUBLE_EQ(metrics.at("tokens_per_second"), 25);
}

TEST(StepMetricsTest, AStepWithoutRolloutsHasNoRewardOrRolloutFigures) {
  algorithm::StepMetrics trained;
  trained.expert_tokens = 8;
  auto metrics = StepMetricsMap(trained, OnPolicyRows(), RolloutBatch(), 3, StepTimings{1, 0.5, 2});
  EXPECT_EQ(metrics.count("reward_mean"), 0u);
  EXPECT_EQ(metrics.count("train_accuracy"), 0u);
  EXPECT_EQ(metrics.count("policy_lag"), 0u);
  EXPECT_DOUBLE_EQ(metrics.at("weight_version"), 3);
  EXPECT_DOUBLE_EQ(metrics.at("tokens_per_second"), 4);
}

}  // namespace
}  // namespace chord::learner
