#include "services/reward/symbolic_equivalence.h"

#include <cln/malloc.h>
#include <ginac/ginac.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdlib>
#include <exception>
#include <map>
#include <new>
#include <optional>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"

namespace chord::reward {
namespace {

using GiNaC::ex;
using GiNaC::ex_to;
using GiNaC::is_a;
using GiNaC::numeric;

// Tolerance for constants without decimals whose exact difference GiNaC cannot reduce to a
// number (sqrt(2) sqrt(3) vs sqrt(6)).
constexpr double kIrrationalTolerance = 1e-10;
// Tolerance of the random-point check for expressions without decimals.
constexpr double kPointTolerance = 1e-8;
// Random points: tried, needed to agree, and needed at all for a verdict.
constexpr int kPointAttempts = 14;
constexpr int kPointsWanted = 6;
constexpr int kMinPointsUsed = 3;
// Random coordinates are drawn from +-[kPointMin, kPointMid] and +-[kPointMid, kPointMax] in
// turn: near 1 high and low powers weigh alike, so neither hides behind the other within the
// tolerance (x^40 + x vs x^40 + 2x differ at x = 0.5, not at x = 2).
constexpr double kPointMin = 0.3;
constexpr double kPointMid = 1.0;
constexpr double kPointMax = 2.3;
// Largest |argument| of a trigonometric function: beyond it double precision says nothing.
constexpr double kMaxTrigArgument = 1e6;
// Fixed seed: the same pair always gets the same verdict.
constexpr uint32_t kPointSeed = 20240615;
// Most answers in a list or set, and answers one \pm expansion may produce.
constexpr size_t kMaxElements = 32;
constexpr size_t kMaxPlusMinusExpansions = 8;

// GiNaC keeps non-atomic reference counts on shared objects: one comparison at a time.
absl::Mutex& CasMutex() {
  static absl::Mutex* mu = new absl::Mutex();
  return *mu;
}

// CLN (GiNaC's number library) allocates every number through cln::malloc_hook. A refused block
// must be thrown: CLN has no other way to fail an allocation (its own hook throws when malloc
// fails). The exception never leaves this file: CompareSymbolically and Value catch it.
void* BoundedClnAllocate(size_t size) {
  if (size > kMaxCasNumberBytes) {
    throw std::length_error(
        absl::StrCat("a number of ", size, " bytes exceeds the limit of ", kMaxCasNumberBytes));
  }
  void* block = std::malloc(size);
  if (block == nullptr) throw std::bad_alloc();
  return block;
}

SymbolicVerdict Equal(std::string how) { return {true, std::move(how)}; }
SymbolicVerdict NotEqual(std::string how) { return {false, std::move(how)}; }

bool HasDecimal(const LatexNode& node) {
  if (node.kind == NodeKind::kNumber && node.decimal) return true;
  for (const LatexNode& child : node.children) {
    if (HasDecimal(child)) return true;
  }
  return false;
}

// A text answer's words, without the parentheses of a choice ("(C)" -> "C"); a variable's name
// (so `\text{C}` meets `C`); nullopt for anything else.
std::optional<absl::string_view> AsText(const LatexNode& node) {
  if (node.kind == NodeKind::kSymbol) return absl::string_view(node.text);
  if (node.kind != NodeKind::kText) return std::nullopt;
  absl::string_view text = absl::StripAsciiWhitespace(node.text);
  if (text.size() >= 2 && text.front() == '(' && text.back() == ')') {
    text = absl::StripAsciiWhitespace(text.substr(1, text.size() - 2));
  }
  return text;
}

bool IsTrigFunction(absl::string_view name) {
  return name == "sin" || name == "cos" || name == "tan" || name == "sec" || name == "csc" ||
         name == "cot";
}

bool IsInequality(RelationKind kind) {
  return kind == RelationKind::kLt || kind == RelationKind::kLe || kind == RelationKind::kGt ||
         kind == RelationKind::kGe;
}

bool IsInequalityNode(const LatexNode& node) {
  if (node.kind != NodeKind::kRelation) return false;
  for (RelationKind kind : node.relations) {
    if (!IsInequality(kind)) return false;
  }
  return true;
}

bool IsEquationNode(const LatexNode& node) {
  return node.kind == NodeKind::kRelation && node.relations.size() == 1 &&
         node.relations[0] == RelationKind::kEq;
}

// A left side that names the answer: x, x_1, \theta, f(x), (p, q).
bool IsNameLike(const LatexNode& node) {
  switch (node.kind) {
    case NodeKind::kSymbol:
      return true;
    case NodeKind::kFunction:
      return node.text == "f" || node.text == "g" || node.text == "h";
    case NodeKind::kBracketed:
      return node.text == "()" &&
             std::all_of(node.children.begin(), node.children.end(),
                         [](const LatexNode& c) { return c.kind == NodeKind::kSymbol; });
    default:
      return false;
  }
}

// `name = value`, `name \approx value` or `name \in set`: the relation; else nullopt.
std::optional<RelationKind> AssignmentKind(const LatexNode& node) {
  if (node.kind != NodeKind::kRelation || node.relations.size() != 1) return std::nullopt;
  RelationKind kind = node.relations[0];
  if (kind != RelationKind::kEq && kind != RelationKind::kApprox && kind != RelationKind::kIn) {
    return std::nullopt;
  }
  if (!IsNameLike(node.children[0])) return std::nullopt;
  return kind;
}

bool ContainsPlusMinus(const LatexNode& node) {
  if (node.kind == NodeKind::kPlusMinus) return true;
  return std::any_of(node.children.begin(), node.children.end(), ContainsPlusMinus);
}

// The answers a node stands for: itself, or with each \pm the + and the - answer.
bool ExpandPlusMinus(const LatexNode& node, std::vector<LatexNode>* out) {
  if (!ContainsPlusMinus(node)) {
    out->push_back(node);
    return true;
  }
  if (node.kind == NodeKind::kPlusMinus) {
    std::vector<LatexNode> lefts, rights;
    if (!ExpandPlusMinus(node.children[0], &lefts) || !ExpandPlusMinus(node.children[1], &rights)) {
      return false;
    }
    for (const LatexNode& left : lefts) {
      for (const LatexNode& right : rights) {
        for (bool minus : {false, true}) {
          if (out->size() >= kMaxPlusMinusExpansions) return false;
          LatexNode sum;
          sum.kind = NodeKind::kAdd;
          sum.children.push_back(left);
          if (minus) {
            LatexNode negated;
            negated.kind = NodeKind::kNeg;
            negated.children.push_back(right);
            sum.children.push_back(std::move(negated));
          } else {
            sum.children.push_back(right);
          }
          out->push_back(std::move(sum));
        }
      }
    }
    return true;
  }
  // Cartesian product of the children's expansions.
  std::vector<LatexNode> partial = {node};
  for (size_t k = 0; k < node.children.size(); ++k) {
    std::vector<LatexNode> options;
    if (!ExpandPlusMinus(node.children[k], &options)) return false;
    if (options.size() == 1) continue;
    std::vector<LatexNode> next;
    for (const LatexNode& base : partial) {
      for (const LatexNode& option : options) {
        if (next.size() >= kMaxPlusMinusExpansions) return false;
        LatexNode copy = base;
        copy.children[k] = option;
        next.push_back(std::move(copy));
      }
    }
    partial = std::move(next);
  }
  for (LatexNode& n : partial) out->push_back(std::move(n));
  return true;
}

// The elements a list, set or single answer stands for, \pm expanded.
bool Elements(const std::vector<LatexNode>& nodes, std::vector<LatexNode>* out) {
  for (const LatexNode& node : nodes) {
    if (node.kind == NodeKind::kList) {
      if (!Elements(node.children, out)) return false;
    } else if (!ExpandPlusMinus(node, out)) {
      return false;
    }
    if (out->size() > kMaxElements) return false;
  }
  return true;
}

// \{..\}, or a union of them ("\{1,3\} \cup \{2,4\}" is "\{1,2,3,4\}").
bool IsFiniteSet(const LatexNode& node) {
  if (node.kind == NodeKind::kSet) return true;
  return node.kind == NodeKind::kUnion &&
         std::all_of(node.children.begin(), node.children.end(),
                     [](const LatexNode& part) { return part.kind == NodeKind::kSet; });
}

// The members of a finite set (precondition: IsFiniteSet(node)).
std::vector<LatexNode> SetMembers(const LatexNode& node) {
  if (node.kind == NodeKind::kSet) return node.children;
  std::vector<LatexNode> members;
  for (const LatexNode& part : node.children) {
    members.insert(members.end(), part.children.begin(), part.children.end());
  }
  return members;
}

struct Interval {
  ex low, high;
  bool low_closed = false, high_closed = false;
};

// One comparison: the symbols both answers share, the deadline, the random points.
class Comparer {
 public:
  explicit Comparer(const SymbolicOptions& options)
      : options_(options),
        deadline_(absl::Now() + options.time_budget),
        infinity_("oo"),
        rng_(kPointSeed) {}

