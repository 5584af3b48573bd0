#pragma once

// Per-parameter AdamW state (step count, first and second moments) looked up by parameter, in a
// way that compiles against LibTorch 1.x (state keyed by the TensorImpl address as a string) and
// 2.x (keyed by the pointer). The learner rank broadcasts this state after a checkpoint load;
// tests compare it.

#include <ATen/core/Tensor.h>
#include <torch/optim/adamw.h>

namespace chord::learner {

// The state of `param` in `optimizer`, or nullptr when the optimizer has none for it yet (before
// its first step).
torch::optim::AdamWParamState* FindAdamWState(torch::optim::AdamW& optimizer,
                                              const at::Tensor& param);

// The state of `param`, created (step 0, zero moments shaped like `param`) when missing.
torch::optim::AdamWParamState& GetOrCreateAdamWState(torch::optim::AdamW& optimizer,
                                                     const at::Tensor& param);

// Drops the state of `param` (no-op when there is none).
void EraseAdamWState(torch::optim::AdamW& optimizer, const at::Tensor& param);

}  // namespace chord::learner
