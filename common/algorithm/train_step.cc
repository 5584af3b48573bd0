#include "common/algorithm/train_step.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/algorithm/exception_message.h"
#include "common/algorithm/grpo_advantage.h"
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

// One optimizer update over this rank's `rows`; `mu` of the step when given, else from the
// update's own (global) normalisers.
absl::StatusOr<StepMetrics> RunTrainStepImpl(Policy& policy, torch::optim::AdamW& optimizer,
                                             Collective& collective,
                                             const std::vector<TrainingRow>& rows,
                                             const Config& config, const TrainStepOptions& options,
                                             std::optional<double> step_mu) {
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
  const double mu =
      step_mu.value_or(StepMu(config.mu, options.step + config.mu.mu_step_offset, mean_reward));
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
    // The reference runs for the KL loss term only (the reward penalty has its own pass).
    if (options.reference != nullptr && config.regularizer.KlLossActive()) {
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
  metrics.kl_loss = v[kMetricKlLoss];
  metrics.kl_coef = config.regularizer.KlLossActive() ? config.regularizer.kl_coef : 0.0;
  metrics.sft_weight = config.sft.EffectiveWeight();
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

// Checks shared by RunTrainStep and RunTrainUpdates, before any collective call.
absl::Status CheckStep(const std::vector<TrainingRow>& rows, const Config& config,
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
  if (config.regularizer.KlLossActive() && options.reference == nullptr) {
    return absl::FailedPreconditionError("kl_coef: > 0 needs a reference policy");
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    RETURN_IF_ERROR(
        ValidateRow(rows[i], i, /*require_old_logprobs=*/!config.batch.strict_on_policy));
  }
  return absl::OkStatus();
}

// Response-aligned values of row `b` of a micro-batch (`host` [B, S - 1], float64 on the CPU):
// the row's response token j is scored at position P + j - 1 (micro_batch.h).
std::vector<double> RowResponseValues(const at::Tensor& host, int64_t b, const TrainingRow& row) {
  const int64_t p = static_cast<int64_t>(row.prompt_ids.size());
  const int64_t r = static_cast<int64_t>(row.response_ids.size());
  const at::Tensor values = host[b].narrow(0, p - 1, r).contiguous();
  const double* v = values.data_ptr<double>();
  return std::vector<double>(v, v + r);
}

// What the forward pass before a step's first update records.
struct StepPreparation {
  // Per step row: the current weights' log-probs of its response (when recorded).
  std::vector<std::vector<double>> current_logprobs;
  // Per step row: the sum of the penalty's KL estimate over its masked response tokens (every
  // row's, all-reduced).
  std::vector<double> kl_sums;
};

// Step 2 and 3 of RunTrainUpdates for this rank's on-policy rows `mine` (indices into `rows`).
absl::StatusOr<StepPreparation> PrepareStep(Policy& policy, Collective& collective,
                                            const std::vector<TrainingRow>& rows,
                                            const std::vector<size_t>& mine, const Config& config,
                                            const TrainStepOptions& options, bool record_current,
                                            bool penalty, const at::Device& device) {
  StepPreparation out;
  out.current_logprobs.resize(rows.size());
  std::vector<TrainingRow> local;
  for (size_t index : mine) local.push_back(rows[index]);
  ASSIGN_OR_RETURN(std::vector<MicroBatch> micro_batches,
                   PackMicroBatches(local, config.batch.micro_batch_token_budget, options.pack));
  if (penalty) out.kl_sums.assign(rows.size(), 0.0);
  at::NoGradGuard no_grad;
  for (const MicroBatch& mb : micro_batches) {
    const at::Tensor input_ids = mb.input_ids.to(device);
    const at::Tensor attention_mask = mb.attention_mask.to(device);
    at::Tensor current;
    if (record_current) current = policy.TokenLogprobs(input_ids, attention_mask, nullptr);
    at::Tensor current_host;
    if (record_current) current_host = current.to(at::kDouble).cpu();
    at::Tensor kl_row_sums;
    if (penalty) {
      const at::Tensor ref = options.reference->TokenLogprobs(input_ids, attention_mask, nullptr);
      const at::Tensor old =
          record_current ? current : mb.old_logp.to(device).to(ref.scalar_type());
      const at::Tensor mask = mb.loss_mask.to(device).to(ref.scalar_type());
      const at::Tensor valid = mask != 0;
      const at::Tensor zeros = at::zeros_like(mask);
      const at::Tensor kl = KlEstimate(config.regularizer.kl_penalty_fn,
                                       at::where(valid, old, zeros), at::where(valid, ref, zeros));
      kl_row_sums = (kl * mask).sum(1).to(at::kDouble).cpu();
    }
    for (size_t b = 0; b < mb.row_indices.size(); ++b) {
      const size_t step_index = mine[mb.row_indices[b]];
      const TrainingRow& row = rows[step_index];
      if (record_current) {
        out.current_logprobs[step_index] =
            RowResponseValues(current_host, static_cast<int64_t>(b), row);
      }
      if (penalty) out.kl_sums[step_index] = kl_row_sums[static_cast<int64_t>(b)].item<double>();
    }
  }
  if (penalty && collective.world_size() > 1) {
    // Each row's sum comes from the one rank that holds it: the sum over ranks is every row's.
    std::vector<at::Tensor> tensors{
        at::tensor(out.kl_sums, at::TensorOptions().dtype(at::kDouble)).to(device)};
    RETURN_IF_ERROR(collective.AllReduceSum(tensors));
    const at::Tensor host = tensors[0].cpu().contiguous();
    const double* v = host.data_ptr<double>();
    out.kl_sums.assign(v, v + rows.size());
  }
  return out;
}

double MaskedTokens(const TrainingRow& row) {
  if (row.loss_mask.empty()) return static_cast<double>(row.response_ids.size());
  double n = 0;
  for (uint8_t m : row.loss_mask) n += m != 0 ? 1 : 0;
  return n;
}

absl::StatusOr<StepMetrics> RunTrainUpdatesImpl(Policy& policy, torch::optim::AdamW& optimizer,
                                                Collective& collective,
                                                const std::vector<TrainingRow>& rows,
                                                const Config& config,
                                                const TrainStepOptions& options) {
  const int rank = collective.rank();
  const int world = collective.world_size();
  const std::vector<std::vector<size_t>> mini_batches =
      PlanMiniBatches(rows, config.batch.ppo_mini_batch_size);
  const int64_t updates = config.batch.ppo_epochs * static_cast<int64_t>(mini_batches.size());
  const bool penalty = config.regularizer.KlPenaltyActive();

  // This rank's share of each mini-batch, as indices into `rows`.
  std::vector<std::vector<size_t>> shards(mini_batches.size());
  std::vector<size_t> mine_on_policy;
  for (size_t m = 0; m < mini_batches.size(); ++m) {
    std::vector<TrainingRow> subset;
    for (size_t index : mini_batches[m]) subset.push_back(rows[index]);
    for (size_t i : ShardRows(subset, rank, world)) {
      const size_t index = mini_batches[m][i];
      shards[m].push_back(index);
      if (!rows[index].is_expert) mine_on_policy.push_back(index);
    }
  }
  std::sort(mine_on_policy.begin(), mine_on_policy.end());

  // 1. mu of the step: every rank holds the whole batch, so its counts are the global ones.
  const GlobalNormalizers step_counts = ComputeLocalNormalizers(rows);
  std::optional<double> mean_reward;
  if (step_counts.on_policy_rows > 0) {
    mean_reward = step_counts.on_policy_reward_sum / step_counts.on_policy_rows;
  }
  const double mu = StepMu(config.mu, options.step + config.mu.mu_step_offset, mean_reward);

  // 2. and 3. Old log-probs fixed before the first update; the KL reward penalty.
  std::vector<TrainingRow> work = rows;
  Config update_config = config;
  const bool record_current = config.batch.strict_on_policy && (updates > 1 || penalty);
  double kl_penalty = 0;
  if (record_current || penalty) {
    std::vector<at::Tensor> params = policy.Parameters();
    const at::Device device = params.empty() ? at::Device(at::kCPU) : params[0].device();
    ASSIGN_OR_RETURN(StepPreparation prepared,
                     PrepareStep(policy, collective, rows, mine_on_policy, config, options,
                                 record_current, penalty, device));
    if (record_current) {
      for (size_t index : mine_on_policy) {
        const std::vector<double>& values = prepared.current_logprobs[index];
        work[index].old_logprobs.assign(values.begin(), values.end());
      }
      update_config.batch.strict_on_policy = false;
    }
    if (penalty) {
      std::vector<size_t> on_policy;
      std::vector<double> rewards;
      std::vector<int64_t> groups;
      for (size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].is_expert) continue;
        on_policy.push_back(i);
        rewards.push_back(static_cast<double>(rows[i].reward) -
                          config.regularizer.kl_penalty_coef * prepared.kl_sums[i]);
        groups.push_back(rows[i].group);
        kl_penalty += prepared.kl_sums[i] / (MaskedTokens(rows[i]) + 1e-8);
      }
      if (!on_policy.empty()) kl_penalty /= static_cast<double>(on_policy.size());
      ASSIGN_OR_RETURN(GrpoResult grpo, ComputeGrpoAdvantages(rewards, groups));
      for (size_t k = 0; k < on_policy.size(); ++k) {
        work[on_policy[k]].advantage = static_cast<float>(grpo.advantages[k]);
      }
    }
  }

  // 4. The updates.
  StepMetrics total;
  for (int64_t epoch = 0; epoch < config.batch.ppo_epochs; ++epoch) {
    for (size_t m = 0; m < mini_batches.size(); ++m) {
      std::vector<TrainingRow> local;
      for (size_t index : shards[m]) local.push_back(work[index]);
      ASSIGN_OR_RETURN(StepMetrics u, RunTrainStepImpl(policy, optimizer, collective, local,
                                                       update_config, options, mu));
      total.loss += u.loss;
      total.pg_loss += u.pg_loss;
      total.sft_loss += u.sft_loss;
      total.phi_mean += u.phi_mean;
      total.clip_frac_upper += u.clip_frac_upper;
      total.clip_frac_lower += u.clip_frac_lower;
      total.clip_frac_dual += u.clip_frac_dual;
      total.approx_kl += u.approx_kl;
      total.entropy += u.entropy;
      total.kl_ref += u.kl_ref;
      total.kl_loss += u.kl_loss;
      total.grad_norm += u.grad_norm;
      total.local_micro_batches += u.local_micro_batches;
      total.lr = u.lr;
      total.kl_coef = u.kl_coef;
      total.sft_weight = u.sft_weight;
    }
  }
  const double n = static_cast<double>(updates);
  for (double* v :
       {&total.loss, &total.pg_loss, &total.sft_loss, &total.phi_mean, &total.clip_frac_upper,
        &total.clip_frac_lower, &total.clip_frac_dual, &total.approx_kl, &total.entropy,
        &total.kl_ref, &total.kl_loss, &total.grad_norm}) {
    *v /= n;
  }
  total.mu = mu;
  total.updates = updates;
  total.kl_penalty = kl_penalty;
  total.kl_penalty_coef = penalty ? config.regularizer.kl_penalty_coef : 0.0;
  total.reward_mean = mean_reward.value_or(0.0);
  total.on_policy_rows = step_counts.on_policy_rows;
  total.expert_rows = step_counts.expert_rows;
  total.on_policy_tokens = step_counts.on_policy_tokens;
  total.expert_tokens = step_counts.expert_tokens;
  return total;
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

absl::StatusOr<StepMetrics> RunTrainStep(Policy& policy, torch::optim::AdamW& optimizer,
                                         Collective& collective,
                                         const std::vector<TrainingRow>& rows, const Config& config,
                                         const TrainStepOptions& options) {
  RETURN_IF_ERROR(CheckStep(rows, config, options));
  try {
    return RunTrainStepImpl(policy, optimizer, collective, rows, config, options, std::nullopt);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("training step ", options.step, ": ", internal::ExceptionMessage(e)));
  }
}

absl::StatusOr<StepMetrics> RunTrainUpdates(Policy& policy, torch::optim::AdamW& optimizer,
                                            Collective& collective,
                                            const std::vector<TrainingRow>& rows,
                                            const Config& config, const TrainStepOptions& options) {
  RETURN_IF_ERROR(CheckStep(rows, config, options));
  if (config.regularizer.KlPenaltyActive()) {
    if (options.reference == nullptr) {
      return absl::FailedPreconditionError("kl_penalty_coef: > 0 needs a reference policy");
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!rows[i].is_expert && rows[i].group < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("rows[", i,
                         "].group: missing on an on-policy row (the KL reward penalty recomputes "
                         "the GRPO advantages of each group)"));
      }
    }
  }
  try {
    return RunTrainUpdatesImpl(policy, optimizer, collective, rows, config, options);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("training step ", options.step, ": ", internal::ExceptionMessage(e)));
  }
}

}  // namespace chord::algorithm
