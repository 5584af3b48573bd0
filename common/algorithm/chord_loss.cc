#include "common/algorithm/chord_loss.h"

#include <ATen/ATen.h>

#include <cmath>
#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/algorithm/exception_message.h"
#include "common/status/status_macros.h"

namespace chord::algorithm {
namespace {

// Added to every aggregation denominator (spec section 3).
constexpr double kDenominatorEps = 1e-8;

std::string ShapeString(const at::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]");
}

absl::Status CheckSameShape(const char* name, const at::Tensor& t, const at::Tensor& logp) {
  if (!t.defined()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": missing (expected shape ", ShapeString(logp), ")"));
  }
  if (!t.sizes().equals(logp.sizes())) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": shape ", ShapeString(t), " differs from logp's ", ShapeString(logp)));
  }
  if (!at::isFloatingType(t.scalar_type()) && t.scalar_type() != at::kBool &&
      !at::isIntegralType(t.scalar_type(), /*includeBool=*/true)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": unsupported dtype"));
  }
  return absl::OkStatus();
}

absl::Status CheckInputs(const LossInputs& in, const LossSettings& settings) {
  if (!in.logp.defined() || in.logp.dim() != 2 || !at::isFloatingType(in.logp.scalar_type())) {
    return absl::InvalidArgumentError(
        "logp: expected a floating-point tensor of shape [rows, positions]");
  }
  RETURN_IF_ERROR(CheckSameShape("old_logp", in.old_logp, in.logp));
  RETURN_IF_ERROR(CheckSameShape("mask", in.mask, in.logp));
  const int64_t rows = in.logp.size(0);
  if (!in.advantages.defined() || !((in.advantages.dim() == 1 && in.advantages.size(0) == rows) ||
                                    in.advantages.sizes().equals(in.logp.sizes()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("advantages: expected shape [", rows, "] or ", ShapeString(in.logp), ", got ",
                     in.advantages.defined() ? ShapeString(in.advantages) : std::string("none")));
  }
  if (!in.is_expert.defined() || in.is_expert.dim() != 1 || in.is_expert.size(0) != rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("is_expert: expected shape [", rows, "], got ",
                     in.is_expert.defined() ? ShapeString(in.is_expert) : std::string("none")));
  }
  if (settings.KlActive() && !in.ref_logp.defined()) {
    return absl::FailedPreconditionError(absl::StrCat("ref_logp: kl_coef > 0 with kl_loss_fn ",
                                                      KlEstimatorName(settings.kl_estimator),
                                                      " needs reference log-probs"));
  }
  if (in.ref_logp.defined()) RETURN_IF_ERROR(CheckSameShape("ref_logp", in.ref_logp, in.logp));
  if (settings.entropy_coef > 0 && !in.entropy.defined()) {
    return absl::FailedPreconditionError("entropy: entropy_coef > 0 needs the policy's entropy");
  }
  if (in.entropy.defined()) RETURN_IF_ERROR(CheckSameShape("entropy", in.entropy, in.logp));
  if ((settings.agg_mode == LossAggMode::kSeqMeanTokenSumNorm ||
       settings.sft_agg_mode == LossAggMode::kSeqMeanTokenSumNorm) &&
      !(settings.norm_length > 0)) {
    return absl::InvalidArgumentError(
        "loss_agg_norm_length: must be > 0 with aggregation mode seq-mean-token-sum-norm");
  }
  if (!(settings.cutoff_prob > 0 && settings.cutoff_prob <= 1)) {
    return absl::InvalidArgumentError("cutoff_prob: must be in (0, 1]");
  }
  return absl::OkStatus();
}

