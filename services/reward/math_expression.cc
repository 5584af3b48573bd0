#include "services/reward/math_expression.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace chord::reward {
namespace {

constexpr size_t kMaxNumberBytes = 400;
constexpr double kPi = 3.14159265358979323846;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

MathValue FromRational(const Rational& r) {
  MathValue v;
  v.exact = r;
  v.approx = r.ToDouble();
  return v;
}

// Recursive descent over:
//   expr    := term (('+' | '-') term)*
//   term    := signed (('*' | '/') signed | factor)*          (juxtaposition multiplies)
//   signed  := ('+' | '-') signed | power
//   power   := postfix ('^' exponent)?                          (right-associative)
//   exponent:= ('+' | '-')? (group | digit | command | '(' expr ')') ('^' exponent)?
//   postfix := primary '%'*
//   primary := number | '(' expr ')' | '{' expr '}' | '\frac' arg arg
//            | '\sqrt' ('[' expr ']')? arg | '\pi'
//   arg     := '{' expr '}' | '(' expr ')' | digit | command
// Every recursion passes through Enter(), which bounds the depth.
class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<MathValue> ParseAll() {
    absl::StatusOr<MathValue> value = ParseExpr();
    if (!value.ok()) return value;
    SkipSpaces();
    if (pos_ != text_.size()) return Error("unexpected character");
    return value;
  }

 private:
  // RAII guard for the nesting depth.
  class DepthGuard {
   public:
    explicit DepthGuard(int* depth) : depth_(depth) { ++*depth_; }
    ~DepthGuard() { --*depth_; }

   private:
    int* depth_;
  };

  absl::Status Error(absl::string_view what) const {
    std::string near = pos_ < text_.size() ? absl::StrCat(" '", text_.substr(pos_, 1), "'") : "";
    return absl::InvalidArgumentError(absl::StrCat(what, near, " at offset ", pos_));
  }

