#include "common/algorithm/train_step.h"

#include <ATen/ATen.h>

#include <cmath>
#include <exception>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/algorithm/exception_message.h"
#include "common/algorithm/lr_schedule.h"
#include "common/algorithm/mu_schedule.h"
#include "common/status/status_macros.h"

namespace chord::algorithm {
namespace {

// Sums every gradient over the ranks, in flat buckets of about `bucket_bytes` (consecutive
// parameters of one dtype and device), so a large model makes few collective calls and needs
// little extra memory.
absl::Status AllReduceGradients(const std::vector<at::Tensor>& params, Collective& collective,
                                int64_t bucket_bytes) {
  size_t next = 0;
  while (next < params.size()) {
    std::vector<at::Tensor> grads;
    int64_t bytes = 0;
    const at::Tensor& first = params[next].grad();
    while (next < params.size()) {
      const at::Tensor& g = params[next].grad();
      const int64_t g_bytes = g.numel() * static_cast<int64_t>(g.element_size());
      if (g.scalar_type() != first.scalar_type() || g.device() != first.device() ||
          (!grads.empty() && bytes + g_bytes > bucket_bytes)) {
        break;
      }
      grads.push_back(g);
      bytes += g_bytes;
      ++next;
    }
    std::vector<at::Tensor> flat_parts;
    flat_parts.reserve(grads.size());
    for (const at::Tensor& g : grads) flat_parts.push_back(g.reshape({-1}));
    std::vector<at::Tensor> bucket{at::cat(flat_parts)};
    RETURN_IF_ERROR(collective.AllReduceSum(bucket));
    int64_t offset = 0;
    for (const at::Tensor& g : grads) {
      // `g` shares storage with the parameter's gradient: copy_ writes the sum in place.
      g.copy_(bucket[0].narrow(0, offset, g.numel()).view(g.sizes()));
      offset += g.numel();
    }
  }
  return absl::OkStatus();
}

void SetOptimizerOptions(torch::optim::AdamW& optimizer, const OptimizerConfig& config, double lr) {
  for (torch::optim::OptimizerParamGroup& group : optimizer.param_groups()) {
    auto& options = static_cast<torch::optim::AdamWOptions&>(group.options());
    options.lr(lr);
    options.betas(std::make_tuple(config.betas[0], config.betas[1]));
    options.eps(config.adam_eps);
    options.weight_decay(config.weight_decay);
  }
}

absl::StatusOr<StepMetrics> RunTrainStepImpl(Policy& policy, torch::optim::AdamW& optimizer,
                                             Collective& collective,
                                             const std::vector<TrainingRow>& rows,
                                             const Config& config,
                                             const TrainStepOptions& options) {
  std::vector<at::Tensor> params;
  for (const at::Tensor& p : policy.Parameters()) {
    if (p.requires_grad()) params.push_back(p);
  }
  if (params.empty()) {
    return absl::InvalidArgumentError("policy: no trainable parameters");
  }
  const at::Device device = params[0].device();
  const bool strict = config.batch.strict_on_policy;

  // 1. Normalisers of the whole step.
  ASSIGN_OR_RETURN(const GlobalNormalizers global,
                   AllReduceNormalizers(ComputeLocalNormalizers(rows), collective, device));
  std::optional<double> mean_reward;
  if (global.on_policy_rows > 0) mean_reward = global.on_policy_reward_sum / global.on_policy_rows;

  // 2. mu.
  const double mu = StepMu(config.mu, options.step, mean_reward);
  const LossSettings settings = LossSettings::FromConfig(config, mu);

  // 3. Forward, loss, backward per micro-batch.
  ASSIGN_OR_RETURN(std::vector<MicroBatch> micro_batches,
                   PackMicroBatches(rows, config.batch.micro_batch_token_budget, options.pack));
  for (at::Tensor& p : params) p.mutable_grad() = at::Tensor();
  at::Tensor metric_sums =
      at::zeros({kNumLossMetrics}, at::TensorOptions(at::kDouble).device(device));
  for (size_t m = 0; m < micro_batches.size(); ++m) {
    const MicroBatch& mb = micro_batches[m];
    const at::Tensor input_ids = mb.input_ids.to(device);
    const at::Tensor attention_mask = mb.attention_mask.to(device);
    at::Tensor entropy;
    const at::Tensor logp = policy.TokenLogprobs(input_ids, attention_mask, &entropy);
    if (!logp.defined() || !logp.sizes().equals(mb.loss_mask.sizes())) {
      return absl::InternalError(absl::StrCat(
          "policy: TokenLogprobs returned shape [",
          logp.defined() ? absl::StrJoin(logp.sizes(), ", ") : std::string("undefined"),
          "] for input [", absl::StrJoin(input_ids.sizes(), ", "), "] (expected [",
          absl::StrJoin(mb.loss_mask.sizes(), ", "), "])"));
    }
    at::Tensor ref_logp;
    if (options.reference != nullptr) {
      at::NoGradGuard no_grad;
      ref_logp = options.reference->TokenLogprobs(input_ids, attention_mask, nullptr);
    }
    const at::Tensor is_expert = mb.is_expert.to(device);
    at::Tensor old_logp = mb.old_logp.to(device).to(logp.scalar_type());
    if (strict) {
      // The current weights' own log-probs for on-policy rows: r = 1.
      old_logp = at::where(is_expert.unsqueeze(1), old_logp, logp.detach());
    }
    LossInputs inputs;
    inputs.logp = logp;
    inputs.old_logp = old_logp;
    inputs.advantages = mb.advantages.to(device);
    inputs.mask = mb.loss_mask.to(device);
    inputs.is_expert = is_expert;
    inputs.ref_logp = ref_logp;
    inputs.entropy = entropy;
    absl::StatusOr<MicroBatchLoss> loss = ComputeChordLoss(inputs, settings, global);
    if (!loss.ok()) {
      return absl::Status(loss.status().code(),
                          absl::StrCat("micro-batch ", m, ": ", loss.status().message()));
    }
    loss->loss.backward();
    metric_sums += loss->metrics;
  }

  // 4. Sum gradients (and metric contributions) over ranks. Every rank reduces every parameter.
  for (at::Tensor& p : params) {
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
  }
  if (collective.world_size() > 1) {
    RETURN_IF_ERROR(AllReduceGradients(params, collective, options.bucket_bytes));
    std::vector<at::Tensor> metric_list{metric_sums};
    RETURN_IF_ERROR(collective.AllReduceSum(metric_list));
    metric_sums = metric_list[0];
  }

  // 5. Clip, learning rate, optimizer step.
  at::Tensor squares = at::zeros({}, at::TensorOptions(at::kDouble).device(device));
  for (const at::Tensor& p : params) squares += p.grad().detach().norm(2).to(at::kDouble).pow(2);
  const double grad_norm = std::sqrt(squares.item<double>());
  if (!std::isfinite(grad_norm)) {
    for (at::Tensor& p : params) p.mutable_grad() = at::Tensor();
    return absl::InternalError(
        absl::StrCat("step ", options.step, ": non-finite gradient norm; no optimizer step taken"));
  }
  if (config.optimizer.grad_clip > 0 && grad_norm > config.optimizer.grad_clip) {
    const double scale = config.optimizer.grad_clip / (grad_norm + 1e-6);
    for (const at::Tensor& p : params) p.grad().mul_(scale);
  }
  const double lr = LearningRateAt(config.optimizer, options.step, options.total_steps);
  SetOptimizerOptions(optimizer, config.optimizer, lr);
  optimizer.step();

  StepMetrics metrics;
  const at::Tensor host = metric_sums.cpu();
  const double* v = host.data_ptr<double>();
  metrics.loss = v[kMetricLoss];
  metrics.pg_loss = v[kMetricPgLoss];
  metrics.sft_loss = v[kMetricSftLoss];
  metrics.phi_mean = v[kMetricPhiMean];
  metrics.clip_frac_upper = v[kMetricClipFracUpper];
  metrics.clip_frac_lower = v[kMetricClipFracLower];
  metrics.clip_frac_dual = v[kMetricClipFracDual];
  metrics.approx_kl = v[kMetricApproxKl];
  metrics.entropy = v[kMetricEntropy];
  metrics.kl_ref = v[kMetricKlRef];
  metrics.mu = mu;
  metrics.grad_norm = grad_norm;
  metrics.lr = lr;
  metrics.reward_mean = mean_reward.value_or(0.0);
  metrics.on_policy_rows = global.on_policy_rows;
  metrics.expert_rows = global.expert_rows;
  metrics.on_policy_tokens = global.on_policy_tokens;
  metrics.expert_tokens = global.expert_tokens;
  metrics.local_micro_batches = static_cast<int64_t>(micro_batches.size());
  return metrics;
}

}  // namespace

absl::StatusOr<std::unique_ptr<torch::optim::AdamW>> MakeOptimizer(Policy& policy,
                                                                   const OptimizerConfig& config) {
  Config only_optimizer;
  only_optimizer.optimizer = config;
  const std::vector<std::string> problems = Validate(only_optimizer);
  if (!problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid optimizer config: ", absl::StrJoin(problems, "; ")));
  }
  try {
    std::vector<at::Tensor> params;
    for (const at::Tensor& p : policy.Parameters()) {
      if (p.requires_grad()) params.push_back(p);
    }
    if (params.empty()) return absl::InvalidArgumentError("policy: no trainable parameters");
    torch::optim::AdamWOptions options(config.lr);
    options.betas(std::make_tuple(config.betas[0], config.betas[1]));
    options.eps(config.adam_eps);
    options.weight_decay(config.weight_decay);
    return std::make_unique<torch::optim::AdamW>(params, options);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("creating the AdamW optimizer: ", internal::ExceptionMessage(e)));
  }
}