// Aggregates token values `x` over the positions of `m` (one kind of rows) with the step's
// global counts of that kind, in `mode`.
at::Tensor Aggregate(const at::Tensor& x, const at::Tensor& m, double global_tokens,
                     double global_rows, LossAggMode mode, const LossSettings& settings) {
  const at::Tensor masked = x * m;
  switch (mode) {
    case LossAggMode::kTokenMean:
      return masked.sum() / (global_tokens + kDenominatorEps);
    case LossAggMode::kSeqMeanTokenMean:
      return (masked.sum(1) / (m.sum(1) + kDenominatorEps)).sum() / (global_rows + kDenominatorEps);
    case LossAggMode::kSeqMeanTokenSum:
      return masked.sum() / (global_rows + kDenominatorEps);
    case LossAggMode::kSeqMeanTokenSumNorm:
      return masked.sum() / (global_rows * settings.norm_length + kDenominatorEps);
  }
  return masked.sum() / (global_tokens + kDenominatorEps);
}

}  // namespace

GlobalNormalizers& GlobalNormalizers::operator+=(const GlobalNormalizers& other) {
  on_policy_tokens += other.on_policy_tokens;
  expert_tokens += other.expert_tokens;
  on_policy_rows += other.on_policy_rows;
  expert_rows += other.expert_rows;
  on_policy_reward_sum += other.on_policy_reward_sum;
  return *this;
}

GlobalNormalizers ComputeLocalNormalizers(const at::Tensor& mask, const at::Tensor& is_expert,
                                          const at::Tensor& rewards) {
  GlobalNormalizers n;
  if (!mask.defined() || !is_expert.defined()) return n;
  const at::Tensor expert = is_expert.to(at::kBool).cpu();
  const at::Tensor per_row = mask.to(at::kDouble).sum(1).cpu();
  n.expert_tokens = per_row.masked_select(expert).sum().item<double>();
  n.on_policy_tokens = per_row.masked_select(expert.logical_not()).sum().item<double>();
  n.expert_rows = static_cast<double>(expert.sum().item<int64_t>());
  n.on_policy_rows = static_cast<double>(expert.numel()) - n.expert_rows;
  if (rewards.defined()) {
    n.on_policy_reward_sum =
        rewards.to(at::kDouble).cpu().masked_select(expert.logical_not()).sum().item<double>();
  }
  return n;
}

absl::StatusOr<GlobalNormalizers> AllReduceNormalizers(const GlobalNormalizers& local,
                                                       Collective& collective,
                                                       const at::Device& device) {
  if (collective.world_size() == 1) return local;
  try {
    at::Tensor t = at::tensor(std::vector<double>{local.on_policy_tokens, local.expert_tokens,
                                                  local.on_policy_rows, local.expert_rows,
                                                  local.on_policy_reward_sum},
                              at::TensorOptions().dtype(at::kDouble))
                       .to(device);
    std::vector<at::Tensor> tensors{t};
    RETURN_IF_ERROR(collective.AllReduceSum(tensors));
    const at::Tensor host = tensors[0].cpu();
    const double* v = host.data_ptr<double>();
    GlobalNormalizers global;
    global.on_policy_tokens = v[0];
    global.expert_tokens = v[1];
    global.on_policy_rows = v[2];
    global.expert_rows = v[3];
    global.on_policy_reward_sum = v[4];
    return global;
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("all-reduce of the loss normalisers: ", internal::ExceptionMessage(e)));
  }
}

LossSettings LossSettings::FromConfig(const Config& config, double mu) {
  LossSettings s;
  s.mu = mu;
  s.clip_low = config.policy_loss.EffectiveClipLow();
  s.clip_high = config.policy_loss.EffectiveClipHigh();
  s.clip_ratio_c = config.policy_loss.clip_ratio_c;
  s.sft_weight = config.sft.EffectiveWeight();
  s.cutoff_prob = config.sft.cutoff_prob;
  s.agg_mode = config.aggregation.loss_agg_mode;
  s.sft_agg_mode = config.sft.EffectiveAggMode();
  s.norm_length = static_cast<double>(config.aggregation.loss_agg_norm_length);
  s.entropy_coef = config.regularizer.entropy_coef;
  s.kl_coef = config.regularizer.kl_coef;
  s.kl_estimator = config.regularizer.kl_loss_fn;
  s.kl_rows = config.regularizer.kl_loss_rows;
  return s;
}

