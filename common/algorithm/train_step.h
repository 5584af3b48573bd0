#pragma once

// One CHORD training step on data-parallel ranks.
//
// RunTrainUpdates is the step as the learner runs it: every rank passes the whole step batch, and
// the step takes ppo_epochs x (mini-batches) optimizer updates, each of them one RunTrainStep
// over the rank's share of a mini-batch. RunTrainStep is one optimizer update over this rank's
// rows, exact for any split of the update's rows across ranks and micro-batches:
//
//   1. Local normalisers (masked tokens, rows, on-policy reward sum) from this rank's rows,
//      summed over ranks (Collective::AllReduceSum).
//   2. mu for the step (mu_schedule.h; adaptive mu uses the global mean on-policy reward), at the
//      schedule's step options.step + config.mu.mu_step_offset.
//   3. Rows packed into micro-batches by micro_batch_token_budget; per micro-batch: forward
//      (Policy::TokenLogprobs), the CHORD loss with the global normalisers, backward (gradients
//      accumulate). strict_on_policy: old log-probs of on-policy rows are the current weights'
//      own log-probs (see RunTrainStep), so r = 1.
//   4. Gradients summed over ranks in flat buckets of ~25 MB (skipped for a world of one).
//   5. Global gradient-norm clip (grad_clip), learning rate of the step (lr_schedule.h), one
//      AdamW step.
// Every rank must call RunTrainStep (RunTrainUpdates) for the same step (a rank with no rows
// still takes part).
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
#include "common/algorithm/step_metrics.h"

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
  // 1-based step within the stage: the learning-rate schedule's step; the mu schedule reads
  // step + config.mu.mu_step_offset (the job's step by default, PlanStages).
  int64_t step = 1;
  // Steps of the stage (the cosine learning-rate schedule ends there). >= 1.
  int64_t total_steps = 1;
  // Frozen reference model of the KL loss term and the KL reward penalty (needed when
  // NeedsReferencePolicy(config); evaluated without gradient, per micro-batch only for an
  // active KL loss term). Not owned.
  Policy* reference = nullptr;
  // Gradient all-reduce bucket size in bytes.
  int64_t bucket_bytes = 25 << 20;
  PackOptions pack;
};

// What one step did. Loss metrics are exact values of an update (sums of split-invariant
// contributions over micro-batches and ranks), averaged over the step's updates when there are
// several; counts are the whole step's and global unless named local.
// Runs one optimizer update of `policy` over this rank's `rows` (any order). `config` must pass
// Validate (INVALID_ARGUMENT listing the problems otherwise); bad rows give INVALID_ARGUMENT
// naming the row and field; a non-finite gradient norm gives INTERNAL and leaves the weights
// unchanged; collective errors are passed through; LibTorch errors become INTERNAL with context.
// Under strict_on_policy the behaviour log-probs are replaced by the current policy's log-probs
// from the same forward pass, detached: the same values a separate no-grad forward with the
// current weights would give (for a deterministic forward), one forward cheaper; r = 1 and
// clipping is inactive. Without it, on-policy rows must carry old_logprobs. This is a single
// update: ppo_epochs, ppo_mini_batch_size and the KL reward penalty are RunTrainUpdates' work.
absl::StatusOr<StepMetrics> RunTrainStep(Policy& policy, torch::optim::AdamW& optimizer,
                                         Collective& collective,
                                         const std::vector<TrainingRow>& rows, const Config& config,
                                         const TrainStepOptions& options);

// The whole training step. Every rank passes the SAME step batch `rows` (all ranks' rows); each
// rank trains on its ShardRows share of each mini-batch. In order:
//   1. mu of the step, from the whole batch (the same for every update).
//   2. Old log-probs, fixed before the first update: under strict_on_policy with more than one
//      update (or with the KL reward penalty), a no-grad forward of the current weights over this
//      rank's on-policy rows records them, and the updates use them as behaviour log-probs (so
//      the ratio is 1 at the first update and the clip acts from the second); with one update
//      and no penalty, RunTrainStep's same-forward shortcut. Without strict_on_policy, the rows'
//      own old_logprobs.
//   3. The KL reward penalty (kl_penalty_fn not none, kl_penalty_coef > 0): the reference
//      policy's log-probs of this rank's on-policy rows, the per-row sums of the estimate
//      (all-reduced, so every rank has every row's), rewards R - coef * sum, and GRPO advantages
//      recomputed per `group` with them (epsilon 1e-6). Every on-policy row needs its group.
//   4. ppo_epochs passes over PlanMiniBatches(rows, ppo_mini_batch_size); one RunTrainStep (one
//      optimizer step, global normalisers of the mini-batch) per mini-batch. So 1 rank x 1
//      micro-batch and R ranks x M micro-batches give the same weights after every update.
// Errors as RunTrainStep's (plus INVALID_ARGUMENT for an on-policy row without a group under
// the penalty); a failure in a later update leaves the earlier updates applied. Metrics: see
// StepMetrics; kl_penalty is the step's, before any update.
absl::StatusOr<StepMetrics> RunTrainUpdates(Policy& policy, torch::optim::AdamW& optimizer,
                                            Collective& collective,
                                            const std::vector<TrainingRow>& rows,
                                            const Config& config, const TrainStepOptions& options);

}  // namespace chord::algorithm
