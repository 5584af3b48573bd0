#include "common/model/causal_lm.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files/file_io.h"
#include "common/model/token_logprobs.h"
#include "common/status/status_macros.h"

namespace chord::model {
namespace {

std::string ShapeText(torch::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

bool IsFloating(torch::Dtype dtype) {
  return dtype == torch::kFloat32 || dtype == torch::kBFloat16 || dtype == torch::kFloat16 ||
         dtype == torch::kFloat64;
}

const char* DtypeConfigName(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kFloat16:
      return "float16";
    default:
      return "float32";
  }
}

absl::Status CheckComputeDtype(const LoadOptions& options) {
  if (options.dtype != torch::kFloat32 && options.dtype != torch::kBFloat16 &&
      options.dtype != torch::kFloat16) {
    return absl::InvalidArgumentError(absl::StrCat("LoadOptions.dtype: unsupported ",
                                                   c10::toString(options.dtype),
                                                   " (float32, bfloat16 or float16)"));
  }
  return absl::OkStatus();
}

// Tensors a checkpoint may hold that the model does not use.
bool IsIgnorableExtra(const std::string& name, const ModelConfig& config) {
  if (config.tie_word_embeddings && name == "lm_head.weight") return true;
  return absl::EndsWith(name, ".rotary_emb.inv_freq");
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Fills `data[0, n)` with normal(0, stddev) values from a counter-based stream keyed by
// (seed, name) (Box-Muller over SplitMix64): the same values whatever the LibTorch version, device,
// thread count or parameter order.
void SeededNormal(float* data, int64_t n, uint64_t seed, const std::string& name, double stddev) {
  uint64_t key = 0xcbf29ce484222325ULL;  // FNV-1a of the name
  for (unsigned char ch : name) key = (key ^ ch) * 0x100000001b3ULL;
  key = SplitMix64(key ^ SplitMix64(seed));
  const int64_t pairs = (n + 1) / 2;
  at::parallel_for(0, pairs, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const uint64_t a = SplitMix64(key + 2 * static_cast<uint64_t>(i));
      const uint64_t b = SplitMix64(key + 2 * static_cast<uint64_t>(i) + 1);
      const double u1 = (static_cast<double>(a >> 11) + 1.0) * (1.0 / 9007199254740992.0);
      const double u2 = static_cast<double>(b >> 11) * (1.0 / 9007199254740992.0);
      const double r = stddev * std::sqrt(-2.0 * std::log(u1));
      const double theta = 6.283185307179586 * u2;
      data[2 * i] = static_cast<float>(r * std::cos(theta));
      if (2 * i + 1 < n) data[2 * i + 1] = static_cast<float>(r * std::sin(theta));
    }
  });
}

}  // namespace

CausalLM::CausalLM(const ModelConfig& config, const LoadOptions& options, Qwen2ForCausalLM module)
    : config_(config), options_(options), module_(std::move(module)) {}

