#include "common/model/qwen2_model.h"

#include <cmath>
#include <limits>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace chord::model {

ProjectionImpl::ProjectionImpl(int64_t in_features, int64_t out_features, bool with_bias,
                               const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}, options));
  if (with_bias) bias = register_parameter("bias", torch::empty({out_features}, options));
}

torch::Tensor ProjectionImpl::forward(const torch::Tensor& x) {
  return torch::linear(x, weight, bias);
}

RmsNormImpl::RmsNormImpl(int64_t dim, double eps_in, const torch::TensorOptions& options)
    : eps(eps_in) {
  weight = register_parameter("weight", torch::empty({dim}, options));
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
  const auto input_dtype = x.scalar_type();
  torch::Tensor h = x.to(torch::kFloat32);
  torch::Tensor variance = h.pow(2).mean(-1, /*keepdim=*/true);
  h = h * torch::rsqrt(variance + eps);
  return weight * h.to(input_dtype);
}

Rotary ComputeRotary(const torch::Tensor& position_ids, int64_t head_dim, double theta,
                     torch::Dtype dtype) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(position_ids.device());
  // inv_freq[i] = 1 / theta^(2i / head_dim), as transformers computes it (in float32).
  torch::Tensor exponents =
      torch::arange(0, head_dim, 2, f32.dtype(torch::kInt64)).to(torch::kFloat32) /
      static_cast<double>(head_dim);
  torch::Tensor inv_freq = 1.0 / torch::pow(torch::scalar_tensor(theta, f32), exponents);
  torch::Tensor freqs = position_ids.to(torch::kFloat32).unsqueeze(-1) * inv_freq;  // [B, T, D/2]
  torch::Tensor emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);                  // [B,1,T,D]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

namespace {

torch::Tensor RotateHalf(const torch::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

torch::Tensor ApplyRotary(const torch::Tensor& x, const Rotary& r) {
  return x * r.cos + RotateHalf(x) * r.sin;
}

}  // namespace

AttentionImpl::AttentionImpl(const ModelConfig& config, int64_t layer_index,
                             const torch::TensorOptions& options)
    : layer_index_(layer_index),
      num_heads_(config.num_attention_heads),
      num_kv_heads_(config.KvHeads()),
      head_dim_(config.HeadDim()) {
  const int64_t h = config.hidden_size;
  const bool bias = config.attention_bias;
  q_proj = register_module("q_proj", Projection(h, num_heads_ * head_dim_, bias, options));
  k_proj = register_module("k_proj", Projection(h, num_kv_heads_ * head_dim_, bias, options));
  v_proj = register_module("v_proj", Projection(h, num_kv_heads_ * head_dim_, bias, options));
  o_proj = register_module("o_proj", Projection(num_heads_ * head_dim_, h, false, options));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const Rotary& rotary,
                                     const torch::Tensor& additive_mask, KVCache* cache) {
  const int64_t batch = x.size(0);
  const int64_t steps = x.size(1);
  torch::Tensor q = q_proj(x).view({batch, steps, num_heads_, head_dim_}).transpose(1, 2);
  torch::Tensor k = k_proj(x).view({batch, steps, num_kv_heads_, head_dim_}).transpose(1, 2);
  torch::Tensor v = v_proj(x).view({batch, steps, num_kv_heads_, head_dim_}).transpose(1, 2);
  q = ApplyRotary(q, rotary);
  k = ApplyRotary(k, rotary);
  if (cache != nullptr) std::tie(k, v) = cache->Update(layer_index_, k, v);
  const int64_t keys = k.size(2);
  const int64_t groups = num_heads_ / num_kv_heads_;

  // Grouped-query attention without materialising repeated K/V: query head h uses KV head
  // h / groups (HF's repeat_kv order), so [B, H, T, D] is viewed as [B, KVH, groups * T, D].
  q = (q * (1.0 / std::sqrt(static_cast<double>(head_dim_))))
          .reshape({batch, num_kv_heads_, groups * steps, head_dim_});
  torch::Tensor scores =
      torch::matmul(q, k.transpose(-1, -2)).view({batch, num_heads_, steps, keys});
  scores = scores + additive_mask;
  torch::Tensor probs = torch::softmax(scores, -1, torch::kFloat32).to(x.scalar_type());
  torch::Tensor out =
      torch::matmul(probs.view({batch, num_kv_heads_, groups * steps, keys}), v);  // [B,KVH,gT,D]
  out = out.view({batch, num_heads_, steps, head_dim_})
            .transpose(1, 2)
            .reshape({batch, steps, num_heads_ * head_dim_});
  return o_proj(out);
}

MlpImpl::MlpImpl(const ModelConfig& config, const torch::TensorOptions& options) {
  const int64_t h = config.hidden_size;
  const int64_t i = config.intermediate_size;
  gate_proj = register_module("gate_proj", Projection(h, i, false, options));
  up_proj = register_module("up_proj", Projection(h, i, false, options));
  down_proj = register_module("down_proj", Projection(i, h, false, options));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& config, int64_t layer_index,
                                   const torch::TensorOptions& options) {
  self_attn = register_module("self_attn", Attention(config, layer_index, options));
  mlp = register_module("mlp", Mlp(config, options));
  input_layernorm =
      register_module("input_layernorm", RmsNorm(config.hidden_size, config.rms_norm_eps, options));
  post_attention_layernorm = register_module(
      "post_attention_layernorm", RmsNorm(config.hidden_size, config.rms_norm_eps, options));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const Rotary& rotary,
                                        const torch::Tensor& additive_mask, KVCache* cache) {
  torch::Tensor h = x + self_attn(input_layernorm(x), rotary, additive_mask, cache);
  return h + mlp(post_attention_layernorm(h));
}

EmbeddingImpl::EmbeddingImpl(int64_t vocab_size, int64_t dim, const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({vocab_size, dim}, options));
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) {
  return torch::embedding(weight, ids);
}