  SymbolicVerdict Answers(const ParsedAnswer& response, const ParsedAnswer& reference) {
    std::vector<LatexNode> left, right;
    if (!Elements({response.root}, &left) || !Elements({reference.root}, &right)) {
      return NotEqual("too many answers or \\pm signs");
    }
    if (left.size() == 1 && right.size() == 1) return Items(left[0], right[0]);
    // "x < 1 or x > 2" against (-\infty, 1) \cup (2, \infty): the same set of intervals.
    if (response.root.kind == NodeKind::kList || reference.root.kind == NodeKind::kList) {
      std::optional<std::vector<Interval>> x = Intervals(response.root);
      std::optional<std::vector<Interval>> y = Intervals(reference.root);
      if (x && y) return IntervalSets(*x, *y);
    }
    return SameElements(left, right, "answers");
  }

 private:
  bool OutOfTime() {
    if (absl::Now() > deadline_) timed_out_ = true;
    return timed_out_;
  }

  SymbolicVerdict TimeOut() {
    return NotEqual(
        absl::StrCat("time budget of ", absl::FormatDuration(options_.time_budget), " spent"));
  }

  // ---- AST -> GiNaC, with the blow-up guards ----

  absl::StatusOr<ex> ToEx(const LatexNode& node, bool trig_argument) {
    switch (node.kind) {
      case NodeKind::kNumber: {
        size_t first = node.text.find_first_not_of('0');
        std::string digits = first == std::string::npos ? "0" : node.text.substr(first);
        numeric value(digits.c_str());
        if (node.exponent10 != 0) value = value * numeric(10).power(numeric(node.exponent10));
        return ex(value);
      }
      case NodeKind::kSymbol: {
        auto it = symbols_.find(node.text);
        if (it == symbols_.end()) it = symbols_.emplace(node.text, GiNaC::symbol(node.text)).first;
        return ex(it->second);
      }
      case NodeKind::kConstant:
        if (node.text == "pi") return ex(GiNaC::Pi);
        if (node.text == "e") return GiNaC::exp(ex(1));
        if (node.text == "i") return ex(GiNaC::I);
        return ex(infinity_);
      case NodeKind::kAdd:
      case NodeKind::kMul: {
        ex acc = node.kind == NodeKind::kAdd ? ex(0) : ex(1);
        for (const LatexNode& child : node.children) {
          absl::StatusOr<ex> value = ToEx(child, trig_argument);
          if (!value.ok()) return value;
          acc = node.kind == NodeKind::kAdd ? acc + *value : acc * *value;
        }
        return acc;
      }
      case NodeKind::kNeg: {
        absl::StatusOr<ex> value = ToEx(node.children[0], trig_argument);
        if (!value.ok()) return value;
        return -*value;
      }
      case NodeKind::kDiv: {
        absl::StatusOr<ex> top = ToEx(node.children[0], trig_argument);
        if (!top.ok()) return top;
        absl::StatusOr<ex> bottom = ToEx(node.children[1], trig_argument);
        if (!bottom.ok()) return bottom;
        if (bottom->is_zero()) return absl::InvalidArgumentError("division by zero");
        return *top / *bottom;
      }
      case NodeKind::kPow: {
        absl::StatusOr<ex> exponent = ToEx(node.children[1], false);
        if (!exponent.ok()) return exponent;
        const LatexNode& base_node = node.children[0];
        if (base_node.kind == NodeKind::kConstant && base_node.text == "e") {
          absl::StatusOr<ex> guarded = Power(ex(2), *exponent);  // the same size limits
          if (!guarded.ok()) return guarded;
          return GiNaC::exp(*exponent);
        }
        absl::StatusOr<ex> base = ToEx(base_node, trig_argument);
        if (!base.ok()) return base;
        return Power(*base, *exponent);
      }
      case NodeKind::kDegrees: {
        absl::StatusOr<ex> value = ToEx(node.children[0], trig_argument);
        if (!value.ok() || !trig_argument) return value;
        return *value * GiNaC::Pi / 180;
      }
      case NodeKind::kFunction:
        return Function(node);
      default:
        return absl::InvalidArgumentError("not a single value");
    }
  }

