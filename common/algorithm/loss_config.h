#pragma once

// Every setting of the CHORD objective, the batch and the optimizer, with its config key and
// default (docs/algorithm.md is the reference for users; chord-algorithm.md for the formulas).
//
// A job's algorithm settings are built in this order:
//   Config config;                                  // defaults (= the CHORD-phi preset)
//   RETURN_IF_ERROR(ApplyVariant("chord-mu", &config));   // a named preset, optional
//   RETURN_IF_ERROR(SetConfigKey("mu_peak", "0.8", &config));  // explicit user keys win
//   ResolveJobDefaults(max_response_length, &config);   // values derived from the job
//   std::vector<std::string> problems = Validate(config);  // report them all at once
//
// Key names are those of the spec and the reference implementation (Trinity-RFT); they are flat
// (unique without their struct), so `SetConfigKey` takes the bare key.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace chord::algorithm {

// How per-token losses of the selected rows become one number (`loss_agg_mode`).
enum class LossAggMode {
  kTokenMean,            // "token-mean": sum over tokens / number of tokens (default)
  kSeqMeanTokenMean,     // "seq-mean-token-mean": mean over rows of each row's token mean
  kSeqMeanTokenSum,      // "seq-mean-token-sum": mean over rows of each row's token sum
  kSeqMeanTokenSumNorm,  // "seq-mean-token-sum-norm": total sum / (rows x loss_agg_norm_length)
};

// The token weight of the SFT loss on expert rows (`sft_weight`).
enum class SftWeight {
  kPhi,                 // "phi": stopgrad(p * (1 - p)) (CHORD-phi)
  kImportanceSampling,  // "is": stopgrad(p) (IS-SFT ablation)
  kNone,                // "none": 1 (plain negative log-likelihood)
};

// A per-token estimator of the KL divergence between the policy and a reference, in Trinity-RFT's
// names (`kl_loss_fn`, `kl_penalty_fn`). With logp the policy's and ref the reference's
// log-probability of the token:
enum class KlEstimator {
  kNone,      // "none": no term
  kK1,        // "k1": logp - ref
  kK2,        // "k2": 0.5 (logp - ref)^2
  kK3,        // "k3": exp(ref - logp) - 1 - (ref - logp)
  kLowVarKl,  // "low_var_kl": k3 with ref - logp clamped to [-20, 20], the result to [-10, 10]
  kAbs,       // "abs": |logp - ref|
};

// Which rows the KL loss term covers (`kl_loss_rows`).
enum class KlRows {
  kAll,       // "all": on-policy and expert rows (the reference implementation)
  kOnPolicy,  // "on-policy": on-policy rows only
};

// Which step drives the mu schedule (`mu_step_count`).
enum class MuStepCount {
  kJob,    // "job": the job's step, counted across stages (the reference implementation)
  kStage,  // "stage": the step within the stage (each stage restarts the count)
};

// Learning-rate shape after the warm-up (`lr_decay`).
enum class LrDecay {
  kConstant,  // "constant" (default, the paper's setting)
  kCosine,    // "cosine": from lr down to lr * lr_min_ratio at the last step
};

absl::string_view LossAggModeName(LossAggMode mode);
absl::StatusOr<LossAggMode> ParseLossAggMode(absl::string_view name);
absl::string_view SftWeightName(SftWeight weight);
absl::StatusOr<SftWeight> ParseSftWeight(absl::string_view name);
absl::string_view LrDecayName(LrDecay decay);
absl::StatusOr<LrDecay> ParseLrDecay(absl::string_view name);
absl::string_view KlEstimatorName(KlEstimator estimator);
absl::StatusOr<KlEstimator> ParseKlEstimator(absl::string_view name);
absl::string_view KlRowsName(KlRows rows);
absl::StatusOr<KlRows> ParseKlRows(absl::string_view name);
absl::string_view MuStepCountName(MuStepCount count);
absl::StatusOr<MuStepCount> ParseMuStepCount(absl::string_view name);

