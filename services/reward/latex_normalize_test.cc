#include "services/reward/latex_normalize.h"

#include <gtest/gtest.h>

#include <string>

#include "services/reward/exact_rational.h"
#include "services/reward/math_expression.h"

namespace chord::reward {
namespace {

TEST(NormalizeLatexAnswerTest, RewritesToACanonicalForm) {
  EXPECT_EQ(NormalizeLatexAnswer("\\dfrac{1}{2}"), "\\frac{1}{2}");
  EXPECT_EQ(NormalizeLatexAnswer("\\tfrac 1 2"), "\\frac12");
  EXPECT_EQ(NormalizeLatexAnswer("\\left( 1 , 2 \\right)"), "(1,2)");
  EXPECT_EQ(NormalizeLatexAnswer("\\rightarrow"), "\\rightarrow");  // not \right + "arrow"
  EXPECT_EQ(NormalizeLatexAnswer("1\\!000\\,000"), "1000000");
  EXPECT_EQ(NormalizeLatexAnswer("\\text{Evelyn}"), "Evelyn");
  EXPECT_EQ(NormalizeLatexAnswer("5\\text{ cm}^2"), "5");
  EXPECT_EQ(NormalizeLatexAnswer("x\\text{ and }y"), "xandy");
  EXPECT_EQ(NormalizeLatexAnswer("$12$."), "12");
  EXPECT_EQ(NormalizeLatexAnswer("x = 5"), "5");
  EXPECT_EQ(NormalizeLatexAnswer("\\theta=\\pi"), "\\pi");
  EXPECT_EQ(NormalizeLatexAnswer("x_{1}=3"), "3");
  EXPECT_EQ(NormalizeLatexAnswer("x=1,y=2"), "x=1,y=2");  // two '=': left alone
  EXPECT_EQ(NormalizeLatexAnswer("{5}"), "5");
  EXPECT_EQ(NormalizeLatexAnswer("1,234,567.5"), "1234567.5");
  EXPECT_EQ(NormalizeLatexAnswer("1,23"), "1,23");  // not thousands: a list
  EXPECT_EQ(NormalizeLatexAnswer("45^{\\circ}"), "45");
  EXPECT_EQ(NormalizeLatexAnswer("2 \\cdot 3 \\div 4"), "2*3/4");
  EXPECT_EQ(NormalizeLatexAnswer("\\pi r^2"), "\\pi r^2");
  EXPECT_EQ(NormalizeLatexAnswer("a \\le b"), "a\\leq b");  // a space keeps \leq apart from b
  EXPECT_EQ(NormalizeLatexAnswer("\\{1,2\\}"), "\\{1,2\\}");
  EXPECT_EQ(NormalizeLatexAnswer("50\\%"), "50%");
  EXPECT_EQ(NormalizeLatexAnswer(""), "");
}

TEST(ExtractLastBoxedTest, FindsTheLastCompleteBox) {
  EXPECT_EQ(ExtractLastBoxed("a \\boxed{1} b \\boxed{\\frac{1}{2}} c"), "\\frac{1}{2}");
  EXPECT_EQ(ExtractLastBoxed("\\boxed{\\{1,2\\}}"), "\\{1,2\\}");
  EXPECT_EQ(ExtractLastBoxed("\\boxed{a}\\boxed{b"), "a");
  EXPECT_EQ(ExtractLastBoxed("$\\boxed 12$"), "12");
  EXPECT_EQ(ExtractLastBoxed("\\boxed{\\boxed{3}}"), "3");
  EXPECT_FALSE(ExtractLastBoxed("no box here").has_value());
  EXPECT_FALSE(ExtractLastBoxed("\\boxed{never closed").has_value());
  EXPECT_FALSE(ExtractLastBoxed("\\boxedx{1}").has_value());
}

TEST(MathExpressionTest, EvaluatesExactlyWhenItCan) {
  auto value = EvaluateMathExpression("\\frac{1}{2}+\\frac{1}{3}");
  ASSERT_TRUE(value.ok()) << value.status();
  ASSERT_TRUE(value->exact.has_value());
  EXPECT_EQ(value->exact->ToString(), "5/6");
  EXPECT_FALSE(value->has_decimal);

  value = EvaluateMathExpression("0.1+0.2");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->exact->ToString(), "3/10");
  EXPECT_TRUE(value->has_decimal);