absl::StatusOr<std::unique_ptr<CausalLM>> CausalLM::Load(const std::string& model_dir,
                                                         const LoadOptions& options) {
  RETURN_IF_ERROR(CheckComputeDtype(options));
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(model_dir));
  ASSIGN_OR_RETURN(auto folder, SafetensorsFolder::Open(model_dir));
  const std::string& source = folder->description_file();
  try {
    torch::NoGradGuard no_grad;
    Qwen2ForCausalLM module(config,
                            torch::TensorOptions().dtype(options.dtype).device(options.device));
    std::unique_ptr<CausalLM> lm(new CausalLM(config, options, std::move(module)));
    auto params = lm->NamedParameters();
    std::map<std::string, torch::Tensor> expected(params.begin(), params.end());
    for (const std::string& name : folder->TensorNames()) {
      if (expected.count(name) == 0 && !IsIgnorableExtra(name, config)) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": unexpected tensor ", name, " (not a parameter of the model described by ",
            model_dir, "/config.json)"));
      }
    }
    for (auto& [name, param] : params) {
      const TensorInfo* info = folder->Find(name);
      if (info == nullptr) {
        return absl::NotFoundError(absl::StrCat(source, ": missing tensor ", name));
      }
      const SafetensorsFile* file = folder->FileOf(name);
      if (!IsFloating(info->dtype)) {
        return absl::InvalidArgumentError(absl::StrCat(file->path(), ": tensor ", name,
                                                       " has dtype ", info->dtype_name,
                                                       ", expected F32, BF16 or F16"));
      }
      if (torch::IntArrayRef(info->shape) != param.sizes()) {
        return absl::InvalidArgumentError(
            absl::StrCat(file->path(), ": tensor ", name, " has shape ", ShapeText(info->shape),
                         ", expected ", ShapeText(param.sizes()), " from config.json"));
      }
      ASSIGN_OR_RETURN(torch::Tensor stored, file->View(name));
      param.copy_(stored);
      file->ReleasePages(name);
    }
    return lm;
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat(model_dir, ": loading the model failed: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<std::unique_ptr<CausalLM>> CausalLM::CreateRandom(const ModelConfig& config,
                                                                 uint64_t seed,
                                                                 const LoadOptions& options) {
  RETURN_IF_ERROR(CheckComputeDtype(options));
  RETURN_IF_ERROR(config.Validate());
  try {
    torch::NoGradGuard no_grad;
    Qwen2ForCausalLM module(config,
                            torch::TensorOptions().dtype(options.dtype).device(options.device));
    std::unique_ptr<CausalLM> lm(new CausalLM(config, options, std::move(module)));
    for (auto& [name, param] : lm->NamedParameters()) {
      if (absl::EndsWith(name, "norm.weight")) {
        param.fill_(1.0);
      } else if (absl::EndsWith(name, ".bias")) {
        param.zero_();
      } else {
        // Straight into a float32 CPU parameter; through a temporary otherwise.
        const bool direct =
            param.scalar_type() == torch::kFloat32 && param.is_cpu() && param.is_contiguous();
        torch::Tensor values = direct ? param : torch::empty(param.sizes(), torch::kFloat32);
        SeededNormal(values.data_ptr<float>(), values.numel(), seed, name,
                     config.initializer_range);
        if (!direct) param.copy_(values);
      }
    }
    return lm;
  } catch (const c10::Error& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("creating a random model failed: ", e.what_without_backtrace()));
  }
}

absl::Status CausalLM::Save(const std::string& model_dir, const SaveOptions& options) const {
  const torch::Dtype dtype = options.dtype.value_or(options_.dtype);
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16 && dtype != torch::kFloat16) {
    return absl::InvalidArgumentError(
        absl::StrCat("SaveOptions.dtype: unsupported ", c10::toString(dtype)));
  }
  std::error_code ec;
  std::filesystem::create_directories(model_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(model_dir, ": cannot create folder: ", ec.message()));
  }
  NamedTensors tensors;
  try {
    torch::NoGradGuard no_grad;
    for (const auto& [name, param] : NamedParameters()) {
      tensors.emplace_back(name, param.detach().to(torch::kCPU, dtype));
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat(model_dir, ": converting weights failed: ", e.what_without_backtrace()));
  }
  WriteFolderOptions folder_options;
  folder_options.max_shard_bytes = options.max_shard_bytes;
  RETURN_IF_ERROR(WriteModelFolder(model_dir, tensors, folder_options));
  ModelConfig config = config_;
  config.torch_dtype = DtypeConfigName(dtype);
  return files::WriteFileAtomically(model_dir + "/config.json", config.ToJson());
}

