#pragma once

// The think-format check behind the optional -0.1 penalty.
//
// A response that contains "<think>" or "</think>" must have exactly one "<think>", at its start
// (after optional whitespace), and exactly one "</think>" after it. A response with neither tag
// passes, unless `require_tags` is set (the reward service's --think_required flag), in which
// case it must have such a block too. Linear in the response; no allocation when it passes.

#include <string>

#include "absl/strings/string_view.h"

namespace chord::reward {

// The penalty added to a score when the check fails.
inline constexpr double kThinkFormatPenalty = -0.1;

struct ThinkFormatCheck {
  bool ok = true;
  // Why not, e.g. "2 <think> tags" or "</think> is missing".
  std::string problem;
};

ThinkFormatCheck CheckThinkFormat(absl::string_view response, bool require_tags);

}  // namespace chord::reward
