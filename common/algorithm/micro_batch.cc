#include "common/algorithm/micro_batch.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/algorithm/exception_message.h"
#include "common/status/status_macros.h"

namespace chord::algorithm {
namespace {

int64_t RowLength(const TrainingRow& row) {
  return static_cast<int64_t>(row.prompt_ids.size() + row.response_ids.size());
}

double RowMaskedTokens(const TrainingRow& row) {
  if (row.loss_mask.empty()) return static_cast<double>(row.response_ids.size());
  double n = 0;
  for (uint8_t m : row.loss_mask) n += (m != 0) ? 1 : 0;
  return n;
}

// Row indices sorted longest first, ties by index.
std::vector<size_t> LongestFirst(const std::vector<TrainingRow>& rows) {
  std::vector<size_t> order(rows.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&rows](size_t a, size_t b) { return RowLength(rows[a]) > RowLength(rows[b]); });
  return order;
}

absl::Status RowError(size_t index, absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("rows[", index, "].", field, ": ", problem));
}

}  // namespace

absl::Status ValidateRow(const TrainingRow& row, size_t index, bool require_old_logprobs) {
  if (row.prompt_ids.empty()) {
    return RowError(index, "prompt_ids",
                    "empty; at least one token (e.g. BOS) must precede the response so that its "
                    "first token can be scored");
  }
  for (size_t i = 0; i < row.prompt_ids.size(); ++i) {
    if (row.prompt_ids[i] < 0) {
      return RowError(index, absl::StrCat("prompt_ids[", i, "]"),
                      absl::StrCat("negative token id ", row.prompt_ids[i]));
    }
  }
  for (size_t i = 0; i < row.response_ids.size(); ++i) {
    if (row.response_ids[i] < 0) {
      return RowError(index, absl::StrCat("response_ids[", i, "]"),
                      absl::StrCat("negative token id ", row.response_ids[i]));
    }
  }
  const size_t r = row.response_ids.size();
  if (!row.old_logprobs.empty() && row.old_logprobs.size() != r) {
    return RowError(index, "old_logprobs",
                    absl::StrCat(row.old_logprobs.size(), " values for ", r, " response tokens"));
  }
  if (require_old_logprobs && !row.is_expert && r > 0 && row.old_logprobs.empty()) {
    return RowError(index, "old_logprobs",
                    "missing on an on-policy row (needed unless strict_on_policy)");
  }
  for (size_t i = 0; i < row.old_logprobs.size(); ++i) {
    if (!std::isfinite(row.old_logprobs[i])) {
      return RowError(index, absl::StrCat("old_logprobs[", i, "]"), "not a finite number");
    }
  }
  if (!row.loss_mask.empty() && row.loss_mask.size() != r) {
    return RowError(index, "loss_mask",
                    absl::StrCat(row.loss_mask.size(), " values for ", r, " response tokens"));
  }
  if (!std::isfinite(row.advantage)) return RowError(index, "advantage", "not a finite number");
  if (!std::isfinite(row.reward)) return RowError(index, "reward", "not a finite number");
  return absl::OkStatus();
}

int64_t ExpertRowCount(int64_t train_batch_size, double expert_data_ratio) {
  if (train_batch_size <= 0 || expert_data_ratio <= 0) return 0;
  const double exact = expert_data_ratio * static_cast<double>(train_batch_size);
  const int64_t count = static_cast<int64_t>(std::ceil(exact - 1e-9));
  return std::clamp<int64_t>(count, 0, train_batch_size);
}

GlobalNormalizers ComputeLocalNormalizers(const std::vector<TrainingRow>& rows) {
  GlobalNormalizers n;
  for (const TrainingRow& row : rows) {
    const double tokens = RowMaskedTokens(row);
    if (row.is_expert) {
      n.expert_rows += 1;
      n.expert_tokens += tokens;
    } else {
      n.on_policy_rows += 1;
      n.on_policy_tokens += tokens;
      n.on_policy_reward_sum += row.reward;
    }
  }
  return n;
}

std::vector<size_t> ShardRows(const std::vector<TrainingRow>& rows, int rank, int world_size) {
  std::vector<size_t> mine;
  if (world_size < 1 || rank < 0 || rank >= world_size) return mine;
  std::vector<int64_t> load(world_size, 0);
  for (size_t index : LongestFirst(rows)) {
    const int target = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    load[target] += RowLength(rows[index]);
    if (target == rank) mine.push_back(index);
  }
  std::sort(mine.begin(), mine.end());
  return mine;
}

