#include "common/weights/weight_set.h"

#include "absl/strings/str_cat.h"

namespace chord::weights {

absl::StatusOr<chord::v1::DType> ToWireDType(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Float:
      return chord::v1::DTYPE_F32;
    case c10::ScalarType::BFloat16:
      return chord::v1::DTYPE_BF16;
    case c10::ScalarType::Half:
      return chord::v1::DTYPE_F16;
    case c10::ScalarType::Long:
      return chord::v1::DTYPE_I64;
    case c10::ScalarType::Int:
      return chord::v1::DTYPE_I32;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("dtype ", c10::toString(dtype),
                       " is not carried by weight streams (float32, bfloat16, float16, int64, "
                       "int32 are)"));
  }
}

absl::StatusOr<c10::ScalarType> FromWireDType(chord::v1::DType dtype) {
  switch (dtype) {
    case chord::v1::DTYPE_F32:
      return c10::ScalarType::Float;
    case chord::v1::DTYPE_BF16:
      return c10::ScalarType::BFloat16;
    case chord::v1::DTYPE_F16:
      return c10::ScalarType::Half;
    case chord::v1::DTYPE_I64:
      return c10::ScalarType::Long;
    case chord::v1::DTYPE_I32:
      return c10::ScalarType::Int;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported wire dtype ", static_cast<int>(dtype)));
  }
}

size_t WireDTypeSize(chord::v1::DType dtype) {
  switch (dtype) {
    case chord::v1::DTYPE_F32:
    case chord::v1::DTYPE_I32:
      return 4;
    case chord::v1::DTYPE_BF16:
    case chord::v1::DTYPE_F16:
      return 2;
    case chord::v1::DTYPE_I64:
      return 8;
    default:
      return 0;
  }
}

const char* WireDTypeName(chord::v1::DType dtype) {
  switch (dtype) {
    case chord::v1::DTYPE_F32:
      return "F32";
    case chord::v1::DTYPE_BF16:
      return "BF16";
    case chord::v1::DTYPE_F16:
      return "F16";
    case chord::v1::DTYPE_I64:
      return "I64";
    case chord::v1::DTYPE_I32:
      return "I32";
    default:
      return "?";
  }
}

}  // namespace chord::weights