  absl::StatusOr<ex> Power(const ex& base, const ex& exponent) {
    ex magnitude = exponent.evalf();
    if (is_a<numeric>(magnitude)) {
      const numeric& e = ex_to<numeric>(magnitude);
      if (GiNaC::abs(e) > numeric(kMaxCasExponent)) {
        return absl::InvalidArgumentError("exponent too large");
      }
    }
    if (is_a<numeric>(base) && is_a<numeric>(exponent)) {
      const numeric& b = ex_to<numeric>(base);
      const numeric& e = ex_to<numeric>(exponent);
      // GiNaC throws for these (pow(0,0), pow(0,I) are undefined, a negative power a pole), and
      // leaks the power it was building when it does.
      if (b.is_zero() && !e.real().is_positive())
        return absl::InvalidArgumentError("0 to a power whose real part is not positive");
      if (b.is_rational() && e.is_integer()) {
        double digits = std::fabs(e.to_double()) *
                        (GiNaC::numer(b).int_length() + GiNaC::denom(b).int_length()) * 0.30103;
        if (digits > kMaxCasPowerDigits) return absl::InvalidArgumentError("power too large");
      }
    }
    return GiNaC::pow(base, exponent);
  }

  absl::StatusOr<ex> Function(const LatexNode& node) {
    const std::string& name = node.text;
    std::vector<ex> args;
    for (const LatexNode& child : node.children) {
      absl::StatusOr<ex> value = ToEx(child, IsTrigFunction(name));
      if (!value.ok()) return value;
      args.push_back(*value);
    }
    const ex& x = args[0];
    if (IsTrigFunction(name)) {
      // Double-precision evaluation of sin(10^300) is noise.
      ex magnitude = GiNaC::abs(x).evalf();
      if (is_a<numeric>(magnitude) && ex_to<numeric>(magnitude) > numeric(kMaxTrigArgument)) {
        return absl::InvalidArgumentError("trigonometric argument too large");
      }
    }
    if (name == "sin") return GiNaC::sin(x);
    if (name == "cos") return GiNaC::cos(x);
    // tan, sec, csc, cot in sin and cos, so that GiNaC's normal form can cancel them.
    if (name == "tan") return GiNaC::sin(x) / GiNaC::cos(x);
    if (name == "sec") return 1 / GiNaC::cos(x);
    if (name == "csc") return 1 / GiNaC::sin(x);
    if (name == "cot") return GiNaC::cos(x) / GiNaC::sin(x);
    if (name == "asin") return GiNaC::asin(x);
    if (name == "acos") return GiNaC::acos(x);
    if (name == "atan") return GiNaC::atan(x);
    if (name == "asec") return GiNaC::acos(1 / x);
    if (name == "acsc") return GiNaC::asin(1 / x);
    if (name == "acot") return GiNaC::atan(1 / x);
    if (name == "sinh") return GiNaC::sinh(x);
    if (name == "cosh") return GiNaC::cosh(x);
    if (name == "tanh") return GiNaC::tanh(x);
    if (name == "exp") {
      absl::StatusOr<ex> guarded = Power(ex(2), x);  // the same size limits as e^x
      if (!guarded.ok()) return guarded;
      return GiNaC::exp(x);
    }
    if (name == "abs") return GiNaC::abs(x);
    if (name == "log" || name == "log10") {
      if (x.is_zero()) return absl::InvalidArgumentError("log of 0");
      ex base = args.size() > 1 ? args[1] : name == "log10" ? ex(10) : ex(0);
      if (base.is_zero()) return GiNaC::log(x);
      if (base.is_equal(ex(1))) return absl::InvalidArgumentError("log base 1");
      return GiNaC::log(x) / GiNaC::log(base);
    }
    if (name == "root") {
      if (!is_a<numeric>(args[1]) || !ex_to<numeric>(args[1]).is_pos_integer() ||
          ex_to<numeric>(args[1]) > numeric(kMaxCasExponent)) {
        return absl::InvalidArgumentError("root index must be a positive integer");
      }
      return GiNaC::pow(x, 1 / args[1]);
    }
    if (name == "factorial") {
      if (is_a<numeric>(x) && (!ex_to<numeric>(x).is_nonneg_integer() ||
                               ex_to<numeric>(x) > numeric(kMaxCasFactorial))) {
        return absl::InvalidArgumentError("factorial of a large or non-integer number");
      }
      return GiNaC::factorial(x);
    }
    if (name == "binom" && args.size() == 2) {
      for (const ex& arg : args) {
        if (!is_a<numeric>(arg) || !ex_to<numeric>(arg).is_integer() ||
            GiNaC::abs(ex_to<numeric>(arg)) > numeric(kMaxCasFactorial)) {
          return absl::InvalidArgumentError("binomial of non-integers");
        }
      }
      return GiNaC::binomial(ex_to<numeric>(args[0]), ex_to<numeric>(args[1]));
    }
    return absl::InvalidArgumentError(absl::StrCat("the function ", name, " has no value"));
  }

