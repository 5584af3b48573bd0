#pragma once

// Key/value cache for incremental decoding with CausalLM::Forward / CausalLM::Hidden.
//
// Layout: per layer, keys and values of shape [B, num_key_value_heads, capacity, head_dim] in the
// model's compute dtype, plus a key mask [B, capacity] (true = a real token, false = padding).
// All rows advance together one "slot" per input position, so a batch of prompts of different
// lengths is left-padded (padding slots are masked out forever). Each row also counts its real
// tokens, which gives the default position ids of the next tokens.
//
// Memory: 2 (K and V) x num_hidden_layers x B x num_key_value_heads x capacity x head_dim x
// sizeof(dtype) bytes, plus B x capacity bytes of mask. For example Qwen2.5-0.5B (24 layers,
// 2 KV heads, head_dim 64) in float32 needs 24 KiB per row and position: B = 32 rows of 512
// positions take 384 MiB. BytesPerPosition() gives the per-row, per-position figure.
//
// When a forward pass needs more than `capacity` positions the cache grows (to the larger of
// the need and capacity + max(capacity, 256)), copying what it holds; allocate the final size up
// front to avoid that. Not thread-safe: one forward pass at a time.

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/model/model_config.h"

namespace chord::model {

class KVCache {
 public:
  // An empty cache for `batch_size` rows with room for `capacity` positions, on `device` in
  // `dtype` (the model's compute dtype). RESOURCE_EXHAUSTED when the allocation fails.
  static absl::StatusOr<std::unique_ptr<KVCache>> Create(const ModelConfig& config,
                                                         int64_t batch_size, int64_t capacity,
                                                         torch::Dtype dtype,
                                                         torch::Device device = torch::kCPU);

  // Bytes of K+V per row and position for `config` in `dtype` (see the formula above).
  static int64_t BytesPerPosition(const ModelConfig& config, torch::Dtype dtype);

  int64_t batch_size() const { return batch_size_; }
  // Positions filled so far (the same for every row; padding included).
  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  // Bytes held by the K/V tensors and the mask.
  int64_t BytesAllocated() const;
  // [B] int64: real (unmasked) tokens seen per row.
  const torch::Tensor& real_tokens() const { return real_tokens_; }
  // [B, length()] bool: which filled positions hold real tokens.
  torch::Tensor KeyMask() const;

  // Empties the cache (keeps the allocation).
  void Reset();
  // Keeps rows `rows` (int64 indices into the current batch, in that order; repeats allowed), so
  // finished rows can be dropped and a prefilled prompt can be duplicated for several samples.
  // INVALID_ARGUMENT for an index out of range.
  absl::Status SelectRows(const torch::Tensor& rows);

  // ---- Used by the model's forward pass (a caller of CausalLM never needs these). ----
  // Starts a step of `mask.size(1)` new positions: grows if needed and records their mask
  // ([B, T], nonzero = real token). Returns the key mask of all positions [B, length + T].
  torch::Tensor BeginStep(const torch::Tensor& mask);
  // Stores layer `layer`'s new keys/values [B, kv_heads, T, head_dim] at the step's positions
  // and returns views of all keys/values [B, kv_heads, length + T, head_dim].
  std::pair<torch::Tensor, torch::Tensor> Update(int64_t layer, const torch::Tensor& keys,
                                                 const torch::Tensor& values);
  // Ends the step begun by BeginStep(mask): the new positions become part of the cache.
  void EndStep(const torch::Tensor& mask);

 private:
  KVCache() = default;
  void Grow(int64_t needed);

  int64_t batch_size_ = 0;
  int64_t capacity_ = 0;
  int64_t length_ = 0;
  std::vector<torch::Tensor> keys_;    // per layer [B, kv_heads, capacity, head_dim]
  std::vector<torch::Tensor> values_;  // per layer [B, kv_heads, capacity, head_dim]
  torch::Tensor key_mask_;             // [B, capacity] bool
  torch::Tensor real_tokens_;          // [B] int64
};

}  // namespace chord::model
