#pragma once

// Whether two parsed math answers (latex_parser.h) mean the same thing, decided with a computer
// algebra system (GiNaC) and a random-point numeric check as a second opinion. The math_boxed
// verifier calls this only when its cheap comparisons (exact rationals, normalised text) cannot
// decide.
//
// Rules (docs/reward.md lists them with examples):
//   - expressions: equal when GiNaC normalises their difference to 0 (expand, normal; sec, csc,
//     cot, tan rewritten into sin and cos); otherwise when they agree at several random points
//     where both are defined (relative tolerance; points where either side is undefined or not
//     finite are skipped, and too few usable points is "not equal"). Constant expressions compare
//     exactly, or by value within 1e-10 relative when irrational; with a decimal literal on either
//     side, within `rel_tolerance`.
//   - equations: equal when (lhs - rhs) of one is a non-zero constant multiple of the other's.
//   - inequalities and chains: the same constraints up to a positive multiple; an inequality in
//     one variable also equals the interval (or union) it describes.
//   - tuples and intervals: brackets equal and elements equal in order; sets, unions and several
//     answers: the same elements in any order (duplicates ignored); matrices: same shape,
//     elements equal.
//   - `var = value`, `f(x) = value`, `(p, q) = (3, 2)`, `x \in S` are compared by their right
//     side when the other answer is not an equation; `x \approx v` only against a reference
//     without variables; `a \pm b` stands for the two answers a + b and a - b.
//
// Bounded: before GiNaC sees an expression, exponents over kMaxCasExponent, exact powers over
// kMaxCasPowerDigits digits, factorials over kMaxCasFactorial and expansions estimated at more
// than kMaxCasExpandedTerms terms are refused ("not equal" with the reason); normal() is not
// called on expressions of total degree over kMaxCasNormalDegree; no number may take more than
// kMaxCasNumberBytes (GiNaC's floating-point evaluation at a random point would otherwise compute
// exp of a tower of powers with gigabytes of digits: such a point counts as undefined, like a
// pole); and the comparison stops with
// "not equal" once `time_budget` is spent (checked between CAS steps and numeric points, so one
// step can overrun it; the limits above keep every step short). GiNaC's exceptions are caught here
// and become a verdict. GiNaC is not thread-safe (its reference counts are not atomic), so
// comparisons in one process run one at a time under an internal lock; the budget counts from when
// the lock is held.

#include <cstddef>
#include <string>

#include "absl/time/time.h"
#include "services/reward/latex_parser.h"

namespace chord::reward {

inline constexpr int kMaxCasExponent = 1000;
inline constexpr double kMaxCasPowerDigits = 5000;
inline constexpr int kMaxCasFactorial = 1000;
inline constexpr double kMaxCasExpandedTerms = 5000;
// Above this total degree GiNaC's normal() (polynomial gcds) is skipped: only expand() and the
// random points decide. normal() of a degree-1000 rational function in two variables ran for
// minutes.
inline constexpr double kMaxCasNormalDegree = 48;
// Largest block of memory one number of the CAS may take: about 2.5 million decimal digits, far
// beyond every exact value the limits above let through (kMaxCasPowerDigits).
inline constexpr size_t kMaxCasNumberBytes = size_t{1} << 20;

struct SymbolicOptions {
  // Relative tolerance for values when either side contains a decimal literal ("0.33"), and for
  // \approx answers.
  double rel_tolerance = 1e-6;
  // Most time one comparison may take once it holds the CAS lock.
  absl::Duration time_budget = absl::Milliseconds(200);
};

struct SymbolicVerdict {
  bool equal = false;
  // How it was decided, for the verifier's reason: "difference simplifies to 0",
  // "equal at 6 random points", "equation is 4 x the reference", "exponent too large" ...
  std::string how;
};

// Compares `response` with `reference`. Never throws; thread-safe (see above).
SymbolicVerdict CompareSymbolically(const ParsedAnswer& response, const ParsedAnswer& reference,
                                    const SymbolicOptions& options);

}  // namespace chord::reward
