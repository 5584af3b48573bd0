#pragma once

// Internal (not installed): this library's name for the shared exception text helper
// (common/status/exception_status.h), without the C++ backtrace LibTorch appends to c10::Error.

#include "common/status/exception_status.h"

namespace chord::algorithm::internal {

using ::chord::ExceptionMessage;

}  // namespace chord::algorithm::internal
