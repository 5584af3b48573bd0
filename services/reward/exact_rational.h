#pragma once

// Exact rational numbers over int64 with overflow checks, for verifiers that must compare answers
// exactly (math_boxed, countdown). Every operation that would overflow, or divide by zero, returns
// std::nullopt instead of a wrong value; callers then fall back (to doubles) or reject.

#include <cstdint>
#include <optional>
#include <string>

namespace chord::reward {

class Rational {
 public:
  // num/den reduced to lowest terms with a positive denominator. nullopt when den == 0 or a
  // component is INT64_MIN (whose negation overflows).
  static std::optional<Rational> Make(int64_t num, int64_t den = 1);

  int64_t num() const { return num_; }
  int64_t den() const { return den_; }
  bool is_integer() const { return den_ == 1; }
  double ToDouble() const { return static_cast<double>(num_) / static_cast<double>(den_); }
  // "3", "-3/4".
  std::string ToString() const;

  // Checked arithmetic: nullopt on overflow (and on division by zero for Div).
  std::optional<Rational> Add(const Rational& other) const;
  std::optional<Rational> Sub(const Rational& other) const;
  std::optional<Rational> Mul(const Rational& other) const;
  std::optional<Rational> Div(const Rational& other) const;
  std::optional<Rational> Negate() const { return Make(-num_, den_); }
  // this^exponent for an integer exponent (negative: reciprocal); nullopt on overflow, on
  // 0^negative, and for |exponent| > 4096.
  std::optional<Rational> Pow(int64_t exponent) const;
  // The exact square root when num and den are both perfect squares; nullopt otherwise.
  std::optional<Rational> ExactSqrt() const;

  bool operator==(const Rational& other) const { return num_ == other.num_ && den_ == other.den_; }
  bool operator!=(const Rational& other) const { return !(*this == other); }

 private:
  Rational(int64_t num, int64_t den) : num_(num), den_(den) {}
  int64_t num_;
  int64_t den_;
};

}  // namespace chord::reward
