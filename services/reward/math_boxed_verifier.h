#pragma once

// math_boxed: 1 when the last \boxed{...} of the response equals the reference answer, else 0.
// The reference may itself contain a \boxed{} (a worked solution), in which case its last box is
// the reference answer.
//
// Two stages: the cheap comparison of normalised text and exact values (latex_normalize.h) decides
// numbers, fractions, roots, tuples and intervals of numbers; only what it cannot decide (algebra,
// equations, inequalities, sets, matrices, \pm, several answers) is parsed (latex_parser.h) and
// compared with the computer algebra system (symbolic_equivalence.h). docs/reward.md lists what
// is equal and what is not.

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/reward/latex_normalize.h"
#include "services/reward/verifier.h"

namespace chord::reward {

// What a unit written after the value ("5\text{ cm}", "3\,\mathrm{m}^2") means for the verdict.
enum class UnitsPolicy {
  // Units are dropped from both sides: "5\text{ cm}" equals "5" and "5\text{ m}".
  kIgnore,
  // The units must be the same text (spaces removed): "5\text{ cm}" equals "5\,\text{cm}" but
  // neither "5" nor "5\text{ m}".
  kMustMatch,
};

struct MathBoxedOptions {
  // Relative tolerance for answers compared as floating-point values (decimals, \sqrt, \pi,
  // \approx answers). Exact answers (integers, fractions) must be exactly equal.
  double rel_tolerance = 1e-6;
  // Whether answers the cheap rules cannot decide go to the computer algebra comparison.
  bool symbolic = true;
  // Most time one symbolic comparison may take (symbolic_equivalence.h).
  absl::Duration symbolic_time_budget = absl::Milliseconds(200);
  UnitsPolicy units = UnitsPolicy::kIgnore;
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
    return "1 if the last \\boxed{} answer equals the reference (LaTeX-normalised numbers, "
           "fractions, roots, tuples and intervals; algebra, equations, inequalities, sets and "
           "matrices with a computer algebra system), else 0";
  }

 private:
  // The verdict on one extracted answer against the reference answer.
  AnswerComparison Compare(absl::string_view answer, absl::string_view reference) const;

  MathBoxedOptions options_;
};

}  // namespace chord::reward
