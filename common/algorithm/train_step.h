#pragma once

// One CHORD training step on one data-parallel rank: one optimizer step over all of this rank's
// micro-batches, exact for any split of the step's rows across ranks and micro-batches.
//
//   1. Local normalisers (masked tokens, rows, on-policy reward sum) from this rank's rows,
//      summed over ranks (Collective::AllReduceSum).
//   2. mu for the step (mu_schedule.h; adaptive mu uses the global mean on-policy reward).
//   3. Rows packed into micro-batches by micro_batch_token_budget; per micro-batch: forward
//      (Policy::TokenLogprobs), the CHORD loss with the global normalisers, backward (gradients
//      accumulate). strict_on_policy: old log-probs of on-policy rows are the current weights'
//      own log-probs (see RunTrainStep), so r = 1.
//   4. Gradients summed over ranks in flat buckets of ~25 MB (skipped for a world of one).
//   5. Global gradient-norm clip (grad_clip), learning rate of the step (lr_schedule.h), one
//      AdamW step.
// Every rank must call RunTrainStep for the same step (a rank with no rows still takes part).
// Config and rows are validated before the first collective call; a rank that fails then (or
// later) leaves its peers waiting in the collective until its timeout, as with c10d.

#include <ATen/core/Tensor.h>
#include <torch/optim/adamw.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/algorithm/chord_loss.h"
#include "common/algorithm/collective.h"
#include "common/algorithm/loss_config.h"
#include "common/algorithm/micro_batch.h"

namespace chord::algorithm {

// The model as the training step sees it.
class Policy {
 public:
  virtual ~Policy() = default;

  // Log-probabilities of the next tokens: returns logp [B, S - 1] (with gradient when grad mode
  // is on) where logp[b, t] = log pi(input_ids[b, t + 1] | input_ids[b, 0..t]), for input_ids
  // and attention_mask [B, S] (int64, right padding). When `entropy` is not null, the policy may
  // set it to the entropy of its next-token distribution [B, S - 1] (with gradient), or leave it
  // undefined when it cannot. May throw c10::Error (the step turns it into a Status).
  virtual at::Tensor TokenLogprobs(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                   at::Tensor* entropy) = 0;

  // The trainable parameters, in the same order on every rank and every call.
  virtual std::vector<at::Tensor> Parameters() = 0;
};

// AdamW over policy.Parameters() with lr, betas, adam_eps and weight_decay of `config` (one
// parameter group). INVALID_ARGUMENT when `config` is out of range (Validate) or the policy has no
// trainable parameters.
absl::StatusOr<std::unique_ptr<torch::optim::AdamW>> MakeOptimizer(Policy& policy,
                                                                   const OptimizerConfig& config);

struct TrainStepOptions {
  // 1-based step within the stage (mu and learning-rate schedules).
  int64_t step = 1;
  // Steps of the stage (the cosine learning-rate schedule ends there). >= 1.
  int64_t total_steps = 1;
  // Frozen reference model for the k2 KL term (needed when kl_coef > 0; evaluated without
  // gradient). Not owned.
  Policy* reference = nullptr;
  // Gradient all-reduce bucket size in bytes.
  int64_t bucket_bytes = 25 << 20;
  PackOptions pack;
};

// What one step did. Loss metrics are exact step values (sums of split-invariant contributions
// over micro-batches and ranks); counts are global unless named local.
struct StepMetrics {
  double loss = 0;
  double pg_loss = 0;
  double sft_loss = 0;
  double mu = 0;
  double phi_mean = 0;
  double clip_frac_upper = 0;
  double clip_frac_lower = 0;
  double clip_frac_dual = 0;
  double approx_kl = 0;
  double entropy = 0;
  double kl_ref = 0;
  // Global gradient L2 norm before clipping.
  double grad_norm = 0;
  double lr = 0;
  // Mean reward of the step's on-policy rows (0 without any).
  double reward_mean = 0;
  double on_policy_rows = 0;
  double expert_rows = 0;
  double on_policy_tokens = 0;
  double expert_tokens = 0;
  // Micro-batches this rank ran.
  int64_t local_micro_batches = 0;

  // (name, value) pairs with the names of docs/algorithm.md (local_micro_batches excluded).
  std::vector<std::pair<std::string, double>> ToPairs() const;
};

// Runs one training step of `policy` (this rank's `rows`, any order) and applies one optimizer
// step. `config` must pass Validate (INVALID_ARGUMENT listing the problems otherwise); bad rows
// give INVALID_ARGUMENT naming the row and field; a non-finite gradient norm gives INTERNAL and
// leaves the weights unchanged; collective errors are passed through; LibTorch errors become
// INTERNAL with context. Under strict_on_policy the behaviour log-probs are replaced by the
// current policy's log-probs from the same forward pass, detached: the same values a separate
// no-grad forward with the current weights would give (for a deterministic forward), one
// forward cheaper; r = 1 and clipping is inactive. Without it, on-policy rows must carry
// old_logprobs.
absl::StatusOr<StepMetrics> RunTrainStep(Policy& policy, torch::optim::AdamW& optimizer,
                                         Collective& collective,
                                         const std::vector<TrainingRow>& rows, const Config& config,
                                         const TrainStepOptions& options);

}  // namespace chord::algorithm
