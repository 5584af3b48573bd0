#pragma once

// Log-probabilities of given next tokens under softmax(hidden W^T / temperature), computed in row
// chunks so that at most `max_chunk_elements` logits exist at a time, in the forward pass and in
// the backward pass (which recomputes each chunk's logits instead of keeping them). For a large
// vocabulary this is the difference between keeping [N, V] float logits alive for autograd
// (N = 8k tokens x V = 152k is 5 GB) and keeping none.

#include <torch/types.h>

#include <cstdint>

namespace chord::model {

struct TokenLogprobsResult {
  // [N] float32: log softmax(z)[target], z = (hidden W^T) / temperature.
  torch::Tensor logprobs;
  // [N] float32 entropy -sum_v p_v log p_v of the same distribution; undefined unless asked.
  torch::Tensor entropy;
};

// hidden [N, H] and weight [V, H] share a floating dtype (logits are computed in it, then in
// float32); targets [N] int64 in [0, V); temperature > 0. Differentiable with respect to `hidden`
// and `weight` when grad mode is on and either requires grad (targets are not). Throws c10::Error
// on mismatched shapes (callers validate).
TokenLogprobsResult ChunkedTokenLogprobs(const torch::Tensor& hidden, const torch::Tensor& weight,
                                         const torch::Tensor& targets, double temperature,
                                         bool with_entropy,
                                         int64_t max_chunk_elements = int64_t{1} << 24);

}  // namespace chord::model
