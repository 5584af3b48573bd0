#include "services/reward/math_boxed_verifier.h"

#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/reward/latex_normalize.h"
#include "services/reward/latex_parser.h"
#include "services/reward/reason_text.h"
#include "services/reward/symbolic_equivalence.h"

namespace chord::reward {
namespace {

// The reference's answer: its last box when it has one, else the whole (trimmed) reference.
absl::string_view ReferenceAnswer(absl::string_view reference) {
  if (absl::StrContains(reference, "\\boxed") || absl::StrContains(reference, "\\fbox")) {
    std::optional<absl::string_view> boxed = ExtractLastBoxed(reference);
    if (boxed) return TrimWhitespace(*boxed);
  }
  return TrimWhitespace(reference);
}

}  // namespace

AnswerComparison MathBoxedVerifier::Compare(absl::string_view answer,
                                            absl::string_view reference) const {
  std::optional<absl::StatusOr<ParsedAnswer>> parsed_answer, parsed_reference;
  if (options_.units == UnitsPolicy::kMustMatch) {
    parsed_answer = ParseLatexAnswer(answer);
    parsed_reference = ParseLatexAnswer(reference);
    if (parsed_answer->ok() && parsed_reference->ok() &&
        (*parsed_answer)->unit != (*parsed_reference)->unit) {
      return {false, absl::StrCat("units ", Quote((*parsed_answer)->unit), " vs the reference's ",
                                  Quote((*parsed_reference)->unit))};
    }
  }
  AnswerComparison comparison = CompareNormalizedAnswers(
      NormalizeLatexAnswer(answer), NormalizeLatexAnswer(reference), options_.rel_tolerance);
  if (comparison.equal || comparison.decided || !options_.symbolic) return comparison;
  if (!parsed_answer) {
    parsed_answer = ParseLatexAnswer(answer);
    parsed_reference = ParseLatexAnswer(reference);
  }
  if (!parsed_answer->ok()) {
    return {false, absl::StrCat(comparison.how, "; the answer is not understood: ",
                                parsed_answer->status().message())};
  }
  if (!parsed_reference->ok()) {
    return {false, absl::StrCat(comparison.how, "; the reference is not understood: ",
                                parsed_reference->status().message())};
  }
  SymbolicOptions symbolic;
  symbolic.rel_tolerance = options_.rel_tolerance;
  symbolic.time_budget = options_.symbolic_time_budget;
  SymbolicVerdict verdict = CompareSymbolically(**parsed_answer, **parsed_reference, symbolic);
  return {verdict.equal, absl::StrCat("symbolic: ", verdict.how)};
}

absl::Status MathBoxedVerifier::ValidateTask(const ScoreInput& input) const {
  absl::string_view reference = ReferenceAnswer(input.reference);
  if (reference.empty()) return absl::InvalidArgumentError("reference: empty answer");
  if (reference.size() > kMaxAnswerBytes) {
    return absl::InvalidArgumentError(absl::StrCat("reference: answer of ", reference.size(),
                                                   " bytes is over the limit of ",
                                                   kMaxAnswerBytes));
  }
  return absl::OkStatus();
}

VerifierResult MathBoxedVerifier::Score(const ScoreInput& input) const {
  VerifierResult result;
  std::optional<absl::string_view> boxed = ExtractLastBoxed(input.response);
  if (!boxed) {
    result.reason = "no \\boxed{} answer found";
    return result;
  }
  absl::string_view answer = TrimWhitespace(*boxed);
  result.extracted = std::string(Utf8Prefix(answer, kMaxAnswerBytes));
  if (answer.empty()) {
    result.reason = "the last \\boxed{} is empty";
    return result;
  }
  if (answer.size() > kMaxAnswerBytes) {
    result.reason = absl::StrCat("the boxed answer of ", answer.size(),
                                 " bytes is over the limit of ", kMaxAnswerBytes);
    return result;
  }
  absl::string_view reference = ReferenceAnswer(input.reference);
  AnswerComparison comparison = Compare(answer, reference);
  result.correct = comparison.equal;
  result.score = comparison.equal ? 1.0 : 0.0;
  result.reason =
      absl::StrCat("extracted ", Quote(answer), comparison.equal ? " equals" : " does not equal",
                   " reference ", Quote(reference), " (", comparison.how, ")");
  return result;
}

}  // namespace chord::reward
