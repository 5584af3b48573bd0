#include "services/learner/adamw_state.h"

#include <ATen/ATen.h>

#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

namespace chord::learner {
namespace {

using StateMap = std::decay_t<decltype(std::declval<torch::optim::AdamW&>().state())>;
using StateKey = typename StateMap::key_type;

template <typename Key>
Key StateKeyOf(const at::Tensor& param) {
  if constexpr (std::is_same_v<Key, std::string>) {
    // What LibTorch 1.x uses: c10::guts::to_string(TensorImpl*), i.e. operator<< of the pointer.
    std::ostringstream out;
    out << static_cast<const void*>(param.unsafeGetTensorImpl());
    return out.str();
  } else {
    return static_cast<Key>(param.unsafeGetTensorImpl());
  }
}

}  // namespace

torch::optim::AdamWParamState* FindAdamWState(torch::optim::AdamW& optimizer,
                                              const at::Tensor& param) {
  auto it = optimizer.state().find(StateKeyOf<StateKey>(param));
  if (it == optimizer.state().end()) return nullptr;
  return static_cast<torch::optim::AdamWParamState*>(it->second.get());
}

torch::optim::AdamWParamState& GetOrCreateAdamWState(torch::optim::AdamW& optimizer,
                                                     const at::Tensor& param) {
  if (torch::optim::AdamWParamState* state = FindAdamWState(optimizer, param)) return *state;
  auto fresh = std::make_unique<torch::optim::AdamWParamState>();
  fresh->step(0);
  fresh->exp_avg(at::zeros_like(param, at::MemoryFormat::Contiguous));
  fresh->exp_avg_sq(at::zeros_like(param, at::MemoryFormat::Contiguous));
  torch::optim::AdamWParamState& ref = *fresh;
  optimizer.state()[StateKeyOf<StateKey>(param)] = std::move(fresh);
  return ref;
}

void EraseAdamWState(torch::optim::AdamW& optimizer, const at::Tensor& param) {
  optimizer.state().erase(StateKeyOf<StateKey>(param));
}

}  // namespace chord::learner