absl::Status CausalLM::ValidateInputs(const torch::Tensor& input_ids,
                                      const torch::Tensor& attention_mask,
                                      const torch::Tensor& position_ids,
                                      const KVCache* cache) const {
  auto bad = [](absl::string_view what) { return absl::InvalidArgumentError(std::string(what)); };
  try {
    if (!input_ids.defined() || input_ids.dim() != 2 || input_ids.size(0) < 1 ||
        input_ids.size(1) < 1) {
      return bad(absl::StrCat("input_ids: expected shape [B, T] with B, T >= 1, got ",
                              input_ids.defined() ? ShapeText(input_ids.sizes()) : "undefined"));
    }
    if (input_ids.scalar_type() != torch::kInt64 && input_ids.scalar_type() != torch::kInt32) {
      return bad(absl::StrCat("input_ids: expected int64 or int32, got ",
                              c10::toString(input_ids.scalar_type())));
    }
    const int64_t lo = input_ids.min().item<int64_t>();
    const int64_t hi = input_ids.max().item<int64_t>();
    if (lo < 0 || hi >= config_.vocab_size) {
      return bad(absl::StrCat("input_ids: token id ", lo < 0 ? lo : hi, " outside [0, ",
                              config_.vocab_size, ")"));
    }
    auto check_shape = [&](const torch::Tensor& t, const char* name) -> absl::Status {
      if (!t.defined()) return absl::OkStatus();
      if (t.sizes() != input_ids.sizes()) {
        return bad(absl::StrCat(name, ": shape ", ShapeText(t.sizes()), " differs from input_ids ",
                                ShapeText(input_ids.sizes())));
      }
      if (t.is_floating_point() || t.is_complex()) {
        return bad(absl::StrCat(name, ": expected bool or an integer dtype, got ",
                                c10::toString(t.scalar_type())));
      }
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(check_shape(attention_mask, "attention_mask"));
    RETURN_IF_ERROR(check_shape(position_ids, "position_ids"));
    if (position_ids.defined() && position_ids.min().item<int64_t>() < 0) {
      return bad("position_ids: negative position");
    }
    if (cache != nullptr) {
      if (cache->batch_size() != input_ids.size(0)) {
        return bad(absl::StrCat("cache: holds ", cache->batch_size(), " rows, input_ids has ",
                                input_ids.size(0)));
      }
      if (cache->num_layers() != config_.num_hidden_layers) {
        return bad("cache: built for a different number of layers");
      }
    }
  } catch (const c10::Error& e) {
    return bad(absl::StrCat("invalid model inputs: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

torch::Tensor CausalLM::Hidden(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                               const torch::Tensor& position_ids, KVCache* cache) {
  const auto device = options_.device;
  return module_->model->forward(
      input_ids.to(device, torch::kInt64),
      attention_mask.defined() ? attention_mask.to(device) : attention_mask,
      position_ids.defined() ? position_ids.to(device, torch::kInt64) : position_ids, cache);
}

torch::Tensor CausalLM::Logits(const torch::Tensor& hidden) {
  return torch::matmul(hidden, module_->LmHeadWeight().t()).to(torch::kFloat32);
}

torch::Tensor CausalLM::Forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                const torch::Tensor& position_ids, KVCache* cache) {
  return Logits(Hidden(input_ids, attention_mask, position_ids, cache));
}

torch::Tensor CausalLM::TokenLogprobs(const torch::Tensor& input_ids,
                                      const torch::Tensor& attention_mask, float temperature,
                                      torch::Tensor* entropy) {
  TORCH_CHECK(temperature > 0, "TokenLogprobs: temperature must be > 0, got ", temperature);
  TORCH_CHECK(input_ids.dim() == 2 && input_ids.size(1) >= 2,
              "TokenLogprobs: input_ids must be [B, T] with T >= 2");
  const int64_t batch = input_ids.size(0);
  const int64_t steps = input_ids.size(1);
  torch::Tensor hidden = Hidden(input_ids, attention_mask);
  torch::Tensor h = hidden.narrow(1, 0, steps - 1).reshape({batch * (steps - 1), -1});
  torch::Tensor targets =
      input_ids.to(options_.device, torch::kInt64).narrow(1, 1, steps - 1).reshape({-1});
  TokenLogprobsResult r =
      ChunkedTokenLogprobs(h, module_->LmHeadWeight(), targets, temperature, entropy != nullptr);
  if (entropy != nullptr) *entropy = r.entropy.view({batch, steps - 1});
  return r.logprobs.view({batch, steps - 1});
}

std::vector<std::pair<std::string, torch::Tensor>> CausalLM::NamedParameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : module_->named_parameters(/*recurse=*/true)) {
    out.emplace_back(item.key(), item.value());
  }
  return out;
}

absl::Status CausalLM::LoadNamedTensors(
    const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  auto params = NamedParameters();
  std::map<std::string, torch::Tensor> by_name(params.begin(), params.end());
  std::map<std::string, const torch::Tensor*> given;
  for (const auto& [name, tensor] : tensors) {
    if (by_name.count(name) == 0) {
      if (IsIgnorableExtra(name, config_)) continue;
      return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": not a model parameter"));
    }
    if (!tensor.defined() || !IsFloating(tensor.scalar_type())) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor ", name, ": expected a floating-point tensor"));
    }
    if (tensor.sizes() != by_name[name].sizes()) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": shape ",
                                                     ShapeText(tensor.sizes()), ", expected ",
                                                     ShapeText(by_name[name].sizes())));
    }
    if (!given.emplace(name, &tensor).second) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": given twice"));
    }
  }
  for (const auto& [name, param] : params) {
    if (given.count(name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": missing"));
    }
  }
  try {
    torch::NoGradGuard no_grad;
    for (auto& [name, param] : params) param.copy_(*given[name]);
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("copying weights into the model failed: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

int64_t CausalLM::ParameterBytes() const {
  int64_t total = 0;
  for (const auto& [name, param] : NamedParameters()) total += param.nbytes();
  return total;
}

}  // namespace chord::model
