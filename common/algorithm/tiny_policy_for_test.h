#pragma once

// Test-only: a tiny differentiable language model (embedding, prefix-mean context, tanh, linear
// head) in float64 with deterministic weights, implementing Policy. Two instances built with the
// same arguments are identical, which lets tests simulate ranks holding replicas of one model.

#include <ATen/ATen.h>

#include <vector>

#include "common/algorithm/train_step.h"

namespace chord::algorithm::testing {

class TinyPolicy final : public Policy {
 public:
  static constexpr int64_t kVocab = 13;
  static constexpr int64_t kHidden = 5;

  explicit TinyPolicy(double seed = 0.37) {
    auto values = [seed](int64_t n, double scale, double phase) {
      return (at::sin(at::arange(n, at::kDouble) * seed + phase) * scale);
    };
    embedding_ = values(kVocab * kHidden, 0.8, 0.1).reshape({kVocab, kHidden}).requires_grad_();
    head_ = values(kHidden * kVocab, 0.6, 1.3).reshape({kHidden, kVocab}).requires_grad_();
    bias_ = values(kVocab, 0.2, 2.9).requires_grad_();
  }

  at::Tensor TokenLogprobs(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                           at::Tensor* entropy) override {
    ++forward_calls_;
    const at::Tensor x = embedding_.index_select(0, input_ids.reshape({-1}))
                             .reshape({input_ids.size(0), input_ids.size(1), kHidden});
    // Context: mean of the embeddings up to and including each position (real tokens only).
    const at::Tensor m = attention_mask.to(at::kDouble).unsqueeze(2);
    const at::Tensor prefix = (x * m).cumsum(1) / m.cumsum(1).clamp_min(1.0);
    const at::Tensor h = at::tanh(x + prefix);
    const at::Tensor logits = at::matmul(h, head_) + bias_;
    const at::Tensor logprobs = at::log_softmax(logits, -1);
    const int64_t s = input_ids.size(1);
    const at::Tensor scored = logprobs.narrow(1, 0, s - 1);
    const at::Tensor next = input_ids.narrow(1, 1, s - 1).unsqueeze(2);
    if (entropy != nullptr) *entropy = -(scored.exp() * scored).sum(-1);
    return scored.gather(2, next).squeeze(2);
  }

  std::vector<at::Tensor> Parameters() override { return {embedding_, head_, bias_}; }

  int forward_calls() const { return forward_calls_; }

 private:
  at::Tensor embedding_;
  at::Tensor head_;
  at::Tensor bias_;
  int forward_calls_ = 0;
};

}  // namespace chord::algorithm::testing
