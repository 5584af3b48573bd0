#include "services/reward/math_boxed_verifier.h"

#include <gtest/gtest.h>

#include <string>

namespace chord::reward {
namespace {

struct MathCase {
  const char* response;
  const char* reference;
  bool correct;
};

// Each case is a whole response (most with a few words before the box) and a reference.
const MathCase kCases[] = {
    // Integers.
    {"The answer is \\boxed{42}.", "42", true},
    {"\\boxed{42}", "43", false},
    {"\\boxed{-7}", "-7", true},
    {"\\boxed{-7}", "7", false},
    {"\\boxed{+5}", "5", true},
    {"\\boxed{007}", "7", true},
    {"\\boxed{1,234}", "1234", true},
    {"\\boxed{1{,}234{,}567}", "1234567", true},
    {"\\boxed{123456789012345678901234567890}", "123456789012345678901234567890", true},
    {"\\boxed{123456789012345678901234567891}", "123456789012345678901234567890", false},
    // Decimals.
    {"\\boxed{0.75}", "0.75", true},
    {"\\boxed{.5}", "0.5", true},
    {"\\boxed{2.50}", "2.5", true},
    {"\\boxed{3.0}", "3", true},
    {"\\boxed{0.33}", "\\frac{1}{3}", false},
    {"\\boxed{0.3333333}", "\\frac{1}{3}", true},  // within the 1e-6 relative tolerance
    {"\\boxed{3.14159265}", "\\pi", true},
    {"\\boxed{3.14}", "\\pi", false},
    // Fractions: \frac, \dfrac, \tfrac, a/b.
    {"\\boxed{\\frac{3}{4}}", "0.75", true},
    {"\\boxed{3/4}", "0.75", true},
    {"\\boxed{\\dfrac{3}{4}}", "\\frac{3}{4}", true},
    {"\\boxed{\\tfrac{3}{4}}", "3/4", true},
    {"\\boxed{\\frac{6}{8}}", "\\frac{3}{4}", true},
    {"\\boxed{\\frac34}", "\\frac{3}{4}", true},
    {"\\boxed{\\frac{3}{4}}", "\\frac{4}{3}", false},
    {"\\boxed{-\\frac{1}{2}}", "\\frac{-1}{2}", true},
    {"\\boxed{\\frac{1}{2}}", "-\\frac{1}{2}", false},
    {"\\boxed{\\frac{\\frac{1}{2}}{3}}", "1/6", true},
    // Square roots.
    {"\\boxed{\\sqrt{8}}", "2\\sqrt{2}", true},
    {"\\boxed{\\sqrt{16}}", "4", true},
    {"\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{1}{2}\\sqrt{3}", true},
    {"\\boxed{\\sqrt{2}}", "\\sqrt{3}", false},
    {"\\boxed{\\sqrt2}", "\\sqrt{2}", true},
    {"\\boxed{3\\sqrt{2}}", "\\sqrt{18}", true},
    // Tuples and intervals, in order, brackets must match.
    {"\\boxed{(1, 2)}", "(1,2)", true},
    {"\\boxed{(2, 1)}", "(1,2)", false},
    {"\\boxed{(\\frac{1}{2}, 3)}", "(0.5, 3)", true},
    {"\\boxed{[1, 2)}", "[1,2)", true},
    {"\\boxed{[1, 2]}", "[1,2)", false},
    {"\\boxed{(-\\infty, 3]}", "(-\\infty,3]", true},
    {"\\boxed{(1,2,3)}", "(1,2)", false},
    {"\\boxed{(0,1)\\cup(2,3)}", "(0,1) \\cup (2,3)", true},
    {"\\boxed{1, 2}", "1,2", true},
    // \left \right, spacing commands, \text, $.
    {"\\boxed{\\left( 1, 2 \\right)}", "(1,2)", true},
    {"\\boxed{\\left[\\frac{1}{2}, 1\\right]}", "[0.5,1]", true},
    {"\\boxed{1\\!000}", "1000", true},
    {"\\boxed{\\frac{1}{2}\\,}", "0.5", true},
    {"\\boxed{\\text{Evelyn}}", "Evelyn", true},
    {"\\boxed{\\text{Evelyn}}", "Bob", false},
    {"\\boxed{5\\text{ cm}}", "5", true},
    {"\\boxed{90^\\circ}", "90", true},
    {"\\boxed{$12$}", "12", true},
    {"\\boxed{\\$12}", "12", true},
    {"\\boxed{50\\%}", "50", true},
    {"\\boxed{50\\%}", "0.5", true},
    // Trailing period, leading x=.
    {"\\boxed{12.}", "12", true},
    {"\\boxed{x = 5}", "5", true},
    {"\\boxed{x=5}", "x=6", false},
    {"\\boxed{y=2x+3}", "2x+3", true},
    {"\\boxed{x_1 = \\frac{1}{2}}", "0.5", true},
    // Nested braces and the last box.
    {"\\boxed{\\frac{1}{\\sqrt{4}}}", "0.5", true},
    {"First \\boxed{1}, then correcting: \\boxed{2}", "2", true},
    {"First \\boxed{2}, then changing my mind: \\boxed{1}", "2", false},
    {"\\boxed{2} and an unclosed \\boxed{3", "2", true},
    {"\\boxed 7", "7", true},
    {"\\fbox{7}", "7", true},
    // References given as solutions, LaTeX on the reference side.
    {"\\boxed{4}", "So the total is $\\boxed{4}$.", true},
    {"\\boxed{0.25}", "\\dfrac{1}{4}", true},
    // Expressions with variables compare as normalised text.
    {"\\boxed{x^2 + 1}", "x^2+1", true},
    {"\\boxed{x^2 + 2}", "x^2+1", false},
    // Powers, pi, products.
    {"\\boxed{2^{10}}", "1024", true},
    {"\\boxed{2\\pi}", "2\\pi", true},
    {"\\boxed{\\frac{\\pi}{2}}", "\\pi/2", true},
    {"\\boxed{2 \\cdot 3}", "6", true},
    {"\\boxed{2 \\times 3}", "7", false},
    // Unicode forms.
    {"\\boxed{\xE2\x88\x92"
     "3}",
     "-3", true},
    {"\\boxed{\xCF\x80}", "\\pi", true},
    // No box, empty box.
    {"The answer is 42.", "42", false},
    {"\\boxed{}", "42", false},
    {"", "1", false},
};

TEST(MathBoxedVerifierTest, Cases) {
  MathBoxedVerifier verifier;
  int count = 0;
  for (const MathCase& c : kCases) {
    ScoreInput input;
    input.response = c.response;
    input.reference = c.reference;
    VerifierResult result = verifier.Score(input);
    EXPECT_EQ(result.correct, c.correct)
        << "response: " << c.response << "\nreference: " << c.reference
        << "\nreason: " << result.reason;
    EXPECT_EQ(result.score, c.correct ? 1.0 : 0.0);
    EXPECT_FALSE(result.reason.empty());
    ++count;
  }
  EXPECT_GE(count, 60);
}

TEST(MathBoxedVerifierTest, ReasonSaysWhatWasExtractedAndWhy) {
  MathBoxedVerifier verifier;
  ScoreInput input;
  input.response = "so we get \\boxed{3/4}";
  input.reference = "0.75";
  VerifierResult result = verifier.Score(input);
  EXPECT_TRUE(result.correct);
  EXPECT_EQ(result.extracted, "3/4");
  EXPECT_EQ(result.reason, "extracted \"3/4\" equals reference \"0.75\" (equal exact values)");

  input.response = "\\boxed{0.8}";
  result = verifier.Score(input);
  EXPECT_FALSE(result.correct);
  EXPECT_EQ(result.reason,
            "extracted \"0.8\" does not equal reference \"0.75\" (values differ: 4/5 vs 3/4)");

  input.response = "I think it is 0.75";
  result = verifier.Score(input);
  EXPECT_EQ(result.reason, "no \\boxed{} answer found");
  EXPECT_EQ(result.extracted, "");
}

TEST(MathBoxedVerifierTest, ToleranceIsAnOption) {
  ScoreInput input;
  input.response = "\\boxed{3.14}";
  input.reference = "\\pi";
  EXPECT_FALSE(MathBoxedVerifier().Score(input).correct);
  EXPECT_TRUE(MathBoxedVerifier(MathBoxedOptions{0.01}).Score(input).correct);
}

TEST(MathBoxedVerifierTest, OverlongBoxScoresZero) {
  std::string response = "\\boxed{" + std::string(5000, '1') + "}";
  ScoreInput input;
  input.response = response;
  input.reference = "1";
  VerifierResult result = MathBoxedVerifier().Score(input);
  EXPECT_FALSE(result.correct);
  EXPECT_NE(result.reason.find("over the limit"), std::string::npos) << result.reason;
  EXPECT_LE(result.extracted.size(), 1024u);
}

TEST(MathBoxedVerifierTest, ValidateTaskNamesTheReference) {
  MathBoxedVerifier verifier;
  ScoreInput input;
  input.reference = "  ";
  absl::Status status = verifier.ValidateTask(input);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "reference: empty answer");
  input.reference = "12";
  EXPECT_TRUE(verifier.ValidateTask(input).ok());
}

}  // namespace
}  // namespace chord::reward
