#pragma once

// GRPO group advantages (spec section 2): within each group of rollouts of the same prompt,
//   A = (R - mean(R_group)) / (std(R_group) + epsilon),  std unbiased (N - 1),
// a group of size 1 uses mean 0 and std 1 (A = R / (1 + epsilon)), and a group whose rewards are
// all equal (size >= 2) gets A = 0 exactly; such "zero-advantage" groups are kept unless
// `drop_zero_advantage_groups`, which marks their rows dropped. Plain C++ on doubles.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace chord::algorithm {

struct GrpoOptions {
  // Added to the group's std. > 0.
  double epsilon = 1e-6;
  // Mark every row of a zero-advantage group as dropped (config key drop_zero_advantage_groups).
  bool drop_zero_advantage_groups = false;
};

// Batch statistics for metrics. Zero-advantage groups are groups of size >= 2 whose rewards are
// all equal (they carry no GRPO signal and dilute a token-mean).
struct GrpoStats {
  int64_t num_groups = 0;
  int64_t num_zero_advantage_groups = 0;
  // num_zero_advantage_groups / num_groups (0 when there are no groups).
  double zero_advantage_group_share = 0.0;
  int64_t num_dropped_rows = 0;
  // Over all rows (dropped ones included); std is the population std.
  double reward_mean = 0.0;
  double reward_std = 0.0;
};

struct GrpoResult {
  // One per input row, in input order (0 for dropped rows).
  std::vector<double> advantages;
  // One per input row: true when the row belongs to a dropped zero-advantage group.
  std::vector<bool> dropped;
  GrpoStats stats;
};

// Rows are given as parallel spans in any order; rows with the same group id form one group.
// INVALID_ARGUMENT when the spans differ in length, a reward is not finite, or epsilon <= 0.
absl::StatusOr<GrpoResult> ComputeGrpoAdvantages(absl::Span<const double> rewards,
                                                 absl::Span<const int64_t> group_ids,
                                                 const GrpoOptions& options = {});

}  // namespace chord::algorithm
