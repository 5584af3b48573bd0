#include "services/learner/learner_rank.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/serialize/archive.h>

#include <cstring>
#include <exception>
#include <filesystem>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files/file_io.h"
#include "common/model/safetensors.h"
#include "common/status/exception_status.h"
#include "common/status/status_macros.h"
#include "services/learner/adamw_state.h"
#include "spdlog/spdlog.h"

namespace chord::learner {
namespace {

// Files of a Hugging Face folder besides config.json and the weights that a rollout worker (or
// transformers) may need, copied into checkpoints and final model folders when present.
constexpr const char* kSourceFiles[] = {"tokenizer.json",
                                        "tokenizer_config.json",
                                        "generation_config.json",
                                        "special_tokens_map.json",
                                        "vocab.json",
                                        "merges.txt",
                                        "added_tokens.json",
                                        "chat_template.jinja"};

std::string CpuRngState() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  const at::Tensor state = gen.get_state().contiguous();
  return std::string(static_cast<const char*>(state.data_ptr()),
                     static_cast<size_t>(state.numel()));
}

size_t CpuRngStateSize() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return static_cast<size_t>(gen.get_state().numel());
}

void SetCpuRngState(const std::string& bytes) {
  at::Tensor state = at::empty({static_cast<int64_t>(bytes.size())}, at::kByte);
  std::memcpy(state.data_ptr(), bytes.data(), bytes.size());
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

void SetOptimizerOptions(torch::optim::AdamW& optimizer, const algorithm::OptimizerConfig& config) {
  for (torch::optim::OptimizerParamGroup& group : optimizer.param_groups()) {
    auto& options = static_cast<torch::optim::AdamWOptions&>(group.options());
    options.lr(config.lr);
    options.betas(std::make_tuple(config.betas[0], config.betas[1]));
    options.eps(config.adam_eps);
    options.weight_decay(config.weight_decay);
  }
}

// Token ids must index the model's vocabulary (checked on every rank for the whole batch, so a
// bad row fails all ranks alike instead of only the one it is sharded to).
absl::Status CheckTokenIds(const std::vector<algorithm::TrainingRow>& rows, int64_t vocab_size) {
  for (size_t i = 0; i < rows.size(); ++i) {
    for (const auto& [field, ids] :
         {std::pair<const char*, const std::vector<int32_t>*>{"prompt_ids", &rows[i].prompt_ids},
          {"response_ids", &rows[i].response_ids}}) {
      for (size_t j = 0; j < ids->size(); ++j) {
        if ((*ids)[j] >= vocab_size) {
          return absl::InvalidArgumentError(
              absl::StrCat("rows[", i, "].", field, "[", j, "]: token id ", (*ids)[j],
                           " outside the vocabulary [0, ", vocab_size, ")"));
        }
      }
    }
  }
  return absl::OkStatus();
}

// Every rank learns whether every rank succeeded at a local action (one small all-reduce), so a
// failure on one rank (e.g. a model folder missing on its node) fails all ranks at once. Returns
// the rank's own error, or ABORTED naming the ranks that failed.
absl::Status AgreeOnSuccess(dist::ProcessGroup& group, const absl::Status& local,
                            const torch::Device& device, absl::string_view what) {
  if (group.world_size() == 1) return local;
  std::vector<at::Tensor> failed{
      at::zeros({group.world_size()}, at::TensorOptions(at::kFloat).device(device))};
  try {
    if (!local.ok()) failed[0][group.rank()].fill_(1.0);
  } catch (const std::exception& e) {
    return StatusFromException(e, what);
  }
  RETURN_IF_ERROR(group.AllReduceSum(failed));
  if (!local.ok()) return local;
  std::vector<int> ranks;
  const at::Tensor host = failed[0].cpu();
  for (int r = 0; r < group.world_size(); ++r) {
    if (host[r].item<float>() > 0) ranks.push_back(r);
  }
  if (ranks.empty()) return absl::OkStatus();
  return absl::AbortedError(
      absl::StrCat(what, " failed on rank(s) ", absl::StrJoin(ranks, ", "), " (see their logs)"));
}

}  // namespace

// The replica as the training step sees it.
class LearnerRank::Policy final : public algorithm::Policy {
 public:
  Policy(model::CausalLM* lm, bool entropy_metric) : lm_(lm), entropy_metric_(entropy_metric) {}

