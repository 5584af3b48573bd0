#pragma once

// CausalLM: the public face of the model library. A Qwen2-family causal language model (token
// embedding, RMSNorm, rotary embeddings, grouped-query attention with optional q/k/v bias, SwiGLU
// MLP, tied or untied LM head) that loads and saves Hugging Face model folders.
//
// Error handling: the factories, Save, LoadNamedTensors and Validate* return a Status and never
// throw. The hot paths (Forward, Hidden, Logits, TokenLogprobs) expect inputs that passed
// ValidateInputs and may throw c10::Error otherwise; Generate/ComputeLogprobs (generation.h) wrap
// them and return a Status.
//
// Thread safety: none. Use one CausalLM from one thread at a time (the rollout worker swaps
// weights between generation batches; the learner owns its copy).

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/model/kv_cache.h"
#include "common/model/model_config.h"
#include "common/model/qwen2_model.h"
#include "common/model/safetensors.h"

namespace chord::model {

struct LoadOptions {
  // Compute dtype of the parameters (weights stored as F32/BF16/F16 are converted to it).
  // Default float32.
  torch::Dtype dtype = torch::kFloat32;
  // Where the parameters live. Default CPU.
  torch::Device device = torch::kCPU;
};

struct SaveOptions {
  // dtype of the stored weights; unset = the compute dtype. config.json's torch_dtype follows.
  std::optional<torch::Dtype> dtype;
  // Shard above this many bytes (see WriteFolderOptions). Default 2 GB.
  uint64_t max_shard_bytes = 2'000'000'000ULL;
};

class CausalLM {
 public:
  // Loads a Hugging Face model folder: config.json (see model_config.h for what is accepted) and
  // the safetensors weights (model.safetensors or an index + shards, HF tensor names, any of
  // F32/BF16/F16). Errors name the file and the tensor: NOT_FOUND for a missing file or tensor,
  // INVALID_ARGUMENT for a bad config, a wrong shape, a non-float dtype or an unexpected tensor,
  // DATA_LOSS for a truncated or corrupt file. For a tied model a stored `lm_head.weight` is
  // ignored, as transformers does; so is a legacy `*.rotary_emb.inv_freq`.
  static absl::StatusOr<std::unique_ptr<CausalLM>> Load(const std::string& model_dir,
                                                        const LoadOptions& options = {});
  // A model with random weights initialised as transformers does (normal(0,
  // initializer_range) for projections and embeddings, 1 for norm weights, 0 for biases),
  // deterministic for `seed`: each parameter's values come from a counter-based stream keyed by
  // (seed, HF name), identical across LibTorch versions, devices and thread counts.
  static absl::StatusOr<std::unique_ptr<CausalLM>> CreateRandom(const ModelConfig& config,
                                                                uint64_t seed,
                                                                const LoadOptions& options = {});

  // Writes config.json and the safetensors weights (HF names) into `model_dir` (created if
  // needed; other files there, e.g. the tokenizer, are left alone). Each file is written
  // atomically.
  absl::Status Save(const std::string& model_dir) const { return Save(model_dir, SaveOptions()); }
  absl::Status Save(const std::string& model_dir, const SaveOptions& options) const;

  const ModelConfig& config() const { return config_; }
  torch::Dtype dtype() const { return options_.dtype; }
  torch::Device device() const { return options_.device; }

  // Checks the inputs of Forward/Hidden/TokenLogprobs: input_ids [B, T] int64 (or int32) with ids
  // in [0, vocab_size), B, T >= 1; attention_mask (optional) [B, T] of bool or an integer type;
  // position_ids (optional) [B, T] integer; cache (optional) with B rows. INVALID_ARGUMENT naming
  // the argument.
  absl::Status ValidateInputs(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                              const torch::Tensor& position_ids = {},
                              const KVCache* cache = nullptr) const;

  // Logits [B, T, V] float32 (on the model's device). attention_mask [B, T]: 1 = real token,
  // 0 = padding (left or right padding both work; outputs at padding positions are finite and
  // meaningless). position_ids [B, T], default: per-row cumulative count of real tokens - 1
  // (continuing after the cached tokens). With a cache, the inputs describe only the new tokens
  // and the cache remembers the earlier ones (see kv_cache.h).
  torch::Tensor Forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                        const torch::Tensor& position_ids = {}, KVCache* cache = nullptr);
  // The same pass without the LM head: final-normed hidden states [B, T, hidden] in the compute
  // dtype. Generation uses it to apply the LM head to the last position only.
  torch::Tensor Hidden(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                       const torch::Tensor& position_ids = {}, KVCache* cache = nullptr);
  // Applies the LM head to hidden states [..., hidden]: float32 logits [..., V].
  torch::Tensor Logits(const torch::Tensor& hidden);

  // log pi(token_t | tokens_<t) / temperature-scaled, for t in [1, T): returns [B, T-1] float32,
  // entry [b, t-1] for token t, i.e. log_softmax(logits[b, t-1] / temperature)[input_ids[b, t]].
  // Entries whose token or predecessor is padding are finite and meaningless (mask them). The
  // logits are never materialised for all positions at once (chunks; see token_logprobs.h), also
  // in the backward pass. Differentiable (the learner backpropagates through it) when grad mode
  // is on. If `entropy` is not null it receives the per-position entropy [B, T-1] of the same
  // distribution (also differentiable). Requires temperature > 0.
  torch::Tensor TokenLogprobs(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                              float temperature = 1.0f, torch::Tensor* entropy = nullptr);

  // HF tensor name -> parameter, in HF order (shared storage: writes change the model). For a
  // tied model there is no "lm_head.weight".
  std::vector<std::pair<std::string, torch::Tensor>> NamedParameters() const;
  // Copies `tensors` (HF names, any floating dtype, any device) into the parameters in place,
  // under NoGradGuard. Every parameter must be present with the right shape, and no unknown
  // name may appear (INVALID_ARGUMENT naming the tensor); nothing is modified when any check
  // fails. "lm_head.weight" is ignored for a tied model.
  absl::Status LoadNamedTensors(const std::vector<std::pair<std::string, torch::Tensor>>& tensors);

  // The underlying module, for optimizers (parameters()) and train()/eval().
  torch::nn::Module& module() { return *module_; }
  // Parameter bytes (in the compute dtype).
  int64_t ParameterBytes() const;

 private:
  CausalLM(const ModelConfig& config, const LoadOptions& options, Qwen2ForCausalLM module);

  ModelConfig config_;
  LoadOptions options_;
  Qwen2ForCausalLM module_;
};

}  // namespace chord::model
