#pragma once

// LaTeX math answers -> an expression tree (our own AST), for the symbolic comparison in
// symbolic_equivalence.h. Pure, no CAS types: the tree says what was written, not what it means.
//
// Understood: numbers (integers, decimals, "1.5e3", "1{,}234", a whole answer "1,234,567"),
// \frac \dfrac \tfrac \cfrac (also \frac34), \sqrt and \sqrt[n], ^ (with LaTeX's one-token
// exponents: x^23 is x^2 * 3), implicit multiplication, * \cdot \times / \div, functions (sin cos
// tan sec csc cot, arc- and ^{-1} inverses, sinh cosh tanh, log ln exp, \log_b, |x| \lvert \abs,
// \binom), constants (\pi e i \infty), degrees (^\circ, \degree, °), percent, factorial,
// \left \right and spacing commands, \text{...} (a trailing one after a value is its unit),
// tuples and intervals ((a,b) [a,b) ...), sets \{a,b\}, unions \cup, equations, \neq,
// inequalities and chains, \approx, \in, matrices (pmatrix bmatrix Bmatrix matrix smallmatrix
// array), \pm \mp, and several answers separated by ',' ';' "and" "or".
//
// Bounded: at most kMaxLatexAnswerBytes of input, kMaxLatexNesting levels of nesting and
// kMaxLatexNodes tree nodes; anything else is an INVALID_ARGUMENT, never a crash.

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace chord::reward {

inline constexpr size_t kMaxLatexAnswerBytes = 1024;
// Each bracket or \frac level costs about 4 of the nesting budget.
inline constexpr int kMaxLatexNesting = 128;
inline constexpr int kMaxLatexNodes = 768;

enum class NodeKind {
  kNumber,     // digits * 10^exponent10 (see LatexNode)
  kSymbol,     // a variable: "x", "theta", "x_1"
  kConstant,   // "pi", "e", "i", "infty"
  kAdd,        // sum of the children
  kMul,        // product of the children
  kDiv,        // children[0] / children[1]
  kPow,        // children[0] ^ children[1]
  kNeg,        // -children[0]
  kFunction,   // text names it: sin cos tan sec csc cot asin acos atan sinh cosh tanh log exp
               // abs root (children: radicand, index) binom factorial; any other name is a
               // function the answer defines ("f" in f(x)), which has no value
  kDegrees,    // children[0] degrees
  kPlusMinus,  // children[0] ± children[1] (children[0] is 0 for a leading \pm; \mp swaps)
  kBracketed,  // a tuple or an interval; text is the two brackets: "()", "[)", "[]", "(]"
  kSet,        // \{ children \} (\emptyset: no children)
  kUnion,      // children joined by \cup
  kMatrix,     // rows x cols children, row-major
  kRelation,   // children[0] relations[0] children[1] relations[1] children[2] ...
  kList,       // several answers
  kText,       // a \text{...} that is not a unit: text is its content, trimmed
};

enum class RelationKind { kEq, kNe, kLt, kLe, kGt, kGe, kApprox, kIn };

struct LatexNode {
  NodeKind kind = NodeKind::kNumber;
  // kNumber: the decimal digits (no point, no sign); kSymbol, kConstant, kFunction: the name;
  // kBracketed: the brackets; kText: the text.
  std::string text;
  // kNumber: the value is digits * 10^exponent10.
  int exponent10 = 0;
  // kNumber: written with a decimal point (the value may be rounded).
  bool decimal = false;
  // kMatrix: the shape.
  int rows = 0;
  int cols = 0;
  // kRelation: children.size() - 1 relations.
  std::vector<RelationKind> relations;
  std::vector<LatexNode> children;
};

struct ParsedAnswer {
  LatexNode root;
  // The trailing unit, e.g. "cm" from "5\text{ cm}" or "m^2" from "3\,\mathrm{m}^2" (spaces
  // removed); empty when there is none.
  std::string unit;
};

// Parses one answer (the content of a \boxed{}). INVALID_ARGUMENT with the offending position
// when it is not understood, too long, too deeply nested or too large.
absl::StatusOr<ParsedAnswer> ParseLatexAnswer(absl::string_view answer);

// A compact prefix rendering of a tree, for tests and reasons: "(+ x 1)", "(= y (* 2 x))".
std::string DescribeLatexNode(const LatexNode& node);

}  // namespace chord::reward
