#include "common/algorithm/grpo_advantage.h"

#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"

namespace chord::algorithm {

absl::StatusOr<GrpoResult> ComputeGrpoAdvantages(absl::Span<const double> rewards,
                                                 absl::Span<const int64_t> group_ids,
                                                 const GrpoOptions& options) {
  if (rewards.size() != group_ids.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("group_ids: ", group_ids.size(), " ids for ", rewards.size(), " rewards"));
  }
  if (!(options.epsilon > 0) || !std::isfinite(options.epsilon)) {
    return absl::InvalidArgumentError(
        absl::StrCat("epsilon: must be a finite number > 0, got ", options.epsilon));
  }
  for (size_t i = 0; i < rewards.size(); ++i) {
    if (!std::isfinite(rewards[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("rewards[", i, "]: not a finite number (", rewards[i], ")"));
    }
  }

  // Row indices per group, groups in order of id (deterministic).
  std::map<int64_t, std::vector<size_t>> groups;
  for (size_t i = 0; i < group_ids.size(); ++i) groups[group_ids[i]].push_back(i);

  GrpoResult result;
  result.advantages.assign(rewards.size(), 0.0);
  result.dropped.assign(rewards.size(), false);
  GrpoStats& stats = result.stats;
  stats.num_groups = static_cast<int64_t>(groups.size());

  for (const auto& [id, rows] : groups) {
    const size_t n = rows.size();
    if (n == 1) {
      // A lone rollout has no group to compare with: mean 0, std 1.
      result.advantages[rows[0]] = rewards[rows[0]] / (1.0 + options.epsilon);
      continue;
    }
    double lo = rewards[rows[0]];
    double hi = lo;
    double sum = 0.0;
    for (size_t i : rows) {
      lo = std::min(lo, rewards[i]);
      hi = std::max(hi, rewards[i]);
      sum += rewards[i];
    }
    if (lo == hi) {
      // All equal: A = 0 exactly (the mean of equal doubles need not equal them bit for bit).
      ++stats.num_zero_advantage_groups;
      if (options.drop_zero_advantage_groups) {
        for (size_t i : rows) result.dropped[i] = true;
        stats.num_dropped_rows += static_cast<int64_t>(n);
      }
      continue;
    }
    const double mean = sum / static_cast<double>(n);
    double squares = 0.0;
    for (size_t i : rows) squares += (rewards[i] - mean) * (rewards[i] - mean);
    const double std_unbiased = std::sqrt(squares / static_cast<double>(n - 1));
    for (size_t i : rows) {
      result.advantages[i] = (rewards[i] - mean) / (std_unbiased + options.epsilon);
    }
  }

  if (stats.num_groups > 0) {
    stats.zero_advantage_group_share = static_cast<double>(stats.num_zero_advantage_groups) /
                                       static_cast<double>(stats.num_groups);
  }
  if (!rewards.empty()) {
    double sum = 0.0;
    for (double r : rewards) sum += r;
    stats.reward_mean = sum / static_cast<double>(rewards.size());
    double squares = 0.0;
    for (double r : rewards) squares += (r - stats.reward_mean) * (r - stats.reward_mean);
    stats.reward_std = std::sqrt(squares / static_cast<double>(rewards.size()));
  }
  return result;
}

}  // namespace chord::algorithm
