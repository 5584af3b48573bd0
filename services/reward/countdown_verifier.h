#pragma once

// countdown: 1 when the response gives an arithmetic expression that uses each of the task's
// numbers at most once and evaluates exactly to the target, else 0.
//
// The task's numbers and target come from, per field, the first source that has them:
//   1. meta_json: {"numbers": [..], "target": N} ("nums" is accepted for "numbers");
//   2. the reference: "numbers=1,2,3;target=10" (either part optional, brackets around the list
//      allowed), or a bare integer reference as the target;
//   3. the prompt: the first [..] integer list after the word "numbers", and the integer after
//      "equals", "equal to" or "target" ("Using the numbers [3, 5, 7], create an equation that
//      equals 22.").
// The expression is the content of the last <answer>...</answer>, else of the last \boxed{},
// else the last non-empty line. It may be written "expr", "expr = target" or "target = expr".
// It is parsed by a recursive-descent parser (integers, + - * /, unary minus, parentheses;
// \times, \cdot, ×, ÷ and \div are accepted) and evaluated with exact rationals and overflow
// checks: "7/2*2" is 7. Bounds: 512 bytes of expression, 32 levels of nesting, 64 numbers;
// meta_json's arrays and objects nest at most 64 levels.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/reward/verifier.h"

namespace chord::reward {

struct CountdownTask {
  std::vector<int64_t> numbers;
  int64_t target = 0;
};

// The task of `input` from meta_json, reference and prompt (see above). INVALID_ARGUMENT naming
// the field ("meta_json: ...", "reference: ...") when a source is malformed or nothing gives the
// numbers or the target.
absl::StatusOr<CountdownTask> ParseCountdownTask(const ScoreInput& input);

class CountdownVerifier final : public Verifier {
 public:
  VerifierResult Score(const ScoreInput& input) const override;
  // ParseCountdownTask's status.
  absl::Status ValidateTask(const ScoreInput& input) const override;
  absl::string_view name() const override { return "countdown"; }
  absl::string_view description() const override {
    return "1 if the answer expression uses the given numbers at most once each and evaluates "
           "exactly to the target, else 0 (numbers/target from meta_json, reference or prompt)";
  }
};

}  // namespace chord::reward
