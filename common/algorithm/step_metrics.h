#pragma once

// What one training step reports (train_step.h's RunTrainUpdates). Without LibTorch, so that
// code that only passes a step's figures on (the learner's trainer interface, its metrics) stays
// light to compile.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/algorithm/loss_config.h"

namespace chord::algorithm {

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
  // The KL loss term before kl_coef, and kl_coef (0 when the term is off).
  double kl_loss = 0;
  double kl_coef = 0;
  // Mean over on-policy rows of the row's mean KL estimate of the reward penalty, and its
  // coefficient (both 0 when the penalty is off).
  double kl_penalty = 0;
  double kl_penalty_coef = 0;
  // Optimizer updates the step took (ppo_epochs x mini-batches).
  int64_t updates = 1;
  // Global gradient L2 norm before clipping (mean over the updates).
  double grad_norm = 0;
  double lr = 0;
  // Mean reward of the step's on-policy rows (0 without any).
  double reward_mean = 0;
  double on_policy_rows = 0;
  double expert_rows = 0;
  double on_policy_tokens = 0;
  double expert_tokens = 0;
  // Micro-batches this rank ran (over all updates).
  int64_t local_micro_batches = 0;
  // The SFT weight of the step (names the reference's expert/ metric).
  SftWeight sft_weight = SftWeight::kPhi;

  // (name, value) pairs with the names of docs/algorithm.md (local_micro_batches excluded), then
  // the same quantities under the reference implementation's names: pg_clipfrac
  // (clip_frac_upper + clip_frac_lower), pg_clipfrac_lower (clip_frac_dual: NOT our
  // clip_frac_lower), ppo_kl (approx_kl), usual/pg_loss, usual/pg_clipfrac,
  // usual/pg_clipfrac_lower, usual/ppo_kl, and expert/sft_phi_loss, expert/sft_is_loss or
  // expert/sft_loss (sft_loss, named by the SFT weight).
  std::vector<std::pair<std::string, double>> ToPairs() const;
};

}  // namespace chord::algorithm