  void SkipSpaces() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }

  char Peek() {
    SkipSpaces();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  // True (and consumes it) when the next token is the command `\name` not followed by a letter.
  bool ConsumeCommand(absl::string_view name) {
    SkipSpaces();
    if (pos_ >= text_.size() || text_[pos_] != '\\') return false;
    absl::string_view rest = text_.substr(pos_ + 1);
    if (rest.substr(0, name.size()) != name) return false;
    size_t end = pos_ + 1 + name.size();
    if (end < text_.size() && absl::ascii_isalpha(static_cast<unsigned char>(text_[end]))) {
      return false;
    }
    pos_ = end;
    return true;
  }

  absl::StatusOr<MathValue> Finite(MathValue v) const {
    if (!std::isfinite(v.approx)) return Error("value out of range");
    return v;
  }

  absl::StatusOr<MathValue> ParseExpr() {
    DepthGuard guard(&depth_);
    if (depth_ > kMaxExpressionDepth) return Error("nested too deeply");
    absl::StatusOr<MathValue> left = ParseTerm();
    if (!left.ok()) return left;
    while (true) {
      char c = Peek();
      if (c != '+' && c != '-') return left;
      ++pos_;
      absl::StatusOr<MathValue> right = ParseTerm();
      if (!right.ok()) return right;
      left = Combine(*left, *right, c);
      if (!left.ok()) return left;
    }
  }

  absl::StatusOr<MathValue> ParseTerm() {
    absl::StatusOr<MathValue> left = ParseSigned();
    if (!left.ok()) return left;
    while (true) {
      char c = Peek();
      absl::StatusOr<MathValue> right;
      char op = '*';
      if (c == '*' || c == '/') {
        op = c;
        ++pos_;
        right = ParseSigned();
      } else if (c == '(' || c == '{' || c == '\\' || IsDigit(c) || c == '.') {
        right = ParsePower();  // implicit multiplication
      } else {
        return left;
      }
      if (!right.ok()) return right;
      left = Combine(*left, *right, op);
      if (!left.ok()) return left;
    }
  }

  absl::StatusOr<MathValue> ParseSigned() {
    DepthGuard guard(&depth_);
    if (depth_ > kMaxExpressionDepth) return Error("nested too deeply");
    char c = Peek();
    if (c == '+' || c == '-') {
      ++pos_;
      absl::StatusOr<MathValue> operand = ParseSigned();
      if (!operand.ok() || c == '+') return operand;
      MathValue v = *operand;
      v.approx = -v.approx;
      if (v.exact) v.exact = v.exact->Negate();
      return v;
    }
    return ParsePower();
  }

  absl::StatusOr<MathValue> ParsePower() {
    absl::StatusOr<MathValue> base = ParsePostfix();
    if (!base.ok()) return base;
    if (Peek() != '^') return base;
    ++pos_;
    absl::StatusOr<MathValue> exponent = ParseExponent();
    if (!exponent.ok()) return exponent;
    return Power(*base, *exponent);
  }

  absl::StatusOr<MathValue> ParseExponent() {
    DepthGuard guard(&depth_);
    if (depth_ > kMaxExpressionDepth) return Error("nested too deeply");
    char c = Peek();
    bool negative = false;
    if (c == '+' || c == '-') {
      negative = c == '-';
      ++pos_;
      c = Peek();
    }
    absl::StatusOr<MathValue> value;
    if (c == '(') {
      ++pos_;
      value = ParseExpr();
      if (value.ok() && Peek() != ')') return Error("expected ')'");
      ++pos_;
    } else {
      value = ParseArg();
    }
    if (!value.ok()) return value;
    if (Peek() == '^') {
      ++pos_;
      absl::StatusOr<MathValue> next = ParseExponent();
      if (!next.ok()) return next;
      value = Power(*value, *next);
      if (!value.ok()) return value;
    }
    if (negative) {
      value->approx = -value->approx;
      if (value->exact) value->exact = value->exact->Negate();
    }
    return value;
  }

  absl::StatusOr<MathValue> ParsePostfix() {
    absl::StatusOr<MathValue> value = ParsePrimary();
    if (!value.ok()) return value;
    while (Peek() == '%') {
      ++pos_;
      static const Rational kHundred = *Rational::Make(100);
      if (value->exact) value->exact = value->exact->Div(kHundred);
      value->approx /= 100.0;
    }
    return value;
  }

  // A '{' expr '}' or '(' expr ')' group, one digit, or a command primary (\pi, \frac..).
  absl::StatusOr<MathValue> ParseArg() {
    char c = Peek();
    if (c == '{') return ParseGroup('{', '}');
    if (c == '(') return ParseGroup('(', ')');
    if (IsDigit(c)) {
      ++pos_;
      return FromRational(*Rational::Make(c - '0'));
    }
    if (c == '\\') return ParsePrimary();
    return Error("expected an argument");
  }

  absl::StatusOr<MathValue> ParseGroup(char open, char close) {
    if (Peek() != open) return Error(absl::StrCat("expected '", std::string(1, open), "'"));
    ++pos_;
    absl::StatusOr<MathValue> value = ParseExpr();
    if (!value.ok()) return value;
    if (Peek() != close) return Error(absl::StrCat("expected '", std::string(1, close), "'"));
    ++pos_;
    return value;
  }

  absl::StatusOr<MathValue> ParsePrimary() {
    DepthGuard guard(&depth_);
    if (depth_ > kMaxExpressionDepth) return Error("nested too deeply");
    char c = Peek();
    if (IsDigit(c) || c == '.') return ParseNumber();
    if (c == '(') return ParseGroup('(', ')');
    if (c == '{') return ParseGroup('{', '}');
    if (c != '\\') return Error(c == '\0' ? "unexpected end" : "not a number");
    if (ConsumeCommand("frac")) {
      absl::StatusOr<MathValue> num = ParseArg();
      if (!num.ok()) return num;
      absl::StatusOr<MathValue> den = ParseArg();
      if (!den.ok()) return den;
      return Combine(*num, *den, '/');
    }
    if (ConsumeCommand("sqrt")) {
      std::optional<MathValue> index;
      if (Peek() == '[') {
        absl::StatusOr<MathValue> parsed = ParseGroup('[', ']');
        if (!parsed.ok()) return parsed;
        index = *parsed;
      }
      absl::StatusOr<MathValue> radicand = ParseArg();
      if (!radicand.ok()) return radicand;
      return Root(*radicand, index);
    }
    if (ConsumeCommand("pi")) {
      MathValue v;
      v.approx = kPi;
      v.irrational = true;
      return v;
    }
    return Error("unknown command");
  }

  absl::StatusOr<MathValue> ParseNumber() {
    size_t start = pos_;
    int64_t digits_value = 0;
    int digit_count = 0;
    int fraction_digits = 0;
    bool seen_point = false;
    bool exact_ok = true;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '.' && !seen_point) {
        // "5." followed by a non-digit is not a decimal point of this number.
        if (pos_ + 1 >= text_.size() || !IsDigit(text_[pos_ + 1])) break;
        seen_point = true;
        ++pos_;
        continue;
      }
      if (!IsDigit(c)) break;
      if (digit_count > 0 || c != '0') ++digit_count;
      if (digit_count > 18) exact_ok = false;
      if (exact_ok) digits_value = digits_value * 10 + (c - '0');
      if (seen_point) ++fraction_digits;
      ++pos_;
      if (pos_ - start > kMaxNumberBytes) return Error("number too long");
    }
    if (pos_ == start) return Error("expected a number");
    MathValue v;
    v.has_decimal = seen_point;
    std::string literal(text_.substr(start, pos_ - start));
    v.approx = std::strtod(literal.c_str(), nullptr);
    if (exact_ok && fraction_digits <= 18) {
      int64_t scale = 1;
      for (int i = 0; i < fraction_digits; ++i) scale *= 10;
      v.exact = Rational::Make(digits_value, scale);
    }
    return Finite(v);
  }

  absl::StatusOr<MathValue> Combine(const MathValue& a, const MathValue& b, char op) {
    MathValue v;
    v.has_decimal = a.has_decimal || b.has_decimal;
    v.irrational = a.irrational || b.irrational;
    switch (op) {
      case '+':
        v.approx = a.approx + b.approx;
        if (a.exact && b.exact) v.exact = a.exact->Add(*b.exact);
        break;
      case '-':
        v.approx = a.approx - b.approx;
        if (a.exact && b.exact) v.exact = a.exact->Sub(*b.exact);
        break;
      case '*':
        v.approx = a.approx * b.approx;
        if (a.exact && b.exact) v.exact = a.exact->Mul(*b.exact);
        break;
      default:
        if (b.approx == 0.0 || (b.exact && b.exact->num() == 0)) return Error("division by zero");
        v.approx = a.approx / b.approx;
        if (a.exact && b.exact) v.exact = a.exact->Div(*b.exact);
        break;
    }
    return Finite(v);
  }

  absl::StatusOr<MathValue> Power(const MathValue& base, const MathValue& exponent) {
    MathValue v;
    v.has_decimal = base.has_decimal || exponent.has_decimal;
    v.irrational = base.irrational || exponent.irrational;
    if (base.exact && exponent.exact) {
      const Rational& e = *exponent.exact;
      if (e.is_integer()) {
        v.exact = base.exact->Pow(e.num());
      } else {
        if (e.den() == 2) {
          std::optional<Rational> root = base.exact->ExactSqrt();
          if (root) v.exact = root->Pow(e.num());
        }
        if (!v.exact) v.irrational = true;
      }
    } else if (!exponent.exact) {
      v.irrational = true;
    }
    if (base.approx == 0.0 && exponent.approx < 0) return Error("division by zero");
    v.approx = std::pow(base.approx, exponent.approx);
    return Finite(v);
  }

  absl::StatusOr<MathValue> Root(const MathValue& radicand, const std::optional<MathValue>& index) {
    MathValue v;
    v.has_decimal = radicand.has_decimal;
    v.irrational = radicand.irrational;
    int64_t n = 2;
    if (index) {
      if (!index->exact || !index->exact->is_integer() || index->exact->num() < 2 ||
          index->exact->num() > 64) {
        return Error("root index must be an integer from 2 to 64");
      }
      n = index->exact->num();
    }
    if (radicand.approx < 0 && n % 2 == 0) return Error("square root of a negative number");
    if (n == 2 && radicand.exact) v.exact = radicand.exact->ExactSqrt();
    if (!v.exact) v.irrational = true;
    double magnitude = std::pow(std::fabs(radicand.approx), 1.0 / static_cast<double>(n));
    v.approx = radicand.approx < 0 ? -magnitude : magnitude;
    return Finite(v);
  }

  absl::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

absl::StatusOr<MathValue> EvaluateMathExpression(absl::string_view text) {
  if (text.size() > kMaxExpressionBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expression of ", text.size(), " bytes is over the limit of ", kMaxExpressionBytes));
  }
  if (text.empty()) return absl::InvalidArgumentError("empty expression");
  return Parser(text).ParseAll();
}

ValueMatch CompareMathValues(const MathValue& a, const MathValue& b, double rel_tolerance) {
  if (a.exact && b.exact) {
    if (*a.exact == *b.exact) return ValueMatch::kExactEqual;
    if (!a.has_decimal && !b.has_decimal) return ValueMatch::kNotEqual;
  }
  double diff = std::fabs(a.approx - b.approx);
  double scale = std::max(std::fabs(a.approx), std::fabs(b.approx));
  bool close = diff <= rel_tolerance * scale || diff <= 1e-12;
  bool rational_only = !a.has_decimal && !b.has_decimal && !a.irrational && !b.irrational;
  if (close && rational_only && (!a.exact || !b.exact)) return ValueMatch::kUnknown;
  if (close) return ValueMatch::kNumericEqual;
  return ValueMatch::kNotEqual;
}

}  // namespace chord::reward
