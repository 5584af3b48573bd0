#pragma once

// A training step's rows and how they become micro-batches of padded tensors.
//
// Rows: on-policy rollouts (prompt + response tokens, behaviour log-probs, GRPO advantage) and
// expert demonstrations (the chat template over all messages: everything before the last
// assistant turn in prompt_ids, the last assistant turn in response_ids; or the whole
// conversation in response_ids with loss_mask covering only the last assistant turn).
//
// Token alignment (next-token prediction): input_ids = prompt_ids + response_ids (length P + R),
// and the policy returns logp [B, S - 1] where logp[b, t] scores input token t + 1. Response
// token j sits at input position P + j and is scored at logp position P + j - 1, so every
// response-aligned tensor below is [B, S - 1] with the row's response at positions
// P - 1 ... P + R - 2. Rows need P >= 1 (a BOS or the chat prefix).
//
// The normalisers of the loss come from the rows themselves (ComputeLocalNormalizers), never
// from configured batch sizes.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/algorithm/chord_loss.h"

namespace chord::algorithm {

struct TrainingRow {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> response_ids;
  // Behaviour log-prob per response token (on-policy rows); empty for expert rows. Needed for
  // on-policy rows unless strict_on_policy recomputes them.
  std::vector<float> old_logprobs;
  // Per response token, 1 = in the loss; empty = all 1.
  std::vector<uint8_t> loss_mask;
  // GRPO advantage, broadcast over the response tokens (0 for expert rows).
  float advantage = 0.0f;
  bool is_expert = false;
  // Verifier reward (on-policy rows; for adaptive mu and metrics).
  float reward = 0.0f;
  // The GRPO group of an on-policy row within its step (rollouts of one task share it); -1 =
  // unknown. Needed by the KL reward penalty, which recomputes the group advantages.
  int64_t group = -1;
};

// OK when the row can be packed: non-empty prompt, ids >= 0, old_logprobs and loss_mask empty or
// one per response token, finite numbers; `require_old_logprobs` also demands old_logprobs on
// on-policy rows with a response. INVALID_ARGUMENT "rows[<index>].<field>: <problem>".
absl::Status ValidateRow(const TrainingRow& row, size_t index, bool require_old_logprobs);

// ceil(expert_data_ratio * train_batch_size) (robust to rounding: 0.7 * 10 gives 7).
int64_t ExpertRowCount(int64_t train_batch_size, double expert_data_ratio);

// Masked-token and row counts (and the on-policy reward sum) of `rows`.
GlobalNormalizers ComputeLocalNormalizers(const std::vector<TrainingRow>& rows);

// This rank's share of the step's rows, as indices into `rows` in increasing order. Deterministic
// (every rank computes the same split) and balanced by tokens: rows taken longest first (ties by
// index) each go to the rank with the fewest tokens so far (ties to the lower rank). A rank may
// get no rows when there are fewer rows than ranks.
std::vector<size_t> ShardRows(const std::vector<TrainingRow>& rows, int rank, int world_size);

// The rows of each optimizer update of a step (ppo_mini_batch_size), as indices into `rows` in
// increasing order: ceil(N / mini_batch_size) mini-batches (one holding every row when
// mini_batch_size is 0 or >= N, also for N = 0). Row k of the list "on-policy rows in index order,
// then expert rows in index order" goes to mini-batch k mod M, so every mini-batch gets an equal
// share (within one) of each kind and sizes differ by at most one. Deterministic.
std::vector<std::vector<size_t>> PlanMiniBatches(const std::vector<TrainingRow>& rows,
                                                 int64_t mini_batch_size);

// Groups of indices into `rows`, one per micro-batch: rows sorted by length, longest first (ties
// by index), filled greedily while rows x longest length stays within `token_budget`. A row
// longer than the budget gets a micro-batch of its own (the budget is then exceeded by that row
// alone). Deterministic. token_budget must be > 0.
std::vector<std::vector<size_t>> PlanMicroBatches(const std::vector<TrainingRow>& rows,
                                                  int64_t token_budget);

// One micro-batch as CPU tensors (B rows, S = longest prompt + response in the micro-batch).
struct MicroBatch {
  at::Tensor input_ids;       // [B, S] int64, right-padded with the pad id
  at::Tensor attention_mask;  // [B, S] int64, 1 on real tokens
  at::Tensor loss_mask;       // [B, S - 1] float32, response tokens in the loss
  at::Tensor old_logp;        // [B, S - 1] float32, behaviour log-probs (0 where absent)
  at::Tensor advantages;      // [B] float32
  at::Tensor is_expert;       // [B] bool
  at::Tensor rewards;         // [B] float32
  // Index of each row in the step's rows (the `rows` argument of PackMicroBatches).
  std::vector<size_t> row_indices;
};

struct PackOptions {
  // Id written into input_ids padding (masked out by attention_mask anyway).
  int64_t pad_token_id = 0;
};

// Validates `rows` (ValidateRow without requiring old log-probs) and packs them by
// PlanMicroBatches. No rows give no micro-batches.
absl::StatusOr<std::vector<MicroBatch>> PackMicroBatches(const std::vector<TrainingRow>& rows,
                                                         int64_t token_budget,
                                                         const PackOptions& options = {});

}  // namespace chord::algorithm