  at::Tensor TokenLogprobs(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                           at::Tensor* entropy) override {
    // entropy_coef > 0 needs the entropy; otherwise it only feeds the metric.
    return lm_->TokenLogprobs(input_ids, attention_mask, temperature_,
                              entropy_metric_ || need_entropy_ ? entropy : nullptr);
  }

  std::vector<at::Tensor> Parameters() override { return lm_->module().parameters(); }

  void set_need_entropy(bool need) { need_entropy_ = need; }
  void set_temperature(float temperature) { temperature_ = temperature; }

 private:
  model::CausalLM* const lm_;
  const bool entropy_metric_;
  bool need_entropy_ = false;
  float temperature_ = 1.0f;
};

LearnerRank::LearnerRank(const LearnerRankOptions& options, dist::ProcessGroup* group)
    : options_(options), group_(group), collective_(group) {}

LearnerRank::~LearnerRank() = default;

absl::StatusOr<std::unique_ptr<LearnerRank>> LearnerRank::Create(const LearnerRankOptions& options,
                                                                 dist::ProcessGroup* group) {
  if (group == nullptr) return absl::InvalidArgumentError("group: must not be null");
  if (options.dtype != torch::kFloat32 && options.dtype != torch::kBFloat16 &&
      options.dtype != torch::kFloat16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dtype: expected float32, bfloat16 or float16, got ", c10::toString(options.dtype)));
  }
  if (options.device.is_cuda() && !torch::cuda::is_available()) {
    return absl::InvalidArgumentError(
        absl::StrCat("device: ", options.device.str(), " requested but CUDA is not available"));
  }
  if (!options.device.is_cpu() && !options.device.is_cuda()) {
    return absl::InvalidArgumentError(
        absl::StrCat("device: expected cpu or cuda, got ", options.device.str()));
  }
  if (options.bucket_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("bucket_bytes: must be >= 1, got ", options.bucket_bytes));
  }
  return std::unique_ptr<LearnerRank>(new LearnerRank(options, group));
}

std::vector<torch::Tensor> LearnerRank::Parameters() const {
  std::vector<torch::Tensor> params;
  if (lm_ == nullptr) return params;
  for (auto& [name, param] : lm_->NamedParameters()) params.push_back(param);
  return params;
}

absl::Status LearnerRank::LoadModel(const std::string& model_dir) {
  model::LoadOptions load;
  load.dtype = options_.dtype;
  load.device = options_.device;
  absl::StatusOr<std::unique_ptr<model::CausalLM>> lm = model::CausalLM::Load(model_dir, load);
  RETURN_IF_ERROR(AgreeOnSuccess(*group_, lm.status(), options_.device,
                                 absl::StrCat("loading model ", model_dir)));
  return AdoptModel(*std::move(lm), model_dir);
}

absl::Status LearnerRank::LoadReference(const std::string& model_dir) {
  model::LoadOptions load;
  load.dtype = options_.dtype;
  load.device = options_.device;
  absl::StatusOr<std::unique_ptr<model::CausalLM>> lm = model::CausalLM::Load(model_dir, load);
  RETURN_IF_ERROR(AgreeOnSuccess(*group_, lm.status(), options_.device,
                                 absl::StrCat("loading the reference model ", model_dir)));
  std::vector<torch::Tensor> params;
  for (auto& [name, param] : (*lm)->NamedParameters()) {
    param.set_requires_grad(false);
    params.push_back(param);
  }
  RETURN_IF_ERROR(BroadcastTensorsInBuckets(*group_, params, /*root=*/0, options_.bucket_bytes));
  (*lm)->module().eval();
  reference_lm_ = *std::move(lm);
  reference_ = std::make_unique<Policy>(reference_lm_.get(), /*entropy_metric=*/false);
  return absl::OkStatus();
}