  // Upper bound on the terms expand() can produce.
  static double ExpandedTerms(const ex& e) {
    constexpr double kSaturated = 1e12;
    if (is_a<GiNaC::add>(e)) {
      double total = 0;
      for (size_t k = 0; k < e.nops(); ++k) total += ExpandedTerms(e.op(k));
      return std::min(total, kSaturated);
    }
    if (is_a<GiNaC::mul>(e)) {
      double total = 1;
      for (size_t k = 0; k < e.nops(); ++k) {
        total = std::min(total * ExpandedTerms(e.op(k)), kSaturated);
      }
      return total;
    }
    if (is_a<GiNaC::power>(e)) {
      double base = ExpandedTerms(e.op(0));
      const ex& exponent = e.op(1);
      if (is_a<numeric>(exponent) && ex_to<numeric>(exponent).is_integer()) {
        double n = std::fabs(ex_to<numeric>(exponent).to_double());
        if (base <= 1) return 1;
        // A sum of t terms to the n-th has at most C(n + t - 1, t - 1) monomials.
        double monomials = std::exp(std::lgamma(n + base) - std::lgamma(n + 1) - std::lgamma(base));
        return std::min({std::pow(base, n), monomials, kSaturated});
      }
      return base;
    }
    double largest = 1;
    for (size_t k = 0; k < e.nops(); ++k) largest = std::max(largest, ExpandedTerms(e.op(k)));
    return largest;
  }

  // The total degree of `e` read as a polynomial (a function or a non-integer power of something
  // with variables counts as one more variable). normal() computes polynomial gcds, whose cost
  // grows fast with it.
  static double TotalDegree(const ex& e) {
    constexpr double kSaturated = 1e12;
    if (is_a<GiNaC::symbol>(e)) return 1;
    if (is_a<numeric>(e) || e.nops() == 0) return 0;
    if (is_a<GiNaC::add>(e)) {
      double largest = 0;
      for (size_t k = 0; k < e.nops(); ++k) largest = std::max(largest, TotalDegree(e.op(k)));
      return largest;
    }
    if (is_a<GiNaC::mul>(e)) {
      double total = 0;
      for (size_t k = 0; k < e.nops(); ++k) total += TotalDegree(e.op(k));
      return std::min(total, kSaturated);
    }
    if (is_a<GiNaC::power>(e)) {
      double base = TotalDegree(e.op(0));
      const ex& exponent = e.op(1);
      if (is_a<numeric>(exponent) && ex_to<numeric>(exponent).is_integer()) {
        return std::min(base * std::fabs(ex_to<numeric>(exponent).to_double()), kSaturated);
      }
      return base > 0 || TotalDegree(exponent) > 0 ? 1 : 0;
    }
    for (size_t k = 0; k < e.nops(); ++k) {
      if (TotalDegree(e.op(k)) > 0) return 1;
    }
    return 0;
  }

  // normal() then expand(), refused when the expansion could be too large; only expand() when the
  // degree is too high for normal()'s gcds (the random points then decide).
  absl::StatusOr<ex> Simplify(const ex& e) {
    if (ExpandedTerms(e) > kMaxCasExpandedTerms) {
      return absl::ResourceExhaustedError("expression too large to expand");
    }
    if (TotalDegree(e) > kMaxCasNormalDegree) return e.expand();
    ex normal = e.normal();
    if (normal.is_zero()) return normal;
    if (ExpandedTerms(normal) > kMaxCasExpandedTerms) return normal;
    return normal.expand().normal();
  }

  void CollectSymbols(const ex& e, std::vector<GiNaC::symbol>* out) const {
    if (is_a<GiNaC::symbol>(e)) {
      const GiNaC::symbol& s = ex_to<GiNaC::symbol>(e);
      if (s.is_equal(infinity_)) return;
      for (const GiNaC::symbol& known : *out) {
        if (known.is_equal(s)) return;
      }
      out->push_back(s);
      return;
    }
    for (size_t k = 0; k < e.nops(); ++k) CollectSymbols(e.op(k), out);
  }

  bool IsConstant(const ex& e) const {
    std::vector<GiNaC::symbol> symbols;
    CollectSymbols(e, &symbols);
    return symbols.empty() && !e.has(infinity_);
  }