at::Tensor KlEstimate(KlEstimator estimator, const at::Tensor& logp, const at::Tensor& ref_logp) {
  switch (estimator) {
    case KlEstimator::kNone:
      return at::zeros_like(logp);
    case KlEstimator::kK1:
      return logp - ref_logp;
    case KlEstimator::kK2:
      return 0.5 * (logp - ref_logp).pow(2);
    case KlEstimator::kK3: {
      const at::Tensor log_ratio = ref_logp - logp;
      return at::exp(log_ratio) - 1.0 - log_ratio;
    }
    case KlEstimator::kLowVarKl: {
      const at::Tensor log_ratio = at::clamp(ref_logp - logp, -20.0, 20.0);
      return at::clamp(at::exp(log_ratio) - log_ratio - 1.0, -10.0, 10.0);
    }
    case KlEstimator::kAbs:
      return at::abs(logp - ref_logp);
  }
  return at::zeros_like(logp);
}

const std::array<const char*, kNumLossMetrics>& LossMetricNames() {
  static const std::array<const char*, kNumLossMetrics> names = {
      "loss",           "pg_loss",   "sft_loss", "phi_mean", "clip_frac_upper", "clip_frac_lower",
      "clip_frac_dual", "approx_kl", "entropy",  "kl_ref",   "kl_loss"};
  return names;
}

