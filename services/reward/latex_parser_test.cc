#include "services/reward/latex_parser.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace chord::reward {
namespace {

// The tree of `answer`, or "error: ..." when it does not parse.
std::string Tree(absl::string_view answer) {
  absl::StatusOr<ParsedAnswer> parsed = ParseLatexAnswer(answer);
  if (!parsed.ok()) return absl::StrCat("error: ", parsed.status().message());
  return DescribeLatexNode(parsed->root);
}

TEST(LatexParserTest, NumbersAndArithmetic) {
  EXPECT_EQ(Tree("42"), "42");
  EXPECT_EQ(Tree("0.75"), "075e-2");
  EXPECT_EQ(Tree("1.5e3"), "15e2");
  EXPECT_EQ(Tree("1,234,567"), "1234567");
  EXPECT_EQ(Tree("1{,}234"), "1234");
  EXPECT_EQ(Tree("1\\,000"), "1000");
  EXPECT_EQ(Tree("x+1"), "(+ x 1)");
  EXPECT_EQ(Tree("a-b"), "(+ a (- b))");
  EXPECT_EQ(Tree("-x^2"), "(- (^ x 2))");
  EXPECT_EQ(Tree("2x \\cdot 3"), "(* 2 x 3)");
  EXPECT_EQ(Tree("a \\times b \\div c"), "(/ (* a b) c)");
  EXPECT_EQ(Tree("25\\%"), "(/ 25 100)");
  EXPECT_EQ(Tree("5!"), "(factorial 5)");
}

TEST(LatexParserTest, LatexOneTokenArguments) {
  EXPECT_EQ(Tree("\\frac34"), "(/ 3 4)");
  EXPECT_EQ(Tree("\\dfrac{x}{2}"), "(/ x 2)");
  EXPECT_EQ(Tree("\\tfrac12 x"), "(* (/ 1 2) x)");
  EXPECT_EQ(Tree("x^23"), "(* (^ x 2) 3)");
  EXPECT_EQ(Tree("x^{23}"), "(^ x 23)");
  EXPECT_EQ(Tree("\\sqrt2"), "(root 2 2)");
  EXPECT_EQ(Tree("\\sqrt[3]{x}"), "(root x 3)");
  EXPECT_EQ(Tree("\\frac\\pi2"), "(/ pi 2)");
}

TEST(LatexParserTest, FunctionsAndConstants) {
  EXPECT_EQ(Tree("\\sin 2x"), "(sin (* 2 x))");
  EXPECT_EQ(Tree("2\\sin x\\cos x"), "(* 2 (sin x) (cos x))");
  EXPECT_EQ(Tree("\\sin^2 y"), "(^ (sin y) 2)");
  EXPECT_EQ(Tree("\\sin(x)^2"), "(^ (sin x) 2)");
  EXPECT_EQ(Tree("\\sin(x^2)"), "(sin (^ x 2))");
  EXPECT_EQ(Tree("\\sin^{-1} x"), "(asin x)");
  EXPECT_EQ(Tree("\\arctan(1)"), "(atan 1)");
  EXPECT_EQ(Tree("\\log_2 8"), "(log 8 2)");
  EXPECT_EQ(Tree("\\ln|x|"), "(log (abs x))");
  EXPECT_EQ(Tree("\\left| x \\right|"), "(abs x)");
  EXPECT_EQ(Tree("e^{i\\pi}"), "(^ e (* i pi))");
  EXPECT_EQ(Tree("-\\infty"), "(- infty)");
  EXPECT_EQ(Tree("\\sin 30^\\circ"), "(sin (deg 30))");
  EXPECT_EQ(Tree("\\binom{5}{2}"), "(binom 5 2)");
  EXPECT_EQ(Tree("\\theta_1 + x_{12}"), "(+ theta_1 x_12)");
  EXPECT_EQ(Tree("sin(x)"), "(sin x)");
}

TEST(LatexParserTest, StructuresAndRelations) {
  EXPECT_EQ(Tree("(1, 2)"), "(() 1 2)");
  EXPECT_EQ(Tree("[-2, 7)"), "([) (- 2) 7)");
  EXPECT_EQ(Tree("\\{3, 1\\}"), "(set 3 1)");
  EXPECT_EQ(Tree("\\emptyset"), "(set )");
  EXPECT_EQ(Tree("(0,1)\\cup(2,3)"), "(cup (() 0 1) (() 2 3))");
  EXPECT_EQ(Tree("y = 2x"), "(rel y = (* 2 x))");
  EXPECT_EQ(Tree("-2 \\le x < 7"), "(rel (- 2) <= x < 7)");
  EXPECT_EQ(Tree("x \\in [0, 1]"), "(rel x in ([] 0 1))");
  EXPECT_EQ(Tree("x \\approx 11"), "(rel x ~ 11)");
  EXPECT_EQ(Tree("f(x) = 1"), "(rel (f x) = 1)");
  EXPECT_EQ(Tree("1 \\pm \\sqrt2"), "(pm 1 (root 2 2))");
  EXPECT_EQ(Tree("x=1 \\text{ or } x=2"), "(list (rel x = 1) (rel x = 2))");
  EXPECT_EQ(Tree("1; 2"), "(list 1 2)");
  EXPECT_EQ(Tree("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"), "(matrix 2x2 1 2 3 4)");
  EXPECT_EQ(Tree("\\begin{array}{cc}1&0\\end{array}"), "(matrix 1x2 1 0)");
}

TEST(LatexParserTest, TrailingUnitsAreSetAside) {
  absl::StatusOr<ParsedAnswer> parsed = ParseLatexAnswer("12\\,\\mathrm{m}^2");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(DescribeLatexNode(parsed->root), "12");
  EXPECT_EQ(parsed->unit, "m^2");
  parsed = ParseLatexAnswer("5\\text{ cm}");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->unit, "cm");
  EXPECT_EQ(Tree("\\text{Evelyn}"), "\"Evelyn\"");
}