std::vector<std::vector<size_t>> PlanMiniBatches(const std::vector<TrainingRow>& rows,
                                                 int64_t mini_batch_size) {
  const int64_t n = static_cast<int64_t>(rows.size());
  const int64_t count = (mini_batch_size <= 0 || mini_batch_size >= n)
                            ? 1
                            : (n + mini_batch_size - 1) / mini_batch_size;
  std::vector<std::vector<size_t>> plan(static_cast<size_t>(count));
  int64_t k = 0;
  for (bool expert : {false, true}) {
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].is_expert == expert) plan[static_cast<size_t>(k++ % count)].push_back(i);
    }
  }
  for (std::vector<size_t>& mini_batch : plan) std::sort(mini_batch.begin(), mini_batch.end());
  return plan;
}

std::vector<std::vector<size_t>> PlanMicroBatches(const std::vector<TrainingRow>& rows,
                                                  int64_t token_budget) {
  std::vector<std::vector<size_t>> plan;
  int64_t longest = 0;  // of the micro-batch being filled (its first row, by the sort order)
  for (size_t index : LongestFirst(rows)) {
    const int64_t length = RowLength(rows[index]);
    if (!plan.empty()) {
      const int64_t count = static_cast<int64_t>(plan.back().size()) + 1;
      if (count * std::max(longest, length) <= token_budget) {
        plan.back().push_back(index);
        continue;
      }
    }
    plan.push_back({index});
    longest = length;
  }
  return plan;
}

absl::StatusOr<std::vector<MicroBatch>> PackMicroBatches(const std::vector<TrainingRow>& rows,
                                                         int64_t token_budget,
                                                         const PackOptions& options) {
  if (token_budget <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("micro_batch_token_budget: must be > 0, got ", token_budget));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    RETURN_IF_ERROR(ValidateRow(rows[i], i, /*require_old_logprobs=*/false));
  }
  std::vector<MicroBatch> out;
  try {
    for (std::vector<size_t>& indices : PlanMicroBatches(rows, token_budget)) {
      const int64_t b = static_cast<int64_t>(indices.size());
      int64_t s = 0;
      for (size_t i : indices) s = std::max(s, RowLength(rows[i]));
      const int64_t t = std::max<int64_t>(s - 1, 0);

      MicroBatch mb;
      mb.input_ids = at::full({b, s}, options.pad_token_id, at::kLong);
      mb.attention_mask = at::zeros({b, s}, at::kLong);
      mb.loss_mask = at::zeros({b, t}, at::kFloat);
      mb.old_logp = at::zeros({b, t}, at::kFloat);
      mb.advantages = at::zeros({b}, at::kFloat);
      mb.is_expert = at::zeros({b}, at::kBool);
      mb.rewards = at::zeros({b}, at::kFloat);
      int64_t* ids = mb.input_ids.data_ptr<int64_t>();
      int64_t* attention = mb.attention_mask.data_ptr<int64_t>();
      float* mask = mb.loss_mask.data_ptr<float>();
      float* old_logp = mb.old_logp.data_ptr<float>();
      float* advantages = mb.advantages.data_ptr<float>();
      bool* is_expert = mb.is_expert.data_ptr<bool>();
      float* rewards = mb.rewards.data_ptr<float>();

      for (int64_t row = 0; row < b; ++row) {
        const TrainingRow& r = rows[indices[row]];
        const size_t p = r.prompt_ids.size();
        int64_t* row_ids = ids + row * s;
        for (size_t j = 0; j < p; ++j) row_ids[j] = r.prompt_ids[j];
        for (size_t j = 0; j < r.response_ids.size(); ++j) row_ids[p + j] = r.response_ids[j];
        std::fill(attention + row * s, attention + row * s + RowLength(r), 1);
        for (size_t j = 0; j < r.response_ids.size(); ++j) {
          const int64_t position = row * t + static_cast<int64_t>(p + j) - 1;
          mask[position] = (r.loss_mask.empty() || r.loss_mask[j] != 0) ? 1.0f : 0.0f;
          if (!r.old_logprobs.empty()) old_logp[position] = r.old_logprobs[j];
        }
        advantages[row] = r.advantage;
        is_expert[row] = r.is_expert;
        rewards[row] = r.reward;
      }
      mb.row_indices = std::move(indices);
      out.push_back(std::move(mb));
    }
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("packing micro-batches: ", internal::ExceptionMessage(e)));
  }
  return out;
}

}  // namespace chord::algorithm