absl::StatusOr<MicroBatchLoss> ComputeChordLoss(const LossInputs& in, const LossSettings& s,
                                                const GlobalNormalizers& n) {
  RETURN_IF_ERROR(CheckInputs(in, s));
  try {
    // Half-precision inputs are aggregated in float32.
    const at::ScalarType dtype = in.logp.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    const at::Tensor mask = in.mask.to(dtype);
    const at::Tensor valid = mask != 0;
    const at::Tensor expert = in.is_expert.to(at::kBool).unsqueeze(1);
    const at::Tensor u_mask = mask * expert.logical_not().to(dtype);
    const at::Tensor e_mask = mask * expert.to(dtype);
    // Masked-out positions are replaced by 0 before any arithmetic: whatever they held cannot
    // reach the loss, and their gradient is exactly 0.
    const at::Tensor zeros = at::zeros_like(mask);
    const at::Tensor logp = at::where(valid, in.logp.to(dtype), zeros);
    const at::Tensor old_logp = at::where(valid, in.old_logp.to(dtype).detach(), zeros);
    at::Tensor adv = in.advantages.to(dtype).detach();
    if (adv.dim() == 1) adv = adv.unsqueeze(1);
    adv = adv.expand_as(logp);

    // PG over U rows: PPO clip with separate eps_low / eps_high, then the dual clip for A < 0.
    const at::Tensor delta = at::clamp(logp - old_logp, -20.0, 20.0);
    const at::Tensor ratio = at::exp(delta);
    const at::Tensor l1 = -adv * ratio;
    const at::Tensor l2 = -adv * at::clamp(ratio, 1.0 - s.clip_low, 1.0 + s.clip_high);
    const at::Tensor clipped = at::maximum(l1, l2);
    const at::Tensor l3 = -adv * s.clip_ratio_c;
    const at::Tensor negative = adv < 0;
    const at::Tensor pg_tokens = at::where(negative, at::minimum(clipped, l3), clipped);
    const at::Tensor pg =
        Aggregate(pg_tokens, u_mask, n.on_policy_tokens, n.on_policy_rows, s.agg_mode, s);

    // SFT over E rows with the detached token weight.
    const at::Tensor p = at::exp(logp).detach();
    const at::Tensor phi = p * (1.0 - p);
    at::Tensor sft_tokens;
    switch (s.sft_weight) {
      case SftWeight::kPhi:
        // The reference's cutoff: above it the log-prob is a constant (no gradient); phi is
        // still that of the token's own probability.
        sft_tokens =
            -(s.cutoff_prob < 1.0 ? at::clamp_max(logp, std::log(s.cutoff_prob)) : logp) * phi;
        break;
      case SftWeight::kImportanceSampling:
        sft_tokens = -logp * p;
        break;
      case SftWeight::kNone:
        sft_tokens = -logp;
        break;
    }
    const at::Tensor sft =
        Aggregate(sft_tokens, e_mask, n.expert_tokens, n.expert_rows, s.sft_agg_mode, s);

    at::Tensor loss = (1.0 - s.mu) * pg + s.mu * sft;

    const double u_tokens = n.on_policy_tokens + kDenominatorEps;
    at::Tensor entropy_metric = at::zeros({}, mask.options());
    if (in.entropy.defined()) {
      const at::Tensor entropy = at::where(valid, in.entropy.to(dtype), zeros);
      if (s.entropy_coef > 0) {
        loss = loss - s.entropy_coef * Aggregate(entropy, u_mask, n.on_policy_tokens,
                                                 n.on_policy_rows, s.agg_mode, s);
      }
      entropy_metric = (entropy.detach() * u_mask).sum() / u_tokens;
    }
    at::Tensor kl_metric = at::zeros({}, mask.options());
    at::Tensor kl_loss_metric = at::zeros({}, mask.options());
    if (in.ref_logp.defined() && s.kl_estimator != KlEstimator::kNone) {
      const at::Tensor ref_logp = at::where(valid, in.ref_logp.to(dtype).detach(), zeros);
      const at::Tensor kl = KlEstimate(s.kl_estimator, logp, ref_logp);
      // The reference implementation applies its KL loss to every row of the batch.
      const bool all_rows = s.kl_rows == KlRows::kAll;
      const at::Tensor kl_mask = all_rows ? mask : u_mask;
      const double kl_tokens = all_rows ? n.on_policy_tokens + n.expert_tokens : n.on_policy_tokens;
      const double kl_rows = all_rows ? n.on_policy_rows + n.expert_rows : n.on_policy_rows;
      const at::Tensor kl_term = Aggregate(kl, kl_mask, kl_tokens, kl_rows, s.agg_mode, s);
      if (s.KlActive()) loss = loss + s.kl_coef * kl_term;
      kl_metric = (kl.detach() * kl_mask).sum() / (kl_tokens + kDenominatorEps);
      kl_loss_metric = kl_term.detach();
    }

    const at::Tensor ratio_d = ratio.detach();
    const at::Tensor upper = (adv > 0).logical_and(ratio_d > 1.0 + s.clip_high);
    const at::Tensor lower = negative.logical_and(ratio_d < 1.0 - s.clip_low);
    const at::Tensor dual = negative.logical_and(clipped.detach() > l3);
    auto share = [&](const at::Tensor& flags) {
      return (flags.to(dtype) * u_mask).sum() / u_tokens;
    };

    MicroBatchLoss out;
    out.loss = loss;
    out.metrics =
        at::stack({loss.detach(), pg.detach(), sft.detach(),
                   (phi * e_mask).sum() / (n.expert_tokens + kDenominatorEps), share(upper),
                   share(lower), share(dual), (-delta.detach() * u_mask).sum() / u_tokens,
                   entropy_metric, kl_metric, kl_loss_metric})
            .to(at::kDouble);
    return out;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("CHORD loss: ", internal::ExceptionMessage(e)));
  }
}

std::vector<std::pair<std::string, double>> MetricsToPairs(const at::Tensor& metrics) {
  std::vector<std::pair<std::string, double>> out;
  const at::Tensor host = metrics.detach().to(at::kDouble).cpu().contiguous();
  const double* v = host.data_ptr<double>();
  for (int i = 0; i < kNumLossMetrics && i < host.numel(); ++i) {
    out.emplace_back(LossMetricNames()[i], v[i]);
  }
  return out;
}

}  // namespace chord::algorithm
