#pragma once

// The one place a caught exception becomes a Status. Our code throws nothing; LibTorch (c10::Error)
// and a few libraries do, and the modules that call them catch at their boundary:
//
//   try {
//     optimizer.step();
//   } catch (const std::exception& e) {
//     return StatusFromException(e, absl::StrCat(dir, ": restoring the checkpoint"));
//   }
//
// Header-only: it names c10::Error, so only code that already builds against LibTorch includes it.

#include <c10/util/Exception.h>

#include <exception>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace chord {

// The exception's text; for LibTorch's c10::Error without the C++ backtrace it appends.
inline std::string ExceptionMessage(const std::exception& e) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&e)) {
    return torch_error->what_without_backtrace();
  }
  return e.what();
}

// A `code` status (INTERNAL by default) "<context>: <exception text>".
inline absl::Status StatusFromException(const std::exception& e, absl::string_view context,
                                        absl::StatusCode code = absl::StatusCode::kInternal) {
  return absl::Status(code, absl::StrCat(context, ": ", ExceptionMessage(e)));
}

}  // namespace chord
