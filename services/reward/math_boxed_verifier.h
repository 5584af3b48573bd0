#pragma once

// math_boxed: 1 when the last \boxed{...} of the response equals the reference answer after LaTeX
// normalisation (latex_normalize.h), else 0. The reference may itself contain a \boxed{} (a
// worked solution), in which case its last box is the reference answer.

#include "services/reward/verifier.h"

namespace chord::reward {

struct MathBoxedOptions {
  // Relative tolerance for answers compared as floating-point values (decimals, \sqrt, \pi).
  double rel_tolerance = 1e-6;
};

class MathBoxedVerifier final : public Verifier {
 public:
  explicit MathBoxedVerifier(MathBoxedOptions options = {}) : options_(options) {}

  VerifierResult Score(const ScoreInput& input) const override;
  // INVALID_ARGUMENT "reference: ..." when the reference answer is empty or over
  // kMaxAnswerBytes.
  absl::Status ValidateTask(const ScoreInput& input) const override;
  absl::string_view name() const override { return "math_boxed"; }
  absl::string_view description() const override {
    return "1 if the last \\boxed{} answer equals the reference (LaTeX-normalised; integers, "
           "decimals, fractions, \\sqrt, tuples and intervals; numeric tolerance), else 0";
  }

 private:
  MathBoxedOptions options_;
};

}  // namespace chord::reward