// The global SFT coefficient mu(step) (spec section 4; mu_schedule.h).
struct MuConfig {
  // W: steps of linear warm-up from 0 to mu_peak (0 = none).
  int64_t mu_warmup_steps = 0;
  // D: steps of cosine decay from mu_peak to mu_valley after the warm-up (0 = jump to valley).
  int64_t mu_decay_steps = 0;
  // P: mu at the end of the warm-up. In [0, 1].
  double mu_peak = 0.1;
  // V: mu after warm-up + decay. In [0, 1]. A fixed mu is mu_peak = mu_valley with W = D = 0.
  double mu_valley = 0.1;
  // Ablation: mu = clamp(adaptive_mu_tau - mean on-policy reward of the step, 0, 1), replacing
  // the schedule.
  bool adaptive_mu = false;
  // tau of the adaptive mu. In [0, 1].
  double adaptive_mu_tau = 0.5;
  // The step the schedule reads: the job's step across stages (default, as the reference
  // implementation, whose SFT warm-up steps advance mu too) or the step within the stage.
  MuStepCount mu_step_count = MuStepCount::kJob;
  // DERIVED, not a user setting: steps added to the stage's 1-based step to get the schedule's
  // step. PlanStages sets it for each stage (the steps of the earlier stages under kJob, 0 under
  // kStage). >= 0.
  int64_t mu_step_offset = 0;
};

// The PPO clipped surrogate with dual clip on on-policy rows.
struct PolicyLossConfig {
  // eps for both sides of the ratio clip unless a side is set on its own. In (0, 1).
  double clip_range = 0.2;
  // eps_low: the ratio is clipped below at 1 - eps_low. Unset = clip_range. In (0, 1).
  std::optional<double> clip_range_low;
  // eps_high: the ratio is clipped above at 1 + eps_high. Unset = clip_range. > 0.
  std::optional<double> clip_range_high;
  // c of the dual clip: where A < 0 the token loss is at most -A * c. > 1.
  double clip_ratio_c = 3.0;

  double EffectiveClipLow() const { return clip_range_low.value_or(clip_range); }
  double EffectiveClipHigh() const { return clip_range_high.value_or(clip_range); }
};

// The SFT loss on expert rows.
struct SftLossConfig {
  // The CHORD-phi switch: weight expert tokens by stopgrad(p (1 - p)) (true) or by 1 (false).
  bool enable_phi_function = true;
  // Overrides the weight derived from enable_phi_function ("phi" | "is" | "none"). Unset
  // ("auto") = derived.
  std::optional<SftWeight> sft_weight;

  // The reference implementation's switch for the SFT part's aggregation, independent of
  // loss_agg_mode: token-mean (true) or seq-mean-token-mean (false).
  bool use_token_level_loss_in_sft = true;
  // Overrides the mode derived from use_token_level_loss_in_sft (any LossAggMode). Unset ("auto")
  // = derived.
  std::optional<LossAggMode> sft_loss_agg_mode;
  // cutoff_prob of the reference's phi-weighted SFT loss: with the phi weight, a token whose
  // probability p exceeds it contributes -log(cutoff_prob) * phi(p), a constant (no gradient).
  // 1 = no cutoff. In (0, 1]. Ignored by the other SFT weights (as in the reference).
  double cutoff_prob = 1.0;

  SftWeight EffectiveWeight() const {
    return sft_weight.value_or(enable_phi_function ? SftWeight::kPhi : SftWeight::kNone);
  }
  LossAggMode EffectiveAggMode() const {
    return sft_loss_agg_mode.value_or(use_token_level_loss_in_sft ? LossAggMode::kTokenMean
                                                                  : LossAggMode::kSeqMeanTokenMean);
  }
};

// Aggregation of token losses of the PG part and the regularisers (the SFT part has its own:
// SftLossConfig::EffectiveAggMode).
struct AggregationConfig {
  LossAggMode loss_agg_mode = LossAggMode::kTokenMean;
  // L of seq-mean-token-sum-norm (a constant per-row length). 0 = unset: ResolveJobDefaults sets
  // it to the job's maximum response length. Must be > 0 when that mode is used.
  int64_t loss_agg_norm_length = 0;
};

