#pragma once

// The CHORD loss of one micro-batch (spec section 3):
//   L = (1 - mu) * PG + mu * SFT  [- entropy_coef * agg(entropy)]  [+ kl_coef * agg(kl)]
// PG: the PPO clipped surrogate with dual clip over on-policy rows (U):
//   delta = clamp(logp - old_logp, -20, 20); r = exp(delta)
//   l = max(-A r, -A clamp(r, 1 - eps_low, 1 + eps_high)); where A < 0: l = min(l, -A c)
// SFT: over expert rows (E), token loss -logp' * w with w = stopgrad(p (1 - p)) (phi),
//   stopgrad(p) (IS-SFT) or 1, p = exp(logp); logp' = min(logp, log cutoff_prob) with the phi
//   weight, else logp. The SFT part has its own aggregation mode (sft_agg_mode).
// The entropy bonus is aggregated over U rows like PG; the KL term (one of the KlEstimator
// forms of logp and ref_logp) over U rows or over all rows (kl_rows), with PG's mode.
//
// EXACT ACROSS SPLITS. The objective is defined on the step's whole batch (all micro-batches of
// all ranks). A micro-batch contributes its masked sums divided by the step's GLOBAL normalisers
// (GlobalNormalizers, summed over every micro-batch and rank before any loss is computed):
//   token-mean               sum(l m) / (N_tokens + 1e-8)
//   seq-mean-token-mean      sum_rows[ sum_t(l m) / (row tokens + 1e-8) ] / (N_rows + 1e-8)
//   seq-mean-token-sum       sum(l m) / (N_rows + 1e-8)
//   seq-mean-token-sum-norm  sum(l m) / (N_rows * L + 1e-8)
// with N counted over U rows for PG and the entropy, over E rows for SFT and over the KL rows
// (U, or U and E) for the KL term. The sum of
// the contributions over micro-batches and ranks is then the loss of the whole batch as one
// micro-batch, and so is its gradient: gradients are summed (never averaged) across ranks.
// Metrics are built the same way (MetricsVector below), so they are split-invariant too.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/algorithm/collective.h"
#include "common/algorithm/loss_config.h"

namespace chord::algorithm {

// Counts over the step's whole batch (all micro-batches on all ranks) that normalise the loss.
// Token counts are masked (loss-mask) tokens; rows count every row of the kind.
struct GlobalNormalizers {
  double on_policy_tokens = 0;
  double expert_tokens = 0;
  double on_policy_rows = 0;
  double expert_rows = 0;
  // Sum of the on-policy rows' rewards (for adaptive mu and the reward metric).
  double on_policy_reward_sum = 0;

  GlobalNormalizers& operator+=(const GlobalNormalizers& other);
};

// This micro-batch's (or rank's) counts from its tensors: mask [B, T] (float), is_expert [B]
// (bool), rewards [B] (optional: undefined leaves on_policy_reward_sum 0).
GlobalNormalizers ComputeLocalNormalizers(const at::Tensor& mask, const at::Tensor& is_expert,
                                          const at::Tensor& rewards = at::Tensor());

// Sums `local` over the ranks of `collective` (one all-reduce of a 5-element float64 tensor placed
// on `device`: the device the collective reduces on, e.g. CUDA for NCCL). World size 1: no call.
absl::StatusOr<GlobalNormalizers> AllReduceNormalizers(const GlobalNormalizers& local,
                                                       Collective& collective,
                                                       const c10::Device& device = c10::kCPU);

// The resolved settings of the loss for one step.
struct LossSettings {
  double mu = 0.1;
  double clip_low = 0.2;   // eps_low
  double clip_high = 0.2;  // eps_high
  double clip_ratio_c = 3.0;
  SftWeight sft_weight = SftWeight::kPhi;
  // In (0, 1]; applies with the phi weight only.
  double cutoff_prob = 1.0;
  // Aggregation of PG, the entropy and the KL term.
  LossAggMode agg_mode = LossAggMode::kTokenMean;
  // Aggregation of SFT.
  LossAggMode sft_agg_mode = LossAggMode::kTokenMean;
  // L of seq-mean-token-sum-norm (> 0 when that mode is used).
  double norm_length = 0;
  double entropy_coef = 0;
  double kl_coef = 0;
  // The KL term's estimator (kNone: no term) and rows.
  KlEstimator kl_estimator = KlEstimator::kK2;
  KlRows kl_rows = KlRows::kAll;

