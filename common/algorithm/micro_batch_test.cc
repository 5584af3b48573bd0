#include "common/algorithm/micro_batch.h"

#include <ATen/ATen.h>

#include <numeric>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chord::algorithm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TrainingRow Row(int prompt, int response, bool expert = false) {
  TrainingRow row;
  for (int i = 0; i < prompt; ++i) row.prompt_ids.push_back(100 + i);
  for (int i = 0; i < response; ++i) row.response_ids.push_back(200 + i);
  row.is_expert = expert;
  if (!expert) row.old_logprobs.assign(response, -1.0f);
  return row;
}

std::vector<float> Floats(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

std::vector<int64_t> Longs(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

TEST(MicroBatchTest, TensorsAlignWithNextTokenLogprobs) {
  TrainingRow u = Row(2, 3);  // input 100 101 | 200 201 202
  u.old_logprobs = {-0.5f, -1.5f, -2.5f};
  u.advantage = 0.7f;
  u.reward = 1.0f;
  TrainingRow e = Row(1, 2, /*expert=*/true);  // input 100 | 200 201
  e.loss_mask = {0, 1};
  PackOptions options;
  options.pad_token_id = 9;
  absl::StatusOr<std::vector<MicroBatch>> mbs = PackMicroBatches({u, e}, 1000, options);
  ASSERT_TRUE(mbs.ok()) << mbs.status();
  ASSERT_EQ(mbs->size(), 1u);
  const MicroBatch& mb = (*mbs)[0];
  EXPECT_THAT(mb.row_indices, ElementsAre(0, 1));
  EXPECT_THAT(Longs(mb.input_ids), ElementsAre(100, 101, 200, 201, 202,  //
                                               100, 200, 201, 9, 9));
  EXPECT_THAT(Longs(mb.attention_mask), ElementsAre(1, 1, 1, 1, 1,  //
                                                    1, 1, 1, 0, 0));
  // logp[t] scores input t + 1: row 0's response (inputs 2..4) at positions 1..3.
  EXPECT_THAT(Floats(mb.loss_mask), ElementsAre(0, 1, 1, 1,  //
                                                0, 1, 0, 0));
  EXPECT_THAT(Floats(mb.old_logp), ElementsAre(0, -0.5f, -1.5f, -2.5f,  //
                                               0, 0, 0, 0));
  EXPECT_THAT(Floats(mb.advantages), ElementsAre(0.7f, 0.0f));
  EXPECT_THAT(Longs(mb.is_expert), ElementsAre(0, 1));
  EXPECT_THAT(Floats(mb.rewards), ElementsAre(1.0f, 0.0f));
}

TEST(MicroBatchTest, BudgetBoundsPaddedSize) {
  std::vector<TrainingRow> rows;
  for (int len : {5, 9, 3, 7, 4, 8, 2, 6}) rows.push_back(Row(1, len - 1));
  const int64_t budget = 20;
  const auto plan = PlanMicroBatches(rows, budget);
  std::set<size_t> seen;
  for (const auto& group : plan) {
    int64_t longest = 0;
    for (size_t i : group) {
      longest = std::max<int64_t>(longest, rows[i].prompt_ids.size() + rows[i].response_ids.size());
      EXPECT_TRUE(seen.insert(i).second);
    }
    EXPECT_LE(static_cast<int64_t>(group.size()) * longest, budget);
  }
  EXPECT_EQ(seen.size(), rows.size());
  // Longest first: {9, 8} (2 x 9 = 18), {7, 6} (14), {5, 4, 3, 2} (4 x 5 = 20).
  EXPECT_THAT(plan, ElementsAre(ElementsAre(1, 5), ElementsAre(3, 7), ElementsAre(0, 4, 2, 6)));
  EXPECT_EQ(PlanMicroBatches(rows, budget), plan);  // deterministic
}

TEST(MicroBatchTest, RowLongerThanBudgetGetsItsOwnMicroBatch) {
  std::vector<TrainingRow> rows = {Row(2, 3), Row(10, 20), Row(1, 1)};
  // Budget 10: the 30-token row alone, then the 5- and 2-token rows (2 x 5 = 10).
  absl::StatusOr<std::vector<MicroBatch>> mbs = PackMicroBatches(rows, 10);
  ASSERT_TRUE(mbs.ok());
  ASSERT_EQ(mbs->size(), 2u);
  EXPECT_THAT((*mbs)[0].row_indices, ElementsAre(1));
  EXPECT_EQ((*mbs)[0].input_ids.size(1), 30);
  EXPECT_THAT((*mbs)[1].row_indices, ElementsAre(0, 2));
}

TEST(MicroBatchTest, NoRowsNoMicroBatches) {
  absl::StatusOr<std::vector<MicroBatch>> mbs = PackMicroBatches({}, 8);
  ASSERT_TRUE(mbs.ok());
  EXPECT_TRUE(mbs->empty());
  EXPECT_EQ(PackMicroBatches({Row(1, 1)}, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MicroBatchTest, ValidateRowNamesRowAndField) {
  TrainingRow no_prompt = Row(0, 3);
  absl::Status s = ValidateRow(no_prompt, 4, false);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("rows[4].prompt_ids"));

  TrainingRow bad_logprobs = Row(1, 3);
  bad_logprobs.old_logprobs = {-1.0f};
  EXPECT_THAT(std::string(ValidateRow(bad_logprobs, 0, false).message()),
              HasSubstr("rows[0].old_logprobs: 1 values for 3 response tokens"));

  TrainingRow missing = Row(1, 3);
  missing.old_logprobs.clear();
  EXPECT_TRUE(ValidateRow(missing, 0, false).ok());
  EXPECT_THAT(std::string(ValidateRow(missing, 2, true).message()),
              HasSubstr("rows[2].old_logprobs: missing"));

  TrainingRow bad_mask = Row(1, 3);
  bad_mask.loss_mask = {1, 1};
  EXPECT_THAT(std::string(ValidateRow(bad_mask, 1, false).message()),
              HasSubstr("rows[1].loss_mask"));

  TrainingRow negative = Row(2, 2);
  negative.response_ids[1] = -3;
  EXPECT_THAT(std::string(ValidateRow(negative, 0, false).message()),
              HasSubstr("rows[0].response_ids[1]"));

  TrainingRow nan_adv = Row(1, 1);
  nan_adv.advantage = std::nanf("");
  EXPECT_THAT(std::string(ValidateRow(nan_adv, 0, false).message()),
              HasSubstr("rows[0].advantage"));

  // PackMicroBatches validates too.
  EXPECT_THAT(std::string(PackMicroBatches({Row(1, 1), no_prompt}, 100).status().message()),
              HasSubstr("rows[1].prompt_ids"));
}

TEST(MicroBatchTest, ShardRowsIsAPartitionBalancedByTokens) {
  std::vector<TrainingRow> rows;
  for (int len : {12, 3, 7, 7, 1, 9, 4, 6, 2, 10}) rows.push_back(Row(1, len));
  for (int world : {1, 2, 3, 4}) {
    std::vector<int> owner(rows.size(), -1);
    std::vector<int64_t> tokens(world, 0);
    for (int r = 0; r < world; ++r) {
      const std::vector<size_t> mine = ShardRows(rows, r, world);
      EXPECT_TRUE(std::is_sorted(mine.begin(), mine.end()));
      EXPECT_EQ(ShardRows(rows, r, world), mine);  // deterministic
      for (size_t i : mine) {
        EXPECT_EQ(owner[i], -1) << "row " << i << " on two ranks";
        owner[i] = r;
        tokens[r] += 1 + static_cast<int64_t>(rows[i].response_ids.size());
      }
    }
    for (int o : owner) EXPECT_NE(o, -1);
    const auto [lo, hi] = std::minmax_element(tokens.begin(), tokens.end());
    EXPECT_LE(*hi - *lo, 13) << "world " << world;  // at most the longest row apart
  }
  // Fewer rows than ranks: some ranks get none.
  EXPECT_TRUE(ShardRows({Row(1, 1)}, 1, 2).empty());
  EXPECT_THAT(ShardRows({Row(1, 1)}, 0, 2), ElementsAre(0));
}

TEST(MicroBatchTest, NormalisersComeFromTheRows) {
  TrainingRow u1 = Row(3, 4);
  u1.reward = 1.0f;
  TrainingRow u2 = Row(1, 5);
  u2.loss_mask = {1, 0, 1, 0, 1};
  u2.reward = 0.5f;
  TrainingRow e = Row(2, 6, /*expert=*/true);
  e.reward = 7.0f;  // ignored: not an on-policy row
  const GlobalNormalizers n = ComputeLocalNormalizers({u1, u2, e});
  EXPECT_EQ(n.on_policy_tokens, 7);
  EXPECT_EQ(n.on_policy_rows, 2);
  EXPECT_EQ(n.expert_tokens, 6);
  EXPECT_EQ(n.expert_rows, 1);
  EXPECT_EQ(n.on_policy_reward_sum, 1.5);

  // The tensor form agrees.
  absl::StatusOr<std::vector<MicroBatch>> mbs = PackMicroBatches({u1, u2, e}, 1000);
  ASSERT_TRUE(mbs.ok());
  const MicroBatch& mb = (*mbs)[0];
  const GlobalNormalizers t = ComputeLocalNormalizers(mb.loss_mask, mb.is_expert, mb.rewards);
  EXPECT_EQ(t.on_policy_tokens, 7);
  EXPECT_EQ(t.expert_tokens, 6);
  EXPECT_EQ(t.on_policy_rows, 2);
  EXPECT_EQ(t.expert_rows, 1);
  EXPECT_EQ(t.on_policy_reward_sum, 1.5);
}

TEST(MicroBatchTest, EmptyResponsesStillCountAsRows) {
  // Prompt-only rows: S = 1, so the response-aligned tensors have no positions at all.
  absl::StatusOr<std::vector<MicroBatch>> mbs = PackMicroBatches({Row(1, 0), Row(1, 0, true)}, 10);
  ASSERT_TRUE(mbs.ok()) << mbs.status();
  ASSERT_EQ(mbs->size(), 1u);
  EXPECT_EQ((*mbs)[0].loss_mask.size(0), 2);
  EXPECT_EQ((*mbs)[0].loss_mask.size(1), 0);
  const GlobalNormalizers n =
      ComputeLocalNormalizers((*mbs)[0].loss_mask, (*mbs)[0].is_expert, (*mbs)[0].rewards);
  EXPECT_EQ(n.on_policy_rows, 1);
  EXPECT_EQ(n.expert_rows, 1);
  EXPECT_EQ(n.on_policy_tokens + n.expert_tokens, 0);
  const GlobalNormalizers from_rows = ComputeLocalNormalizers({Row(1, 0), Row(1, 0, true)});
  EXPECT_EQ(from_rows.on_policy_rows, 1);
  EXPECT_EQ(from_rows.expert_rows, 1);
}

// ppo_mini_batch_size: ceil(N / size) mini-batches; on-policy rows then expert rows dealt in
// turn, so every mini-batch gets its share of each kind.
TEST(MicroBatchTest, MiniBatchesShareBothKinds) {
  // Rows 0..5 on-policy, 6..9 expert (the driver's order).
  std::vector<TrainingRow> rows;
  for (int i = 0; i < 10; ++i) rows.push_back(Row(1, 1 + i, /*expert=*/i >= 6));
  // Size 4: 3 mini-batches. Dealt: U 0 1 2 3 4 5, then E 6 7 8 9 -> k = 0..9 to k % 3.
  EXPECT_THAT(PlanMiniBatches(rows, 4),
              ElementsAre(ElementsAre(0, 3, 6, 9), ElementsAre(1, 4, 7), ElementsAre(2, 5, 8)));
  EXPECT_THAT(PlanMiniBatches(rows, 5),
              ElementsAre(ElementsAre(0, 2, 4, 6, 8), ElementsAre(1, 3, 5, 7, 9)));
  // 0 (the default) and sizes >= N: the whole batch, one update.
  for (int64_t size : {0, 10, 64}) {
    EXPECT_THAT(PlanMiniBatches(rows, size), ElementsAre(ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)))
        << size;
  }
  EXPECT_EQ(PlanMiniBatches(rows, 1).size(), 10u);
  // Interleaved kinds come out in index order within each mini-batch.
  std::vector<TrainingRow> mixed = {Row(1, 1, true), Row(1, 1), Row(1, 1, true), Row(1, 1)};
  EXPECT_THAT(PlanMiniBatches(mixed, 2), ElementsAre(ElementsAre(0, 1), ElementsAre(2, 3)));
  // No rows: one empty mini-batch (the step still takes its update on every rank).
  EXPECT_THAT(PlanMiniBatches({}, 4), ElementsAre(::testing::IsEmpty()));
}

TEST(MicroBatchTest, ExpertRowCount) {
  EXPECT_EQ(ExpertRowCount(10, 0.5), 5);
  EXPECT_EQ(ExpertRowCount(10, 0.2), 2);
  EXPECT_EQ(ExpertRowCount(10, 0.7), 7);     // 0.7 * 10 = 7.000000000000001 in doubles
  EXPECT_EQ(ExpertRowCount(864, 0.11), 96);  // ceil(95.04)
  EXPECT_EQ(ExpertRowCount(7, 0.5), 4);
  EXPECT_EQ(ExpertRowCount(10, 0.0), 0);
  EXPECT_EQ(ExpertRowCount(10, 1.0), 10);
}

}  // namespace
}  // namespace chord::algorithm