absl::Status LearnerRank::AdoptModel(std::unique_ptr<model::CausalLM> lm,
                                     const std::string& source_dir) {
  absl::Status local = absl::OkStatus();
  if (lm == nullptr) {
    local = absl::InvalidArgumentError("model: must not be null");
  } else if (lm->device() != options_.device || lm->dtype() != options_.dtype) {
    local = absl::InvalidArgumentError(absl::StrCat(
        "model: on ", lm->device().str(), " in ", c10::toString(lm->dtype()), ", the rank uses ",
        options_.device.str(), " in ", c10::toString(options_.dtype)));
  }
  RETURN_IF_ERROR(AgreeOnSuccess(*group_, local, options_.device, "adopting the model"));
  std::vector<torch::Tensor> params;
  for (auto& [name, param] : lm->NamedParameters()) params.push_back(param);
  RETURN_IF_ERROR(BroadcastTensorsInBuckets(*group_, params, /*root=*/0, options_.bucket_bytes));
  optimizer_.reset();
  reference_.reset();
  reference_lm_.reset();
  lm_ = std::move(lm);
  policy_ = std::make_unique<Policy>(lm_.get(), options_.entropy_metric);
  source_dir_ = source_dir;
  return absl::OkStatus();
}

absl::Status LearnerRank::ResetOptimizer(const algorithm::Config& config) {
  if (lm_ == nullptr) return absl::FailedPreconditionError("ResetOptimizer: no model loaded");
  ASSIGN_OR_RETURN(optimizer_, algorithm::MakeOptimizer(*policy_, config.optimizer));
  return absl::OkStatus();
}

absl::StatusOr<algorithm::StepMetrics> LearnerRank::TrainStep(
    int64_t step, const std::vector<algorithm::TrainingRow>& rows, const algorithm::Config& config,
    int64_t total_steps) {
  if (lm_ == nullptr) return absl::FailedPreconditionError("TrainStep: no model loaded");
  if (optimizer_ == nullptr) {
    return absl::FailedPreconditionError(
        "TrainStep: no optimizer (call ResetOptimizer or LoadCheckpoint first)");
  }
  if (step < 1) return absl::InvalidArgumentError(absl::StrCat("step: must be >= 1, got ", step));
  if (total_steps < 0) {
    return absl::InvalidArgumentError(absl::StrCat("total_steps: must be >= 0, got ", total_steps));
  }
  if (config.optimizer.lr_decay == algorithm::LrDecay::kCosine && total_steps == 0) {
    return absl::InvalidArgumentError(
        "total_steps: the cosine learning-rate decay needs the stage's number of steps");
  }
  // The whole batch is checked on every rank (RunTrainStep checks only the rank's share).
  const std::vector<std::string> problems = algorithm::Validate(config);
  if (!problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid algorithm config: ", absl::StrJoin(problems, "; ")));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    RETURN_IF_ERROR(
        algorithm::ValidateRow(rows[i], i,
                               /*require_old_logprobs=*/!config.batch.strict_on_policy));
  }
  RETURN_IF_ERROR(CheckTokenIds(rows, lm_->config().vocab_size));

  algorithm::TrainStepOptions step_options;
  step_options.step = step;
  step_options.total_steps = std::max(total_steps, step);
  step_options.bucket_bytes = options_.bucket_bytes;
  step_options.pack.pad_token_id = lm_->config().pad_token_id.value_or(0);
  if (algorithm::NeedsReferencePolicy(config)) {
    if (reference_ == nullptr) {
      return absl::FailedPreconditionError(
          "the KL loss term or reward penalty needs the reference policy: LoadReference first");
    }
    reference_->set_temperature(static_cast<float>(config.batch.logprob_temperature));
    step_options.reference = reference_.get();
  }
  policy_->set_need_entropy(config.regularizer.entropy_coef > 0);
  policy_->set_temperature(static_cast<float>(config.batch.logprob_temperature));
  try {
    torch::AutoGradMode grad_mode(true);
    lm_->module().train();
    // Every rank passes the whole batch; RunTrainUpdates trains on this rank's share of each
    // mini-batch.
    return algorithm::RunTrainUpdates(*policy_, *optimizer_, collective_, rows, config,
                                      step_options);
  } catch (const std::exception& e) {
    return StatusFromException(e, absl::StrCat("rank ", rank(), ": training step ", step));
  }
}

absl::Status LearnerRank::CopySourceFiles(const std::string& dir, CheckpointWriter* writer) const {
  if (source_dir_.empty()) return absl::OkStatus();
  for (const char* name : kSourceFiles) {
    const std::string source = absl::StrCat(source_dir_, "/", name);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(source, ec)) continue;
    if (writer != nullptr) {
      RETURN_IF_ERROR(writer->CopyFile(source, absl::StrCat(kModelFolder, "/", name)));
    } else {
      ASSIGN_OR_RETURN(const std::string content, files::ReadFile(source));
      RETURN_IF_ERROR(files::WriteFileAtomically(absl::StrCat(dir, "/", name), content));
    }
  }
  return absl::OkStatus();
}