TEST(LatexParserTest, MalformedInputIsAnErrorNamingThePlace) {
  EXPECT_EQ(Tree("((x+1)"), "error: expected ')' or ']' at the end (offset 6)");
  EXPECT_EQ(Tree("\\frac{1}"), "error: expected an argument at the end (offset 8)");
  EXPECT_EQ(Tree("\\foo{x}"), "error: unknown command \\foo");
  EXPECT_EQ(Tree("x ="), "error: unexpected end at the end (offset 3)");
  EXPECT_EQ(Tree(""), "error: empty answer");
  EXPECT_EQ(Tree("\\begin{pmatrix}1&2\\\\3\\end{pmatrix}"),
            "error: matrix rows of different lengths near 'pmatrix' (offset 21)");
  EXPECT_EQ(Tree("\xFF"), "error: unexpected character '\xFF' at offset 0");
}

TEST(LatexParserTest, LimitsOnSizeAndNesting) {
  std::string deep = std::string(200, '(') + "1" + std::string(200, ')');
  EXPECT_EQ(Tree(deep).substr(0, 25), "error: nested too deeply ");
  std::string braces;
  for (int i = 0; i < 100; ++i) braces += "\\frac{1}{";
  braces += "2" + std::string(100, '}');
  EXPECT_EQ(Tree(braces).substr(0, 25), "error: nested too deeply ");
  std::string long_answer(kMaxLatexAnswerBytes + 1, '1');
  EXPECT_EQ(Tree(long_answer), "error: answer of 1025 bytes is over the limit of 1024");
  std::string many_terms;
  for (int i = 0; i < 450; ++i) many_terms += "x+";
  many_terms += "1";
  EXPECT_EQ(Tree(many_terms).substr(0, 23), "error: answer too large");
  EXPECT_EQ(Tree(std::string(401, '9')), "error: number too long at offset 401");
}

}  // namespace
}  // namespace chord::reward