  // The value of a constant expression (of `e` at `point`), or nullopt when undefined there.
  static std::optional<std::complex<double>> Value(const ex& e, const GiNaC::exmap& point = {}) {
    try {
      ex value = (point.empty() ? e : e.subs(point)).evalf();
      if (!is_a<numeric>(value)) return std::nullopt;
      const numeric& n = ex_to<numeric>(value);
      std::complex<double> z(n.real().to_double(), n.imag().to_double());
      if (!std::isfinite(z.real()) || !std::isfinite(z.imag())) return std::nullopt;
      return z;
    } catch (const std::exception&) {  // a pole or an overflow: undefined here
      return std::nullopt;
    }
  }

  static bool Close(std::complex<double> a, std::complex<double> b, double tolerance) {
    double diff = std::abs(a - b);
    return diff <= tolerance * std::max(std::abs(a), std::abs(b)) || diff <= 1e-12;
  }

  static std::string Format(std::complex<double> z) {
    if (z.imag() == 0) return absl::StrFormat("%.10g", z.real());
    return absl::StrFormat("%.10g%+.10gi", z.real(), z.imag());
  }

  // Values of `a` and `b` at one random point (the same substitution for both).
  std::optional<std::pair<std::complex<double>, std::complex<double>>> AtRandomPoint(
      const ex& a, const ex& b, const std::vector<GiNaC::symbol>& symbols) {
    bool small = (points_drawn_++ % 2) == 0;
    std::uniform_real_distribution<double> magnitude(small ? kPointMin : kPointMid,
                                                     small ? kPointMid : kPointMax);
    std::bernoulli_distribution negative(0.5);
    GiNaC::exmap point;
    for (const GiNaC::symbol& s : symbols) {
      double v = magnitude(rng_);
      point[s] = numeric(negative(rng_) ? -v : v);
    }
    std::optional<std::complex<double>> va = Value(a, point);
    if (!va) return std::nullopt;
    std::optional<std::complex<double>> vb = Value(b, point);
    if (!vb) return std::nullopt;
    return std::make_pair(*va, *vb);
  }

  // Agreement of `a` and `b` at random points: true, false, or nullopt (too few usable points
  // or out of time).
  std::optional<bool> AgreeAtPoints(const ex& a, const ex& b, double tolerance, int* used) {
    std::vector<GiNaC::symbol> symbols;
    CollectSymbols(a, &symbols);
    CollectSymbols(b, &symbols);
    *used = 0;
    for (int attempt = 0; attempt < kPointAttempts && *used < kPointsWanted; ++attempt) {
      if (OutOfTime()) return std::nullopt;
      auto values = AtRandomPoint(a, b, symbols);
      if (!values) continue;
      if (!Close(values->first, values->second, tolerance)) return false;
      ++*used;
    }
    if (*used < kMinPointsUsed) return std::nullopt;
    return true;
  }

  // ---- comparisons ----

  SymbolicVerdict Scalars(const LatexNode& a, const LatexNode& b) {
    if (a.kind == NodeKind::kText || b.kind == NodeKind::kText) {
      std::optional<absl::string_view> x = AsText(a), y = AsText(b);
      if (x && y && absl::EqualsIgnoreCase(*x, *y)) return Equal("same text ignoring case");
      return NotEqual("different text");
    }
    absl::StatusOr<ex> left = ToEx(a, false);
    if (!left.ok()) return NotEqual(absl::StrCat("the answer: ", left.status().message()));
    absl::StatusOr<ex> right = ToEx(b, false);
    if (!right.ok()) return NotEqual(absl::StrCat("the reference: ", right.status().message()));
    return Values(*left, *right, HasDecimal(a) || HasDecimal(b));
  }

  SymbolicVerdict Values(const ex& a, const ex& b, bool decimals) {
    if (OutOfTime()) return TimeOut();
    absl::StatusOr<ex> difference = Simplify(a - b);
    if (difference.ok() && difference->is_zero()) return Equal("difference simplifies to 0");
    if (a.has(infinity_) || b.has(infinity_)) return NotEqual("different infinite values");
    double tolerance = decimals ? options_.rel_tolerance : kPointTolerance;
    if (IsConstant(a) && IsConstant(b)) {
      if (!decimals && difference.ok() && is_a<numeric>(*difference)) {
        return NotEqual("different exact values");
      }
      std::optional<std::complex<double>> va = Value(a);
      std::optional<std::complex<double>> vb = Value(b);
      if (!va || !vb) {
        // Beyond double range (e^{999} vs e \cdot e^{998}): their ratio may still be 1.
        std::optional<std::complex<double>> ratio = b.is_zero() ? std::nullopt : Value(a / b);
        if (!ratio) return NotEqual("a value is undefined or out of range");
        if (Close(*ratio, 1.0, decimals ? options_.rel_tolerance : kIrrationalTolerance)) {
          return Equal("equal values (by their ratio)");
        }
        return NotEqual(absl::StrCat("values differ: their ratio is ", Format(*ratio)));
      }
      if (Close(*va, *vb, decimals ? options_.rel_tolerance : kIrrationalTolerance)) {
        return Equal(decimals ? absl::StrFormat("equal within relative tolerance %g", tolerance)
                              : "equal values");
      }
      return NotEqual(absl::StrCat("values differ: ", Format(*va), " vs ", Format(*vb)));
    }
    if (!difference.ok()) return NotEqual(std::string(difference.status().message()));
    if (!decimals && is_a<numeric>(*difference)) return NotEqual("differ by a constant");
    int used = 0;
    std::optional<bool> agree = AgreeAtPoints(a, b, tolerance, &used);
    if (timed_out_) return TimeOut();
    if (!agree) return NotEqual("too few points where both sides are defined");
    if (*agree) return Equal(absl::StrCat("equal at ", used, " random points"));
    return NotEqual("differ at a random point");
  }

