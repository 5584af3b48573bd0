#pragma once

// A named set of tensors at a policy version: what the learner publishes and a rollout worker
// installs. Tensors keep Hugging Face names ("model.layers.0.self_attn.q_proj.weight") and their
// order; the order is the order of the wire stream (see docs/weight-streaming.md).

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "chord/v1/common.pb.h"

namespace chord::weights {

struct WeightSet {
  // Monotonically increasing policy version (0 = the initial model folder); -1 = unset.
  int64_t version = -1;
  // (name, tensor) in stream order. at::Tensor is torch::Tensor. Supported dtypes: float32,
  // bfloat16, float16, int64, int32. Sets returned by the fetcher hold CPU contiguous tensors,
  // one allocation each.
  std::vector<std::pair<std::string, at::Tensor>> tensors;
};

// The wire dtype of a torch dtype. INVALID_ARGUMENT for dtypes the wire does not carry.
absl::StatusOr<chord::v1::DType> ToWireDType(c10::ScalarType dtype);

// The torch dtype of a wire dtype. INVALID_ARGUMENT for DTYPE_UNSPECIFIED and unknown values.
absl::StatusOr<c10::ScalarType> FromWireDType(chord::v1::DType dtype);

// Bytes per element of a wire dtype; 0 for DTYPE_UNSPECIFIED and unknown values.
size_t WireDTypeSize(chord::v1::DType dtype);

// The safetensors name of a wire dtype ("F32", "BF16", "F16", "I64", "I32"; "?" when unknown).
const char* WireDTypeName(chord::v1::DType dtype);

}  // namespace chord::weights