  value = EvaluateMathExpression("2^{-2}");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->exact->ToString(), "1/4");

  value = EvaluateMathExpression("-2^2");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->exact->ToString(), "-4");

  value = EvaluateMathExpression("\\sqrt{\\frac{9}{4}}");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->exact->ToString(), "3/2");

  value = EvaluateMathExpression("25%");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->exact->ToString(), "1/4");

  value = EvaluateMathExpression("2(3+4)");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->exact->ToString(), "14");
}

TEST(MathExpressionTest, FallsBackToDoubles) {
  auto value = EvaluateMathExpression("\\sqrt{2}");
  ASSERT_TRUE(value.ok());
  EXPECT_FALSE(value->exact.has_value());
  EXPECT_NEAR(value->approx, 1.41421356, 1e-8);

  value = EvaluateMathExpression("\\sqrt[3]{-8}");
  ASSERT_TRUE(value.ok());
  EXPECT_NEAR(value->approx, -2.0, 1e-12);

  value = EvaluateMathExpression("10^{30}");  // too large for int64: inexact
  ASSERT_TRUE(value.ok());
  EXPECT_FALSE(value->exact.has_value());
  EXPECT_DOUBLE_EQ(value->approx, 1e30);
}

TEST(MathExpressionTest, RejectsWhatIsNotANumber) {
  for (const char* text : {"x+1", "1/0", "\\sqrt{-1}", "(1", "1)", "\\foo", "10^{100000}", "", "2^",
                           "\\frac{1}", "\\sqrt[1.5]{2}", "1..2"}) {
    EXPECT_FALSE(EvaluateMathExpression(text).ok()) << text;
  }
  std::string deep(100, '(');
  deep += "1" + std::string(100, ')');
  auto status = EvaluateMathExpression(deep).status();
  EXPECT_NE(status.message().find("nested too deeply"), std::string::npos) << status;
}

TEST(MathExpressionTest, ComparesValues) {
  auto v = [](const char* text) { return *EvaluateMathExpression(text); };
  EXPECT_EQ(CompareMathValues(v("3/4"), v("0.75"), 1e-6), ValueMatch::kExactEqual);
  EXPECT_EQ(CompareMathValues(v("\\sqrt{8}"), v("2\\sqrt{2}"), 1e-6), ValueMatch::kNumericEqual);
  EXPECT_EQ(CompareMathValues(v("1/3"), v("0.333"), 1e-6), ValueMatch::kNotEqual);
  // Exact values without decimals never use the tolerance.
  EXPECT_EQ(CompareMathValues(v("1000000001/1000000000"), v("1"), 1e-6), ValueMatch::kNotEqual);
}

TEST(RationalTest, ChecksOverflow) {
  Rational big = *Rational::Make(int64_t{1} << 62);
  EXPECT_FALSE(big.Mul(big).has_value());
  EXPECT_FALSE(big.Add(big).has_value());
  EXPECT_FALSE(Rational::Make(1, 0).has_value());
  EXPECT_FALSE(Rational::Make(1)->Div(*Rational::Make(0)).has_value());
  EXPECT_EQ(Rational::Make(6, -4)->ToString(), "-3/2");
  EXPECT_EQ(Rational::Make(2)->Pow(62)->ToString(), "4611686018427387904");
  EXPECT_FALSE(Rational::Make(2)->Pow(64).has_value());
  EXPECT_EQ(Rational::Make(2)->Pow(-3)->ToString(), "1/8");
  EXPECT_FALSE(Rational::Make(0)->Pow(-1).has_value());
  EXPECT_EQ(Rational::Make(49, 4)->ExactSqrt()->ToString(), "7/2");
  EXPECT_FALSE(Rational::Make(2)->ExactSqrt().has_value());
}

TEST(CompareNormalizedAnswersTest, ExplainsTheOutcome) {
  EXPECT_EQ(CompareNormalizedAnswers("(1,2)", "(1,3)", 1e-6).how,
            "element 2 of 2 differs (different integers)");
  EXPECT_EQ(CompareNormalizedAnswers("[1,2]", "(1,2)", 1e-6).how,
            "brackets [..] vs the reference's (..)");
  EXPECT_EQ(CompareNormalizedAnswers("Yes", "yes", 1e-6).how, "same words ignoring case");
  EXPECT_FALSE(CompareNormalizedAnswers("x", "5", 1e-6).equal);
}

}  // namespace
}  // namespace chord::reward