  // Whether e1 = k * e2 for a constant k that is non-zero (positive when `positive`).
  SymbolicVerdict Proportional(const ex& e1, const ex& e2, bool positive, absl::string_view what) {
    if (OutOfTime()) return TimeOut();
    absl::StatusOr<ex> s1 = Simplify(e1);
    if (!s1.ok()) return NotEqual(std::string(s1.status().message()));
    absl::StatusOr<ex> s2 = Simplify(e2);
    if (!s2.ok()) return NotEqual(std::string(s2.status().message()));
    if (s1->is_zero() || s2->is_zero()) {
      if (s1->is_zero() && s2->is_zero())
        return Equal(absl::StrCat("both ", what, "s always hold"));
      return NotEqual(absl::StrCat("one ", what, " always holds"));
    }
    auto acceptable = [positive](std::complex<double> k) {
      if (std::abs(k.imag()) > 1e-12 * std::abs(k)) return false;
      return positive ? k.real() > 0 : k.real() != 0;
    };
    absl::StatusOr<ex> ratio = Simplify(*s1 / *s2);
    if (ratio.ok() && IsConstant(*ratio)) {
      std::optional<std::complex<double>> k = Value(*ratio);
      if (k && acceptable(*k)) {
        return Equal(absl::StrCat(what, " is ", Format(*k), " x the reference's"));
      }
      return NotEqual(absl::StrCat(what, "s differ by the factor ", Format(k.value_or(0))));
    }
    // Second opinion: the ratio at random points is one constant.
    std::vector<GiNaC::symbol> symbols;
    CollectSymbols(*s1, &symbols);
    CollectSymbols(*s2, &symbols);
    std::optional<std::complex<double>> first;
    int used = 0;
    for (int attempt = 0; attempt < kPointAttempts && used < kPointsWanted; ++attempt) {
      if (OutOfTime()) return TimeOut();
      auto values = AtRandomPoint(*s1, *s2, symbols);
      if (!values || std::abs(values->second) < 1e-9) continue;
      std::complex<double> k = values->first / values->second;
      if (!first) first = k;
      if (!Close(k, *first, kPointTolerance)) {
        return NotEqual(absl::StrCat(what, "s are not multiples of each other"));
      }
      ++used;
    }
    if (used < kMinPointsUsed || !acceptable(*first)) {
      return NotEqual(absl::StrCat(what, "s are not multiples of each other"));
    }
    return Equal(absl::StrCat(what, " is ", Format(*first), " x the reference's at ", used,
                              " random points"));
  }

  absl::StatusOr<ex> Side(const LatexNode& node) { return ToEx(node, false); }

  SymbolicVerdict Equations(const LatexNode& a, const LatexNode& b) {
    absl::StatusOr<ex> l1 = Side(a.children[0]), r1 = Side(a.children[1]);
    absl::StatusOr<ex> l2 = Side(b.children[0]), r2 = Side(b.children[1]);
    for (const auto* side : {&l1, &r1, &l2, &r2}) {
      if (!side->ok()) return NotEqual(std::string(side->status().message()));
    }
    return Proportional(*l1 - *r1, *l2 - *r2, false, "equation");
  }

  // `node`'s constraints as (e, strict) meaning e < 0 (strict) or e <= 0.
  absl::Status Constraints(const LatexNode& node, std::vector<std::pair<ex, bool>>* out) {
    std::vector<ex> sides;
    for (const LatexNode& child : node.children) {
      absl::StatusOr<ex> side = Side(child);
      if (!side.ok()) return side.status();
      sides.push_back(*side);
    }
    for (size_t k = 0; k < node.relations.size(); ++k) {
      RelationKind kind = node.relations[k];
      bool less = kind == RelationKind::kLt || kind == RelationKind::kLe;
      bool strict = kind == RelationKind::kLt || kind == RelationKind::kGt;
      out->emplace_back(less ? sides[k] - sides[k + 1] : sides[k + 1] - sides[k], strict);
    }
    return absl::OkStatus();
  }

  SymbolicVerdict Inequalities(const LatexNode& a, const LatexNode& b) {
    std::vector<std::pair<ex, bool>> left, right;
    if (absl::Status s = Constraints(a, &left); !s.ok()) return NotEqual(std::string(s.message()));
    if (absl::Status s = Constraints(b, &right); !s.ok()) return NotEqual(std::string(s.message()));
    if (left.size() != right.size()) return NotEqual("different numbers of constraints");
    std::vector<bool> used(right.size(), false);
    for (const auto& [e, strict] : left) {
      bool matched = false;
      for (size_t k = 0; k < right.size() && !matched; ++k) {
        if (used[k] || right[k].second != strict) continue;
        if (Proportional(e, right[k].first, true, "inequality").equal) {
          used[k] = true;
          matched = true;
        }
        if (timed_out_) return TimeOut();
      }
      if (!matched) return NotEqual("an inequality has no equal in the reference");
    }
    return Equal("the same inequalities");
  }

