#pragma once

// A small, bounded evaluator for normalised math answers (the output of NormalizeLatexAnswer):
// numbers (integers, decimals), + - * / ^, parentheses and braces, implicit multiplication
// ("2\pi", "3\sqrt{2}", "2(1+x)" is not a number: variables fail), \frac{a}{b} (and \frac12),
// \sqrt{x}, \sqrt[n]{x}, \pi and a postfix percent sign (x% = x/100).
//
// Values are kept exact (rationals over int64) as long as possible and always also as a double;
// anything irrational (\pi, a square root of a non-square) or too large for int64 is inexact.
// Work is bounded: at most kMaxExpressionBytes of input, kMaxExpressionDepth levels of nesting,
// exact integer powers up to |4096|, and non-finite results are errors.

#include <cstddef>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/reward/exact_rational.h"

namespace chord::reward {

inline constexpr size_t kMaxExpressionBytes = 1024;
inline constexpr int kMaxExpressionDepth = 32;

struct MathValue {
  // The exact value, when known.
  std::optional<Rational> exact;
  // The value as a double; always set and finite.
  double approx = 0.0;
  // True when a decimal literal with a fractional part ("0.75", "3.0") took part: such answers
  // may be rounded, so they compare with a tolerance.
  bool has_decimal = false;
  // True when an irrational value took part (\pi, a root that is not exact). Without it and
  // without `exact`, the value is a rational too large for int64 and only `approx` is known.
  bool irrational = false;
};

// Evaluates `text`. INVALID_ARGUMENT (with the offset) when it is not a closed numeric expression
// (a variable, an unknown command, unbalanced brackets, division by zero, too deep or too long,
// a non-finite value).
absl::StatusOr<MathValue> EvaluateMathExpression(absl::string_view text);

// How two values compared.
enum class ValueMatch {
  kExactEqual,    // equal as exact rationals
  kNumericEqual,  // equal within the relative tolerance
  kNotEqual,
  kUnknown,  // rationals too large for int64 that a double cannot tell apart
};

// Equality of two answers' values. Exact values without decimals (integers, fractions, and
// anything built from them) must be exactly equal; when either side is inexact or contains a
// decimal literal, the values are equal when |a - b| <= rel_tolerance * max(|a|, |b|) (or
// |a - b| <= 1e-12). Rationals that overflowed int64 on both sides and are close as doubles are
// kUnknown (2^100 vs 2^100 + 1): exact arithmetic elsewhere must decide.
ValueMatch CompareMathValues(const MathValue& a, const MathValue& b, double rel_tolerance);

}  // namespace chord::reward