std::vector<std::pair<std::string, double>> StepMetrics::ToPairs() const {
  return {{"loss", loss},
          {"pg_loss", pg_loss},
          {"sft_loss", sft_loss},
          {"mu", mu},
          {"phi_mean", phi_mean},
          {"clip_frac_upper", clip_frac_upper},
          {"clip_frac_lower", clip_frac_lower},
          {"clip_frac_dual", clip_frac_dual},
          {"approx_kl", approx_kl},
          {"entropy", entropy},
          {"kl_ref", kl_ref},
          {"grad_norm", grad_norm},
          {"lr", lr},
          {"reward_mean", reward_mean},
          {"on_policy_rows", on_policy_rows},
          {"expert_rows", expert_rows},
          {"on_policy_tokens", on_policy_tokens},
          {"expert_tokens", expert_tokens}};
}

absl::StatusOr<StepMetrics> RunTrainStep(Policy& policy, torch::optim::AdamW& optimizer,
                                         Collective& collective,
                                         const std::vector<TrainingRow>& rows, const Config& config,
                                         const TrainStepOptions& options) {
  const std::vector<std::string> problems = Validate(config);
  if (!problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid algorithm config: ", absl::StrJoin(problems, "; ")));
  }
  if (options.step < 1) {
    return absl::InvalidArgumentError(absl::StrCat("step: must be >= 1, got ", options.step));
  }
  if (options.total_steps < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("total_steps: must be >= 1, got ", options.total_steps));
  }
  if (options.bucket_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("bucket_bytes: must be >= 1, got ", options.bucket_bytes));
  }
  if (config.regularizer.kl_coef > 0 && options.reference == nullptr) {
    return absl::FailedPreconditionError("kl_coef: > 0 needs a reference policy");
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    RETURN_IF_ERROR(
        ValidateRow(rows[i], i, /*require_old_logprobs=*/!config.batch.strict_on_policy));
  }
  try {
    return RunTrainStepImpl(policy, optimizer, collective, rows, config, options);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("training step ", options.step, ": ", internal::ExceptionMessage(e)));
  }
}

}  // namespace chord::algorithm