absl::Status LearnerRank::WriteCheckpoint(const std::string& dir, const TrainerState& state) {
  ASSIGN_OR_RETURN(std::unique_ptr<CheckpointWriter> writer, CheckpointWriter::Begin(dir));
  RETURN_IF_ERROR(lm_->Save(writer->StagingPath(kModelFolder)));
  RETURN_IF_ERROR(CopySourceFiles("", writer.get()));
  std::string rng_state;
  try {
    torch::serialize::OutputArchive archive;
    optimizer_->save(archive);
    archive.save_to(writer->StagingPath(kOptimizerFile));
    rng_state = CpuRngState();
  } catch (const std::exception& e) {
    return StatusFromException(e, absl::StrCat(dir, ": writing the optimizer state"));
  }
  ASSIGN_OR_RETURN(const std::string trainer_state, EncodeTrainerState(state, rng_state));
  RETURN_IF_ERROR(writer->WriteFile(kTrainerStateFile, trainer_state));
  return writer->Commit(state.step);
}

absl::Status LearnerRank::SaveCheckpoint(const std::string& dir, const TrainerState& state) {
  if (lm_ == nullptr || optimizer_ == nullptr) {
    return absl::FailedPreconditionError("SaveCheckpoint: no model or no optimizer");
  }
  absl::Status status = absl::OkStatus();
  if (rank() == 0) {
    try {
      status = WriteCheckpoint(dir, state);
    } catch (const std::exception& e) {
      status = StatusFromException(e, absl::StrCat(dir, ": writing the checkpoint"));
    }
    if (status.ok()) {
      spdlog::info("checkpoint of step {} written to {}", state.step, dir);
    }
  }
  return ShareStatus(*group_, status, /*root=*/0);
}

absl::Status LearnerRank::LoadCheckpointOnRoot(const std::string& dir,
                                               torch::optim::AdamW& optimizer,
                                               std::string* trainer_state_json) {
  RETURN_IF_ERROR(VerifyCheckpoint(dir));
  const std::string state_path = absl::StrCat(dir, "/", kTrainerStateFile);
  ASSIGN_OR_RETURN(std::string text, files::ReadFile(state_path));
  ASSIGN_OR_RETURN(const DecodedTrainerState decoded, DecodeTrainerState(text, state_path));
  if (!decoded.rng_state.empty() && decoded.rng_state.size() != CpuRngStateSize()) {
    return absl::InvalidArgumentError(absl::StrCat(state_path, ": rng: ", decoded.rng_state.size(),
                                                   " bytes, this LibTorch's CPU generator state "
                                                   "has ",
                                                   CpuRngStateSize()));
  }
  const std::string optimizer_path = absl::StrCat(dir, "/", kOptimizerFile);
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(optimizer_path, options_.device);
    optimizer.load(archive);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        optimizer_path, ": does not hold an AdamW state for this model: ", ExceptionMessage(e)));
  }
  // The state must fit the parameters it was mapped to (by position).
  const std::vector<torch::Tensor> params = Parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const torch::optim::AdamWParamState* state = FindAdamWState(optimizer, params[i]);
    if (state == nullptr) continue;
    if (!state->exp_avg().defined() || !state->exp_avg_sq().defined() ||
        !state->exp_avg().sizes().equals(params[i].sizes()) ||
        !state->exp_avg_sq().sizes().equals(params[i].sizes())) {
      return absl::InvalidArgumentError(absl::StrCat(optimizer_path, ": state of parameter ", i,
                                                     " does not match its shape [",
                                                     absl::StrJoin(params[i].sizes(), ", "), "]"));
    }
  }
  // Weights last: LoadNamedTensors checks every tensor before changing any.
  const std::string model_dir = absl::StrCat(dir, "/", kModelFolder);
  ASSIGN_OR_RETURN(const auto folder, model::SafetensorsFolder::Open(model_dir));
  model::NamedTensors tensors;
  for (const std::string& name : folder->TensorNames()) {
    ASSIGN_OR_RETURN(torch::Tensor view, folder->FileOf(name)->View(name));
    tensors.emplace_back(name, std::move(view));
  }
  absl::Status loaded = lm_->LoadNamedTensors(tensors);
  if (!loaded.ok()) return Annotate(loaded, model_dir);
  *trainer_state_json = std::move(text);
  return absl::OkStatus();
}