// Optional terms of the loss and the reward (all off by default).
struct RegularizerConfig {
  // Entropy bonus: loss -= entropy_coef * agg(entropy over on-policy tokens). >= 0.
  double entropy_coef = 0.0;
  // KL to a frozen reference model as a loss term: loss += kl_coef * agg(kl_loss_fn(logp,
  // ref_logp) over the kl_loss_rows tokens), with loss_agg_mode and not scaled by mu (as the
  // reference). >= 0; > 0 with an estimator other than none needs a reference policy.
  double kl_coef = 0.0;
  KlEstimator kl_loss_fn = KlEstimator::kK2;
  KlRows kl_loss_rows = KlRows::kAll;
  // KL as a reward penalty: before the GRPO advantages of a step, each on-policy row's reward
  // becomes R - kl_penalty_coef * sum over its response tokens of kl_penalty_fn(old_logp,
  // ref_logp), old_logp being the policy's before the step's first update. Off (none) by default.
  KlEstimator kl_penalty_fn = KlEstimator::kNone;
  // >= 0. The reference's default coefficient.
  double kl_penalty_coef = 0.001;

  bool KlLossActive() const { return kl_loss_fn != KlEstimator::kNone && kl_coef > 0; }
  bool KlPenaltyActive() const {
    return kl_penalty_fn != KlEstimator::kNone && kl_penalty_coef > 0;
  }
};

// How a step's batch is formed and split.
struct BatchConfig {
  // Share of expert rows in a step's batch: ceil(ratio * N) expert rows of N. In [0, 1].
  double expert_data_ratio = 0.5;
  // K: rollouts per task (one GRPO group). >= 1.
  int64_t repeat_times = 8;
  // Mark the rows of groups whose rewards are all equal (A = 0) as dropped.
  bool drop_zero_advantage_groups = false;
  // Recompute old log-probs with the current weights before the update (r = 1, the paper's
  // setting); false uses the behaviour log-probs from the rollout (asynchronous mode).
  bool strict_on_policy = true;
  // Passes over the step's batch (the reference's ppo_epochs). >= 1.
  int64_t ppo_epochs = 1;
  // Rows per optimizer update (the reference's ppo_mini_batch_size): each epoch splits the step's
  // rows into ceil(N / ppo_mini_batch_size) mini-batches (PlanMiniBatches) and takes one optimizer
  // step per mini-batch. 0 = the whole batch. >= 0. The old log-probs stay those from before the
  // step's first update, so the PPO ratio and clip act from the second update on.
  int64_t ppo_mini_batch_size = 0;
  // Upper bound of rows x padded length per micro-batch (input tokens). > 0.
  int64_t micro_batch_token_budget = 16384;
  // Temperature of the log-probs the learner computes (logits / T), so that the PPO ratio
  // compares the same distributions the rollout sampled from and reported behaviour log-probs
  // for. > 0. A job defaults it to its sampling temperature (1 when sampling is greedy). The
  // library passes it to nothing itself: Policy implementations read it (the learner's does).
  double logprob_temperature = 1.0;
};

// AdamW and its learning-rate schedule (lr_schedule.h). The learning rate is the training step's
// for each of its updates (ppo_epochs, ppo_mini_batch_size).
struct OptimizerConfig {
  // Peak learning rate. > 0.
  double lr = 1e-6;
  // AdamW (beta1, beta2), each in [0, 1).
  std::array<double, 2> betas = {0.9, 0.999};
  // AdamW epsilon. > 0.
  double adam_eps = 1e-8;
  // Decoupled weight decay (applied to every parameter). >= 0.
  double weight_decay = 0.01;
  // Maximum global gradient L2 norm (0 = no clipping; the norm is still reported). >= 0.
  double grad_clip = 1.0;
  // Steps of linear warm-up from 0 to lr (1-based steps: step s < W gets lr * s / W).
  int64_t lr_warmup_steps = 0;
  LrDecay lr_decay = LrDecay::kConstant;
  // Cosine floor as a fraction of lr. In [0, 1].
  double lr_min_ratio = 0.0;
};

// All algorithm settings of a job (or of one stage of a staged job).
struct Config {
  // The preset last applied by ApplyVariant (informational, except "sft-then-rl", which makes
  // PlanStages return two stages).
  std::string variant = "chord-phi";
  MuConfig mu;
  PolicyLossConfig policy_loss;
  SftLossConfig sft;
  AggregationConfig aggregation;
  RegularizerConfig regularizer;
  BatchConfig batch;
  OptimizerConfig optimizer;
  // sft-then-rl only: steps of the SFT stage (0 = half the job's steps, rounded up).
  int64_t sft_stage_steps = 0;
  // Steps of plain SFT (expert rows only, mu 1, weight 1) before the variant's own stage(s),
  // counted in the job's steps. 0 (default) = none. A model that starts from random weights
  // needs it with CHORD-phi: phi = p (1 - p) gives almost no weight to tokens the model gives
  // p ~ 0, so phi-weighted SFT alone does not teach such a model anything (docs/algorithm.md).
  int64_t sft_warmup_steps = 0;
  // Learning rate of the warm-up stage; 0 (default) = lr.
  double sft_warmup_lr = 0.0;
};

