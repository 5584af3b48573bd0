#pragma once

// The LibTorch modules of a Qwen2-family decoder (also Llama layouts). Parameter names follow
// Hugging Face exactly, so `named_parameters()` of Qwen2ForCausalLM yields
// "model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", ..., "model.norm.weight"
// and (untied) "lm_head.weight".
//
// Parameters are allocated uninitialised (torch::empty): the creator either loads weights or calls
// InitializeWeights. Most code should use CausalLM (causal_lm.h) instead of these modules.

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

#include "common/model/kv_cache.h"
#include "common/model/model_config.h"

namespace chord::model {

// y = x W^T (+ b). Like torch::nn::Linear but without its (costly, unwanted) initialisation.
class ProjectionImpl : public torch::nn::Module {
 public:
  ProjectionImpl(int64_t in_features, int64_t out_features, bool bias,
                 const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;  // [out, in]
  torch::Tensor bias;    // [out] or undefined
};
TORCH_MODULE(Projection);

// Root-mean-square layer norm computed in float32, as HF's Qwen2RMSNorm / LlamaRMSNorm.
class RmsNormImpl : public torch::nn::Module {
 public:
  RmsNormImpl(int64_t dim, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RmsNorm);

// Rotary position embedding tables for given positions: cos and sin of shape [B, 1, T, head_dim]
// in `dtype` (computed in float32 with the HF "rotate_half" layout).
struct Rotary {
  torch::Tensor cos;
  torch::Tensor sin;
};
Rotary ComputeRotary(const torch::Tensor& position_ids, int64_t head_dim, double theta,
                     torch::Dtype dtype);

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& config, int64_t layer_index,
                const torch::TensorOptions& options);
  // x [B, T, hidden]; additive_mask [B, 1, T, S] (0 or -inf), S = cached + T positions.
  torch::Tensor forward(const torch::Tensor& x, const Rotary& rotary,
                        const torch::Tensor& additive_mask, KVCache* cache);

  Projection q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t layer_index_;
  int64_t num_heads_;
  int64_t num_kv_heads_;
  int64_t head_dim_;
};
TORCH_MODULE(Attention);

// down_proj(silu(gate_proj(x)) * up_proj(x)).
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(const ModelConfig& config, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

  Projection gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const ModelConfig& config, int64_t layer_index,
                   const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const Rotary& rotary,
                        const torch::Tensor& additive_mask, KVCache* cache);

  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
  RmsNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(DecoderLayer);

// Token embedding (a module named "embed_tokens" holding "weight").
class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t vocab_size, int64_t dim, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& ids);

  torch::Tensor weight;  // [vocab, dim]
};
TORCH_MODULE(Embedding);

// The decoder stack ("model." in HF names): embeddings, layers, final norm.
class Qwen2ModelImpl : public torch::nn::Module {
 public:
  Qwen2ModelImpl(const ModelConfig& config, const torch::TensorOptions& options);
  // Final-normed hidden states [B, T, hidden]. attention_mask [B, T] (nonzero = real token;
  // undefined = all real) and position_ids [B, T] (undefined = real tokens numbered 0, 1, ... per
  // row, continuing after the cached ones); with a cache both describe only the new tokens.
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                        const torch::Tensor& position_ids, KVCache* cache);

  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RmsNorm norm{nullptr};

 private:
  ModelConfig config_;
};
TORCH_MODULE(Qwen2Model);

// The causal LM: decoder + LM head ("lm_head.weight", absent when tied to the embedding).
class Qwen2ForCausalLMImpl : public torch::nn::Module {
 public:
  Qwen2ForCausalLMImpl(const ModelConfig& config, const torch::TensorOptions& options);
  // The [vocab, hidden] matrix of the LM head (the embedding when tied).
  torch::Tensor LmHeadWeight() const;

  Qwen2Model model{nullptr};
  Projection lm_head{nullptr};  // null when tied
};
TORCH_MODULE(Qwen2ForCausalLM);

}  // namespace chord::model