Qwen2ModelImpl::Qwen2ModelImpl(const ModelConfig& config, const torch::TensorOptions& options)
    : config_(config) {
  embed_tokens =
      register_module("embed_tokens", Embedding(config.vocab_size, config.hidden_size, options));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    layers->push_back(DecoderLayer(config, i, options));
  }
  norm = register_module("norm", RmsNorm(config.hidden_size, config.rms_norm_eps, options));
}

torch::Tensor Qwen2ModelImpl::forward(const torch::Tensor& input_ids,
                                      const torch::Tensor& attention_mask,
                                      const torch::Tensor& position_ids, KVCache* cache) {
  const int64_t batch = input_ids.size(0);
  const int64_t steps = input_ids.size(1);
  const auto device = input_ids.device();
  const torch::Tensor mask =
      attention_mask.defined()
          ? attention_mask.to(torch::kBool)
          : torch::ones({batch, steps}, torch::TensorOptions().dtype(torch::kBool).device(device));
  const int64_t past = cache != nullptr ? cache->length() : 0;

  torch::Tensor positions = position_ids;
  if (!positions.defined()) {
    // Real tokens are numbered 0, 1, ... per row, continuing after the cached ones.
    positions = mask.to(torch::kInt64).cumsum(1) - 1;
    if (cache != nullptr) positions = positions + cache->real_tokens().unsqueeze(1);
    positions = positions.clamp_min(0);
  }

  torch::Tensor key_mask = cache != nullptr ? cache->BeginStep(mask) : mask;  // [B, S]
  const int64_t keys = past + steps;
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(device);
  torch::Tensor q_pos = torch::arange(past, past + steps, i64).unsqueeze(1);  // [T, 1]
  torch::Tensor k_pos = torch::arange(keys, i64).unsqueeze(0);                // [1, S]
  // A query sees earlier (and its own) real positions. It always sees itself, so padding
  // queries get finite (ignored) outputs instead of NaN.
  torch::Tensor allowed = (k_pos <= q_pos).unsqueeze(0) & key_mask.unsqueeze(1);
  allowed = allowed | (k_pos == q_pos).unsqueeze(0);
  const auto dtype = embed_tokens->weight.scalar_type();
  torch::Tensor additive =
      torch::zeros({batch, 1, steps, keys}, torch::TensorOptions().dtype(dtype).device(device))
          .masked_fill(allowed.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());

  const Rotary rotary = ComputeRotary(positions, config_.HeadDim(), config_.rope_theta, dtype);
  torch::Tensor h = embed_tokens(input_ids);
  for (const auto& layer : *layers) {
    h = layer->as<DecoderLayerImpl>()->forward(h, rotary, additive, cache);
  }
  if (cache != nullptr) cache->EndStep(mask);
  return norm(h);
}

Qwen2ForCausalLMImpl::Qwen2ForCausalLMImpl(const ModelConfig& config,
                                           const torch::TensorOptions& options) {
  model = register_module("model", Qwen2Model(config, options));
  if (!config.tie_word_embeddings) {
    lm_head = register_module("lm_head",
                              Projection(config.hidden_size, config.vocab_size, false, options));
  }
}

torch::Tensor Qwen2ForCausalLMImpl::LmHeadWeight() const {
  return lm_head ? lm_head->weight : model->embed_tokens->weight;
}

}  // namespace chord::model