// The names ApplyVariant accepts, in documentation order.
const std::vector<std::string>& VariantNames();

// Sets the keys of a named preset (spec section 5) on `config`, leaving the others as they are:
//   chord-phi    enable_phi_function=true, mu fixed 0.1 (W=D=0, P=V=0.1), adaptive_mu=false
//   chord-mu     enable_phi_function=false, mu 0.9 -> 0.05 over 200 steps (W=0, D=200)
//   chord-mu-tools  as chord-mu with mu 0.6 -> 0.0 over 20 steps (the paper's tool-use run)
//   mix          enable_phi_function=false, mu fixed 0.1
//   grpo         expert_data_ratio=0, mu fixed 0
//   sft          expert_data_ratio=1, mu fixed 1, enable_phi_function=false
//   sft-then-rl  two stages (PlanStages): pure SFT, then pure GRPO from the SFT weights
//   is-sft       sft_weight=is, mu fixed 0.1
//   adaptive-mu  adaptive_mu=true, adaptive_mu_tau=0.5, enable_phi_function=false
// Every preset also clears an explicit sft_weight except is-sft. INVALID_ARGUMENT for an unknown
// name (the message lists the known ones).
absl::Status ApplyVariant(absl::string_view name, Config* config);

// Sets one key from its text form (booleans "true"/"false", numbers, enum names as above,
// betas as "0.9,0.999" or "[0.9, 0.999]", "auto" unsets sft_weight / clip_range_low /
// clip_range_high; "variant" applies the preset). INVALID_ARGUMENT "<key>: <problem>" for an
// unknown key or a malformed value. Range checks are Validate's job.
absl::Status SetConfigKey(absl::string_view key, absl::string_view value, Config* config);

// Every key SetConfigKey accepts with its current value in text form (round-trips through
// SetConfigKey), in documentation order. For logs and job records.
std::vector<std::pair<std::string, std::string>> DescribeConfig(const Config& config);

// Fills the settings that default to a property of the job: loss_agg_norm_length (when 0) =
// max_response_length.
void ResolveJobDefaults(int64_t max_response_length, Config* config);

// Every problem of `config` as "<key_prefix><key>: <problem>", empty when valid.
std::vector<std::string> Validate(const Config& config, absl::string_view key_prefix = "");

// Whether a step with `config` needs the frozen reference policy: a KL loss term (kl_loss_fn not
// none, kl_coef > 0) or a KL reward penalty (kl_penalty_fn not none, kl_penalty_coef > 0).
bool NeedsReferencePolicy(const Config& config);

// One stage of a job: its settings and its number of steps. Each stage restarts the 1-based
// step count of the learning-rate schedule and the optimizer state; the mu schedule continues
// the job's count unless mu_step_count is stage (mu_step_offset); model weights carry over.
struct Stage {
  std::string name;  // "train", or "sft" / "rl" for sft-then-rl
  Config config;
  int64_t steps = 0;
};

// The stages a job of `total_steps` steps runs, in order. First, when sft_warmup_steps > 0, stage
// "sft-warmup" (sft_warmup_steps steps; expert_data_ratio=1, mu fixed 1, sft_weight=none,
// lr=sft_warmup_lr when set). Then, of the remaining steps: one stage "train" for every variant
// except sft-then-rl, which runs stage "sft" (sft_stage_steps steps, default half of the
// remaining ones; expert_data_ratio=1, mu fixed 1, sft_weight=none, adaptive_mu=false) then
// stage "rl" (the rest; expert_data_ratio=0, mu fixed 0, adaptive_mu=false); every other key
// applies to every stage. Every stage's mu.mu_step_offset is set: the steps of the stages before
// it under mu_step_count job, 0 under stage. INVALID_ARGUMENT when total_steps < 1, or when a stage
// is left with no steps: "<key_prefix><key>: <problem>", naming the key at fault (as Validate
// does).
absl::StatusOr<std::vector<Stage>> PlanStages(const Config& config, int64_t total_steps,
                                              absl::string_view key_prefix = "");

}  // namespace chord::algorithm