absl::Status LearnerRank::BroadcastOptimizerState(torch::optim::AdamW& optimizer) {
  if (world_size() == 1) return absl::OkStatus();
  const std::vector<torch::Tensor> params = Parameters();
  const int64_t n = static_cast<int64_t>(params.size());
  // Per-parameter step counts (-1: no state yet), then the moments of those with state.
  at::Tensor steps = at::full({n}, -1, at::kLong);
  if (rank() == 0) {
    for (int64_t i = 0; i < n; ++i) {
      if (const auto* state = FindAdamWState(optimizer, params[i])) steps[i].fill_(state->step());
    }
  }
  std::vector<at::Tensor> step_list{steps.to(options_.device)};
  RETURN_IF_ERROR(BroadcastTensorsInBuckets(*group_, step_list, 0, options_.bucket_bytes));
  steps = step_list[0].cpu();
  std::vector<at::Tensor> moments;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t step = steps[i].item<int64_t>();
    if (step < 0) {
      EraseAdamWState(optimizer, params[i]);
      continue;
    }
    torch::optim::AdamWParamState& state = GetOrCreateAdamWState(optimizer, params[i]);
    state.step(step);
    moments.push_back(state.exp_avg());
    moments.push_back(state.exp_avg_sq());
  }
  return BroadcastTensorsInBuckets(*group_, moments, 0, options_.bucket_bytes);
}

absl::StatusOr<TrainerState> LearnerRank::LoadCheckpoint(const std::string& dir,
                                                         const algorithm::Config& config) {
  if (lm_ == nullptr) {
    return absl::FailedPreconditionError("LoadCheckpoint: no model loaded (LoadModel first)");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<torch::optim::AdamW> optimizer,
                   algorithm::MakeOptimizer(*policy_, config.optimizer));
  std::string trainer_state_json;
  absl::Status root_status = absl::OkStatus();
  if (rank() == 0) {
    try {
      root_status = LoadCheckpointOnRoot(dir, *optimizer, &trainer_state_json);
    } catch (const std::exception& e) {
      root_status = StatusFromException(e, absl::StrCat(dir, ": loading the checkpoint"));
    }
  }
  RETURN_IF_ERROR(ShareStatus(*group_, root_status, /*root=*/0));
  RETURN_IF_ERROR(group_->BroadcastBytes(&trainer_state_json, /*root=*/0));
  const std::string state_path = absl::StrCat(dir, "/", kTrainerStateFile);
  ASSIGN_OR_RETURN(DecodedTrainerState decoded, DecodeTrainerState(trainer_state_json, state_path));
  try {
    RETURN_IF_ERROR(
        BroadcastTensorsInBuckets(*group_, Parameters(), /*root=*/0, options_.bucket_bytes));
    RETURN_IF_ERROR(BroadcastOptimizerState(*optimizer));
    SetOptimizerOptions(*optimizer, config.optimizer);
    if (!decoded.rng_state.empty()) SetCpuRngState(decoded.rng_state);
  } catch (const std::exception& e) {
    return StatusFromException(
        e, absl::StrCat("rank ", rank(), ": ", dir, ": restoring the checkpoint"));
  }
  optimizer_ = std::move(optimizer);
  spdlog::info("rank {}: resumed from {} (step {})", rank(), dir, decoded.state.step);
  return std::move(decoded.state);
}

std::vector<std::pair<std::string, torch::Tensor>> LearnerRank::NamedParameters() const {
  if (lm_ == nullptr) return {};
  return lm_->NamedParameters();
}

absl::Status LearnerRank::SaveModel(const std::string& dir) const {
  if (lm_ == nullptr) return absl::FailedPreconditionError("SaveModel: no model loaded");
  RETURN_IF_ERROR(lm_->Save(dir));
  return CopySourceFiles(dir, nullptr);
}

model::CausalLM& LearnerRank::model() { return *lm_; }

}  // namespace chord::learner
