#pragma once

// The architecture hyper-parameters of a Qwen2-family decoder, read from and written to a Hugging
// Face `config.json` (Qwen2 and Llama key names).
//
// Only settings that the model implements are accepted: a config that asks for something else
// (rope_scaling, a non-SiLU activation, MLP biases, sliding-window attention, tensor-parallel
// pretraining_tp, dropout, an unknown model_type) is refused with INVALID_ARGUMENT naming the file
// and the key, never silently ignored. Keys that do not change the computation (use_cache,
// transformers_version, _name_or_path ...) are ignored.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace chord::model {

struct ModelConfig {
  // "qwen2" (q/k/v projections always biased) or "llama" (biases per `attention_bias`).
  std::string model_type = "qwen2";
  // Required (no default in a config.json): sizes of the vocabulary and of the layers.
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  // 0 means num_attention_heads (plain multi-head attention). Must divide num_attention_heads.
  int64_t num_key_value_heads = 0;
  // 0 means hidden_size / num_attention_heads. Must be even (rotary embeddings rotate pairs).
  int64_t head_dim = 0;
  // Informational (positions beyond it still work: RoPE is computed, not tabulated).
  int64_t max_position_embeddings = 32768;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  // When true the LM head reuses the token embedding and no `lm_head.weight` is stored.
  bool tie_word_embeddings = false;
  // Bias on q_proj/k_proj/v_proj (never on o_proj). Qwen2: always true. Llama: key
  // `attention_bias`, default false.
  bool attention_bias = true;
  // Standard deviation of the normal initialisation used by CausalLM::CreateRandom.
  double initializer_range = 0.02;
  // dtype the weights are stored in ("float32", "bfloat16" or "float16"); informational.
  std::string torch_dtype = "float32";
  std::optional<int64_t> bos_token_id;
  // `eos_token_id` may be an int or a list in config.json; empty when absent or null.
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id;

  // head_dim, or hidden_size / num_attention_heads when head_dim is 0.
  int64_t HeadDim() const;
  // num_key_value_heads, or num_attention_heads when it is 0.
  int64_t KvHeads() const;
  // Number of parameters (embedding counted once when tied).
  int64_t NumParameters() const;
  // Checks the invariants above; INVALID_ARGUMENT naming the offending key.
  absl::Status Validate() const;
  // HF-compatible config.json text (pretty-printed, with "architectures": ["Qwen2ForCausalLM"] or
  // ["LlamaForCausalLM"]) that Hugging Face transformers and ParseModelConfig both read back.
  std::string ToJson() const;
};

// Parses config.json text. `source` names the file in error messages. Refuses unsupported settings
// (see the top of this file) with INVALID_ARGUMENT "<source>: <key>: <why>".
absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json_text, absl::string_view source);

// Reads `path`, which is a config.json file or a model folder containing one. NOT_FOUND when
// absent.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);

}  // namespace chord::model
