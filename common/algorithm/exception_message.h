#pragma once

// Internal (not installed): the text of an exception caught at this library's boundary, without
// the C++ backtrace that LibTorch appends to c10::Error messages.

#include <c10/util/Exception.h>

#include <exception>
#include <string>

namespace chord::algorithm::internal {

inline std::string ExceptionMessage(const std::exception& e) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&e)) {
    return torch_error->what_without_backtrace();
  }
  return e.what();
}

}  // namespace chord::algorithm::internal