  bool KlActive() const { return kl_estimator != KlEstimator::kNone && kl_coef > 0; }

  // From a (validated) config and the step's mu (mu_schedule.h).
  static LossSettings FromConfig(const Config& config, double mu);
};

// One micro-batch's padded tensors; B rows, T positions (logp[b, t] scores a token).
struct LossInputs {
  at::Tensor logp;        // [B, T] floating, with gradient
  at::Tensor old_logp;    // [B, T] behaviour log-probs (read for U rows only)
  at::Tensor advantages;  // [B] or [B, T]
  at::Tensor mask;        // [B, T] 1 for tokens in the loss, 0 elsewhere (padding, prompt)
  at::Tensor is_expert;   // [B] bool
  at::Tensor ref_logp;    // [B, T] reference log-probs; needed when kl_coef > 0
  at::Tensor entropy;     // [B, T] policy entropy; needed when entropy_coef > 0
};

// Step metrics that are sums of per-micro-batch contributions (each already divided by the
// global normalisers), in the order of the MetricsVector tensor.
enum LossMetric : int {
  kMetricLoss = 0,       // the total loss L
  kMetricPgLoss,         // PG
  kMetricSftLoss,        // SFT (with its weight)
  kMetricPhiMean,        // mean of p (1 - p) over E tokens
  kMetricClipFracUpper,  // share of U tokens with A > 0 and r > 1 + eps_high (clipped above)
  kMetricClipFracLower,  // share of U tokens with A < 0 and r < 1 - eps_low (clipped below)
  kMetricClipFracDual,   // share of U tokens with A < 0 where the dual clip -A c binds
  kMetricApproxKl,       // mean of -delta over U tokens
  kMetricEntropy,        // mean policy entropy over U tokens (0 when not provided)
  kMetricKlRef,          // mean KL estimate over the KL rows' tokens (0 without reference)
  kMetricKlLoss,         // the KL term before kl_coef: agg of the estimate over the KL rows
  kNumLossMetrics,
};

// Metric names, indexed by LossMetric ("loss", "pg_loss", "sft_loss", "phi_mean",
// "clip_frac_upper", "clip_frac_lower", "clip_frac_dual", "approx_kl", "entropy", "kl_ref",
// "kl_loss").
const std::array<const char*, kNumLossMetrics>& LossMetricNames();

struct MicroBatchLoss {
  // Scalar with gradient: this micro-batch's contribution to the step's objective.
  at::Tensor loss;
  // [kNumLossMetrics] float64, detached, on the inputs' device: this micro-batch's contributions
  // to the step metrics (sum them over micro-batches and ranks; no host sync needed).
  at::Tensor metrics;
};

// Computes one micro-batch's contribution. Values at masked-out positions are ignored (they may
// be anything finite or not; their gradient is 0). INVALID_ARGUMENT names the offending input
// when shapes or dtypes do not fit; FAILED_PRECONDITION when the KL term is active without
// ref_logp or entropy_coef > 0 without entropy; INTERNAL for a LibTorch error. Without the KL
// term, a given ref_logp still feeds the kl_ref and kl_loss metrics.
absl::StatusOr<MicroBatchLoss> ComputeChordLoss(const LossInputs& inputs,
                                                const LossSettings& settings,
                                                const GlobalNormalizers& normalizers);

// The per-token KL estimate of `estimator` for log-probs `logp` and reference log-probs
// `ref_logp` (same shape; kNone gives zeros).
at::Tensor KlEstimate(KlEstimator estimator, const at::Tensor& logp, const at::Tensor& ref_logp);

// Host copy of a (summed) metrics tensor as (name, value) pairs in LossMetric order.
std::vector<std::pair<std::string, double>> MetricsToPairs(const at::Tensor& metrics);

}  // namespace chord::algorithm