  // The intervals an answer describes: (a, b], a union of them, an inequality in one variable
  // with constant bounds, or several such inequalities. nullopt when it is none of these.
  std::optional<std::vector<Interval>> Intervals(const LatexNode& node) {
    std::vector<Interval> out;
    if (node.kind == NodeKind::kUnion || node.kind == NodeKind::kList) {
      for (const LatexNode& part : node.children) {
        std::optional<std::vector<Interval>> inner = Intervals(part);
        if (!inner) return std::nullopt;
        out.insert(out.end(), inner->begin(), inner->end());
      }
      return out;
    }
    if (node.kind == NodeKind::kBracketed && node.children.size() == 2) {
      absl::StatusOr<ex> low = Side(node.children[0]), high = Side(node.children[1]);
      if (!low.ok() || !high.ok()) return std::nullopt;
      out.push_back({*low, *high, node.text[0] == '[', node.text[1] == ']'});
      return out;
    }
    if (!IsInequalityNode(node) || node.children.size() > 3) return std::nullopt;
    // The variable is the one operand that is a lone symbol; the others are constants.
    int variable = -1;
    for (size_t k = 0; k < node.children.size(); ++k) {
      if (node.children[k].kind == NodeKind::kSymbol) {
        if (variable >= 0) return std::nullopt;
        variable = static_cast<int>(k);
      }
    }
    if (variable < 0) return std::nullopt;
    ex low = -ex(infinity_), high = ex(infinity_);
    bool low_closed = false, high_closed = false;
    for (size_t k = 0; k < node.relations.size(); ++k) {
      // The relation between children[left] and children[left + 1]; one is the variable.
      int left = static_cast<int>(k);
      if (left != variable && left + 1 != variable) return std::nullopt;
      int other = left == variable ? left + 1 : left;
      absl::StatusOr<ex> bound = Side(node.children[other]);
      if (!bound.ok() || !IsConstant(*bound)) return std::nullopt;
      RelationKind kind = node.relations[k];
      bool less = kind == RelationKind::kLt || kind == RelationKind::kLe;
      bool closed = kind == RelationKind::kLe || kind == RelationKind::kGe;
      // "bound < x" or "x > bound": a lower bound.
      bool lower = (other == left) == less;
      if (lower) {
        low = *bound;
        low_closed = closed;
      } else {
        high = *bound;
        high_closed = closed;
      }
    }
    out.push_back({low, high, low_closed, high_closed});
    return out;
  }

  SymbolicVerdict SameInterval(const Interval& a, const Interval& b) {
    bool low_infinite = a.low.has(infinity_) && b.low.has(infinity_);
    bool high_infinite = a.high.has(infinity_) && b.high.has(infinity_);
    if ((!low_infinite && a.low_closed != b.low_closed) ||
        (!high_infinite && a.high_closed != b.high_closed)) {
      return NotEqual("an interval end is open in one and closed in the other");
    }
    SymbolicVerdict low = Values(a.low, b.low, false);
    if (!low.equal) return NotEqual(absl::StrCat("lower ends differ (", low.how, ")"));
    SymbolicVerdict high = Values(a.high, b.high, false);
    if (!high.equal) return NotEqual(absl::StrCat("upper ends differ (", high.how, ")"));
    return Equal("same interval");
  }

  SymbolicVerdict IntervalSets(const std::vector<Interval>& a, const std::vector<Interval>& b) {
    auto covered = [this](const std::vector<Interval>& x, const std::vector<Interval>& y) {
      for (const Interval& i : x) {
        bool found = false;
        for (const Interval& j : y) {
          if (SameInterval(i, j).equal) {
            found = true;
            break;
          }
        }
        if (!found) return false;
      }
      return true;
    };
    if (covered(a, b) && covered(b, a)) {
      return Equal(absl::StrCat("the same set (", a.size(), " interval(s))"));
    }
    if (timed_out_) return TimeOut();
    return NotEqual("different sets of intervals");
  }

  // Every element of one has an equal in the other, and the other way round.
  SymbolicVerdict SameElements(const std::vector<LatexNode>& a, const std::vector<LatexNode>& b,
                               absl::string_view what) {
    auto covered = [this](const std::vector<LatexNode>& x, const std::vector<LatexNode>& y,
                          size_t* missing) {
      for (size_t i = 0; i < x.size(); ++i) {
        bool found = false;
        for (const LatexNode& other : y) {
          if (Items(x[i], other).equal) {
            found = true;
            break;
          }
          if (timed_out_) return false;
        }
        if (!found) {
          *missing = i;
          return false;
        }
      }
      return true;
    };
    size_t missing = 0;
    if (!covered(a, b, &missing)) {
      if (timed_out_) return TimeOut();
      return NotEqual(absl::StrCat(what, ": element ", missing + 1, " of the answer has no equal"));
    }
    if (!covered(b, a, &missing)) {
      if (timed_out_) return TimeOut();
      return NotEqual(
          absl::StrCat(what, ": element ", missing + 1, " of the reference is missing"));
    }
    return Equal(absl::StrCat(what, ": the same ", a.size(), " element(s) in any order"));
  }

