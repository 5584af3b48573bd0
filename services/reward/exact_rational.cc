#include "services/reward/exact_rational.h"

#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace chord::reward {
namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// Largest r with r * r <= v (v >= 0).
int64_t IntegerSqrt(int64_t v) {
  int64_t r = static_cast<int64_t>(std::sqrt(static_cast<double>(v)));
  while (r > 0 && (r > v / r)) --r;  // r * r > v
  while ((r + 1) <= v / (r + 1)) ++r;
  return r;
}

}  // namespace

std::optional<Rational> Rational::Make(int64_t num, int64_t den) {
  if (den == 0 || num == kMin || den == kMin) return std::nullopt;
  if (den < 0) {
    num = -num;
    den = -den;
  }
  int64_t g = std::gcd(num, den);
  if (g > 1) {
    num /= g;
    den /= g;
  }
  return Rational(num, den);
}

std::string Rational::ToString() const {
  if (den_ == 1) return absl::StrCat(num_);
  return absl::StrCat(num_, "/", den_);
}

std::optional<Rational> Rational::Add(const Rational& other) const {
  // a/b + c/d = (a*(d/g) + c*(b/g)) / (b*(d/g)), g = gcd(b, d): keeps intermediates small.
  int64_t g = std::gcd(den_, other.den_);
  int64_t left, right, num, den;
  if (__builtin_mul_overflow(num_, other.den_ / g, &left) ||
      __builtin_mul_overflow(other.num_, den_ / g, &right) ||
      __builtin_add_overflow(left, right, &num) ||
      __builtin_mul_overflow(den_, other.den_ / g, &den)) {
    return std::nullopt;
  }
  return Make(num, den);
}

std::optional<Rational> Rational::Sub(const Rational& other) const {
  std::optional<Rational> negated = other.Negate();
  if (!negated) return std::nullopt;
  return Add(*negated);
}

std::optional<Rational> Rational::Mul(const Rational& other) const {
  // Cross-reduce first: (a/b) * (c/d) = ((a/g1) * (c/g2)) / ((b/g2) * (d/g1)).
  int64_t g1 = std::gcd(num_, other.den_);
  int64_t g2 = std::gcd(other.num_, den_);
  if (g1 == 0) g1 = 1;
  if (g2 == 0) g2 = 1;
  int64_t num, den;
  if (__builtin_mul_overflow(num_ / g1, other.num_ / g2, &num) ||
      __builtin_mul_overflow(den_ / g2, other.den_ / g1, &den)) {
    return std::nullopt;
  }
  return Make(num, den);
}

std::optional<Rational> Rational::Div(const Rational& other) const {
  if (other.num_ == 0) return std::nullopt;
  std::optional<Rational> reciprocal = Make(other.den_, other.num_);
  if (!reciprocal) return std::nullopt;
  return Mul(*reciprocal);
}

std::optional<Rational> Rational::Pow(int64_t exponent) const {
  if (exponent > 4096 || exponent < -4096) return std::nullopt;
  Rational base = *this;
  if (exponent < 0) {
    std::optional<Rational> reciprocal = Make(den_, num_);
    if (!reciprocal) return std::nullopt;
    base = *reciprocal;
    exponent = -exponent;
  }
  std::optional<Rational> result = Make(1);
  while (exponent > 0) {
    if (exponent & 1) {
      result = result->Mul(base);
      if (!result) return std::nullopt;
    }
    exponent >>= 1;
    if (exponent > 0) {
      std::optional<Rational> squared = base.Mul(base);
      if (!squared) return std::nullopt;
      base = *squared;
    }
  }
  return result;
}

std::optional<Rational> Rational::ExactSqrt() const {
  if (num_ < 0) return std::nullopt;
  int64_t n = IntegerSqrt(num_);
  int64_t d = IntegerSqrt(den_);
  if (n * n != num_ || d * d != den_) return std::nullopt;
  return Make(n, d);
}

}  // namespace chord::reward
