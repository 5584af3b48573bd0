#pragma once

// arithmetic: 1 when the response's final integer answer equals the reference integer exactly.
//
// The answer is taken from, in order (the first that applies wins):
//   1. the last complete \boxed{...} (LaTeX-normalised, e.g. "\$1,234" -> "1234");
//   2. the number after the last "####" (GSM8K style);
//   3. the number after the last "answer:" / "answer is" / "answer =" (any case), or after a
//      final "=" that ends the response ("... = 42.");
//   4. the last number in the response.
// Numbers may carry a leading '+' or '-', leading zeros and thousands separators ("1,234");
// a decimal ("42.0", "3.5") is not an integer and scores 0. The reference is an integer in the
// same spelling, or a worked solution ending in "#### N".

#include "services/reward/verifier.h"

namespace chord::reward {

class ArithmeticVerifier final : public Verifier {
 public:
  VerifierResult Score(const ScoreInput& input) const override;
  // INVALID_ARGUMENT "reference: ..." when the reference is not an integer.
  absl::Status ValidateTask(const ScoreInput& input) const override;
  absl::string_view name() const override { return "arithmetic"; }
  absl::string_view description() const override {
    return "1 if the final integer answer (\\boxed{}, ####, 'answer:', '= N' or the last number) "
           "equals the reference integer exactly, else 0";
  }
};

}  // namespace chord::reward
