#include "common/algorithm/grpo_advantage.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace chord::algorithm {
namespace {

TEST(GrpoAdvantageTest, BinaryGroupUsesUnbiasedStd) {
  // Rewards {1, 0, 1, 0}: mean 0.5, unbiased variance (4 * 0.25) / 3 = 1/3.
  const std::vector<double> rewards = {1, 0, 1, 0};
  const std::vector<int64_t> groups = {7, 7, 7, 7};
  absl::StatusOr<GrpoResult> result = ComputeGrpoAdvantages(rewards, groups);
  ASSERT_TRUE(result.ok()) << result.status();
  const double a = 0.5 / (std::sqrt(1.0 / 3.0) + 1e-6);
  EXPECT_NEAR(result->advantages[0], a, 1e-12);
  EXPECT_NEAR(result->advantages[1], -a, 1e-12);
  EXPECT_NEAR(result->advantages[2], a, 1e-12);
  EXPECT_NEAR(result->advantages[3], -a, 1e-12);
  EXPECT_EQ(result->stats.num_groups, 1);
  EXPECT_EQ(result->stats.num_zero_advantage_groups, 0);
  EXPECT_DOUBLE_EQ(result->stats.reward_mean, 0.5);
  EXPECT_DOUBLE_EQ(result->stats.reward_std, 0.5);
}

TEST(GrpoAdvantageTest, GroupsInAnyOrder) {
  // Group 1: {3, 1, 2} (mean 2, unbiased std 1); group 2: {0.5, -0.5} (mean 0, std sqrt(0.5)).
  const std::vector<double> rewards = {3, 0.5, 1, -0.5, 2};
  const std::vector<int64_t> groups = {1, 2, 1, 2, 1};
  absl::StatusOr<GrpoResult> result = ComputeGrpoAdvantages(rewards, groups);
  ASSERT_TRUE(result.ok());
  EXPECT_NEAR(result->advantages[0], 1.0 / (1.0 + 1e-6), 1e-12);
  EXPECT_NEAR(result->advantages[2], -1.0 / (1.0 + 1e-6), 1e-12);
  EXPECT_NEAR(result->advantages[4], 0.0, 1e-12);
  EXPECT_NEAR(result->advantages[1], 0.5 / (std::sqrt(0.5) + 1e-6), 1e-12);
  EXPECT_NEAR(result->advantages[3], -0.5 / (std::sqrt(0.5) + 1e-6), 1e-12);
  EXPECT_EQ(result->stats.num_groups, 2);
}

TEST(GrpoAdvantageTest, SizeOneGroupUsesMeanZeroStdOne) {
  const std::vector<double> rewards = {1.0, 0.0, -0.1};
  const std::vector<int64_t> groups = {1, 2, 3};
  absl::StatusOr<GrpoResult> result = ComputeGrpoAdvantages(rewards, groups);
  ASSERT_TRUE(result.ok());
  EXPECT_NEAR(result->advantages[0], 1.0 / (1.0 + 1e-6), 1e-15);
  EXPECT_EQ(result->advantages[1], 0.0);
  EXPECT_NEAR(result->advantages[2], -0.1 / (1.0 + 1e-6), 1e-15);
  // Size-1 groups are never zero-advantage groups and never dropped.
  EXPECT_EQ(result->stats.num_zero_advantage_groups, 0);
}

TEST(GrpoAdvantageTest, AllEqualGroupsKeptWithZeroAdvantageByDefault) {
  // Group 1 all 0.1 (its mean is not exactly 0.1 in floating point: A must still be exactly 0),
  // group 2 all 1, group 3 mixed, group 4 a single row.
  const std::vector<double> rewards = {0.1, 0.1, 0.1, 1, 1, 0, 1, 1};
  const std::vector<int64_t> groups = {1, 1, 1, 2, 2, 3, 3, 4};
  absl::StatusOr<GrpoResult> result = ComputeGrpoAdvantages(rewards, groups);
  ASSERT_TRUE(result.ok());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(result->advantages[i], 0.0) << i;
    EXPECT_FALSE(result->dropped[i]);
  }
  EXPECT_EQ(result->stats.num_groups, 4);
  EXPECT_EQ(result->stats.num_zero_advantage_groups, 2);
  EXPECT_DOUBLE_EQ(result->stats.zero_advantage_group_share, 0.5);
  EXPECT_EQ(result->stats.num_dropped_rows, 0);
}

TEST(GrpoAdvantageTest, DropOptionMarksZeroAdvantageGroups) {
  const std::vector<double> rewards = {1, 1, 0, 1, 0, 0, 0};
  const std::vector<int64_t> groups = {5, 5, 6, 6, 7, 7, 7};
  GrpoOptions options;
  options.drop_zero_advantage_groups = true;
  absl::StatusOr<GrpoResult> result = ComputeGrpoAdvantages(rewards, groups, options);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->dropped, (std::vector<bool>{true, true, false, false, true, true, true}));
  EXPECT_EQ(result->stats.num_dropped_rows, 5);
  EXPECT_EQ(result->stats.num_zero_advantage_groups, 2);
  EXPECT_NEAR(result->stats.zero_advantage_group_share, 2.0 / 3.0, 1e-15);
  // The mixed group {0, 1}: mean 0.5, unbiased std sqrt(0.5).
  EXPECT_NEAR(result->advantages[3], 0.5 / (std::sqrt(0.5) + 1e-6), 1e-12);
}

TEST(GrpoAdvantageTest, RejectsBadInput) {
  EXPECT_EQ(
      ComputeGrpoAdvantages(std::vector<double>{1, 2}, std::vector<int64_t>{1}).status().code(),
      absl::StatusCode::kInvalidArgument);
  absl::Status nan =
      ComputeGrpoAdvantages(std::vector<double>{1, std::numeric_limits<double>::quiet_NaN()},
                            std::vector<int64_t>{1, 1})
          .status();
  EXPECT_EQ(nan.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(nan.message().find("rewards[1]"), absl::string_view::npos) << nan;
}

TEST(GrpoAdvantageTest, EmptyBatch) {
  absl::StatusOr<GrpoResult> result =
      ComputeGrpoAdvantages(std::vector<double>{}, std::vector<int64_t>{});
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->advantages.empty());
  EXPECT_EQ(result->stats.num_groups, 0);
  EXPECT_EQ(result->stats.zero_advantage_group_share, 0.0);
}

}  // namespace
}  // namespace chord::algorithm