  SymbolicVerdict Items(const LatexNode& a, const LatexNode& b) {
    if (OutOfTime()) return TimeOut();
    std::optional<RelationKind> a_assign = AssignmentKind(a);
    std::optional<RelationKind> b_assign = AssignmentKind(b);
    if (a_assign && b_assign) {
      if (DescribeLatexNode(a.children[0]) == DescribeLatexNode(b.children[0]) &&
          *a_assign == *b_assign) {
        return Items(a.children[1], b.children[1]);
      }
    } else if (a_assign && !IsEquationNode(b)) {
      return Assigned(a, b, /*response_side=*/true);
    } else if (b_assign && !IsEquationNode(a)) {
      return Assigned(b, a, /*response_side=*/false);
    }
    if (a.kind == NodeKind::kMatrix || b.kind == NodeKind::kMatrix) return Matrices(a, b);
    if (IsFiniteSet(a) || IsFiniteSet(b)) {
      if (!IsFiniteSet(a) || !IsFiniteSet(b)) return NotEqual("a set vs something else");
      std::vector<LatexNode> x, y;
      if (!Elements(SetMembers(a), &x) || !Elements(SetMembers(b), &y)) {
        return NotEqual("sets too large");
      }
      return SameElements(x, y, "set");
    }
    bool a_interval = a.kind == NodeKind::kUnion || IsInequalityNode(a) ||
                      (a.kind == NodeKind::kBracketed && a.children.size() == 2);
    bool b_interval = b.kind == NodeKind::kUnion || IsInequalityNode(b) ||
                      (b.kind == NodeKind::kBracketed && b.children.size() == 2);
    if (a_interval && b_interval && (a.kind != b.kind || a.kind == NodeKind::kUnion)) {
      std::optional<std::vector<Interval>> x = Intervals(a);
      std::optional<std::vector<Interval>> y = Intervals(b);
      if (x && y) return IntervalSets(*x, *y);
    }
    if (a.kind == NodeKind::kBracketed || b.kind == NodeKind::kBracketed) {
      if (a.kind != b.kind) return NotEqual("a tuple or interval vs something else");
      if (a.children.size() != b.children.size()) {
        return NotEqual(
            absl::StrCat(a.children.size(), " elements vs the reference's ", b.children.size()));
      }
      if (a.text != b.text) return NotEqual(absl::StrCat("brackets ", a.text, " vs ", b.text));
      for (size_t k = 0; k < a.children.size(); ++k) {
        SymbolicVerdict element = Items(a.children[k], b.children[k]);
        if (!element.equal) {
          return NotEqual(absl::StrCat("element ", k + 1, " differs (", element.how, ")"));
        }
      }
      return Equal(absl::StrCat("all ", a.children.size(), " elements equal in order"));
    }
    if (a.kind == NodeKind::kUnion || b.kind == NodeKind::kUnion) {
      if (a.kind != b.kind) return NotEqual("a union vs something else");
      return SameElements(a.children, b.children, "union");
    }
    if (a.kind == NodeKind::kList || b.kind == NodeKind::kList) {
      std::vector<LatexNode> x, y;
      if (!Elements({a}, &x) || !Elements({b}, &y)) return NotEqual("lists too large");
      return SameElements(x, y, "answers");
    }
    if (a.kind == NodeKind::kRelation || b.kind == NodeKind::kRelation) {
      if (IsEquationNode(a) && IsEquationNode(b)) return Equations(a, b);
      if (IsInequalityNode(a) && IsInequalityNode(b)) return Inequalities(a, b);
      return NotEqual("different kinds of relation");
    }
    return Scalars(a, b);
  }

  // `assignment` is `name = v`, `name \approx v` or `name \in S`; `other` is not an equation.
  SymbolicVerdict Assigned(const LatexNode& assignment, const LatexNode& other,
                           bool response_side) {
    const LatexNode& value = assignment.children[1];
    const LatexNode& a = response_side ? value : other;
    const LatexNode& b = response_side ? other : value;
    if (assignment.relations[0] != RelationKind::kApprox) return Items(a, b);
    // \approx: compares by value, and only against a reference without variables.
    absl::StatusOr<ex> left = ToEx(a, false);
    absl::StatusOr<ex> right = ToEx(b, false);
    if (!left.ok() || !right.ok()) return NotEqual("an \\approx answer that is not a value");
    if (!IsConstant(*left) || !IsConstant(*right)) {
      return NotEqual("an \\approx answer compares only with a numeric reference");
    }
    return Values(*left, *right, /*decimals=*/true);
  }

  SymbolicVerdict Matrices(const LatexNode& a, const LatexNode& b) {
    if (a.kind != b.kind) return NotEqual("a matrix vs something else");
    if (a.rows != b.rows || a.cols != b.cols) {
      return NotEqual(
          absl::StrCat("shape ", a.rows, "x", a.cols, " vs the reference's ", b.rows, "x", b.cols));
    }
    for (size_t k = 0; k < a.children.size(); ++k) {
      SymbolicVerdict element = Items(a.children[k], b.children[k]);
      if (!element.equal) {
        return NotEqual(absl::StrCat("entry (", k / a.cols + 1, ",", k % a.cols + 1, ") differs (",
                                     element.how, ")"));
      }
    }
    return Equal(absl::StrCat("all ", a.children.size(), " entries equal"));
  }

  SymbolicOptions options_;
  absl::Time deadline_;
  bool timed_out_ = false;
  GiNaC::symbol infinity_;
  std::map<std::string, GiNaC::symbol> symbols_;
  std::mt19937 rng_;
  int points_drawn_ = 0;
};

}  // namespace

SymbolicVerdict CompareSymbolically(const ParsedAnswer& response, const ParsedAnswer& reference,
                                    const SymbolicOptions& options) {
  absl::MutexLock lock(&CasMutex());
  // Installed once, before the first comparison; the blocks are freed by CLN's default free_hook
  // (free), like those of its own hook.
  static const bool bounded = [] {
    cln::malloc_hook = &BoundedClnAllocate;
    return true;
  }();
  (void)bounded;
  try {
    Comparer comparer(options);
    return comparer.Answers(response, reference);
  } catch (const std::exception& e) {
    return NotEqual(absl::StrCat("computer algebra error: ", e.what()));
  } catch (...) {
    return NotEqual("computer algebra error");
  }
}

}  // namespace chord::reward
