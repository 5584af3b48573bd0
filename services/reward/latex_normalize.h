#pragma once

// Normalisation and comparison of LaTeX math answers (the math_boxed verifier's rules; the
// exact list is in docs/reward.md).
//
// NormalizeLatexAnswer rewrites an answer into a canonical text form:
//   - `$`, whitespace, `~`, `\!`, `\,`, `\;`, `\:`, `\ `, `\\`, `\left`, `\right`,
//     `\displaystyle`, `\big`.., `\quad` are dropped; `\dfrac`/`\tfrac`/`\cfrac` become `\frac`;
//     `\cdot`/`\times` become `*`, `\div` `/`, `\le`/`\ge`/`\ne` `\leq`/`\geq`/`\neq`;
//   - `\text{..}`, `\textbf{..}`, `\mathrm{..}`, `\mbox{..}` (and similar) are replaced by their
//     content, except a trailing one after a number, which is a unit and is dropped
//     ("5\text{ cm}" -> "5");
//   - degrees (`^\circ`, `^{\circ}`), `\%` -> `%`, `{,}` -> `,`;
//   - Unicode π √ − × ÷ · ∞ ≤ ≥ ≠ become their LaTeX forms;
//   - a trailing period, a leading assignment `x=` (one variable, optionally subscripted, when it
//     is the only `=`), and braces around the whole answer are removed;
//   - an answer that is one number with thousands separators ("1,234,567") loses the commas.
// CompareNormalizedAnswers then compares two normalised answers: text equality, tuples and
// intervals element by element in order (the brackets must match), integers digit for digit, and
// other numeric expressions by value (exact, or within a relative tolerance; see
// math_expression.h). It is the fast path of math_boxed: what it cannot decide goes to the
// symbolic comparison (symbolic_equivalence.h).

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace chord::reward {

// The content of the last complete `\boxed{...}` (or `\fbox{...}`) in `text`, braces matched with
// nesting and `\{` `\}` escapes; "last" is the one that opens last, so a nested box yields the
// inner one. `\boxed 42` (a space, no brace) yields the token up to the next space or `$`. An
// unclosed box is skipped. nullopt when there is none. One pass, O(text.size()).
std::optional<absl::string_view> ExtractLastBoxed(absl::string_view text);

// True for [+-]?[0-9]+ (no separators, no decimal point).
bool IsIntegerLiteral(absl::string_view text);

// True when `text` is one number written with thousands separators, as
// ^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$ matches: "1,000", "-12,345.5"; not "1,00" or "1000".
bool IsThousandsSeparatedNumber(absl::string_view text);

// The canonical spelling of an integer literal: no '+', no leading zeros, "-0" -> "0".
// Precondition: IsIntegerLiteral(text).
std::string CanonicalInteger(absl::string_view text);

// Longest answer (in bytes, before normalisation) that is normalised and compared.
inline constexpr size_t kMaxAnswerBytes = 1024;

// The canonical form of `answer` (see above). Linear in the input; inputs longer than
// kMaxAnswerBytes are normalised only in their first kMaxAnswerBytes.
std::string NormalizeLatexAnswer(absl::string_view answer);

struct AnswerComparison {
  bool equal = false;
  // How they compared: "same text after normalisation", "equal exact values",
  // "equal within tolerance 1e-06", "element 2 of 3 differs", "bracket ( vs [" ...
  std::string how;
  // False when `equal` is false only because these cheap rules do not understand the answers
  // (variables, text, brackets or element counts that differ, lists in another order): a
  // symbolic comparison may still find them equal. Always true when `equal` is true.
  bool decided = true;
};

// Compares two normalised answers (see the header comment). Bounded work.
AnswerComparison CompareNormalizedAnswers(absl::string_view response, absl::string_view reference,
                                          double rel_tolerance);

}  // namespace chord::reward
