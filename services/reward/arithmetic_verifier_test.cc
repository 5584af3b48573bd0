#include "services/reward/arithmetic_verifier.h"

#include <gtest/gtest.h>

namespace chord::reward {
namespace {

struct ArithmeticCase {
  const char* response;
  const char* reference;
  bool correct;
  const char* extracted;
};

const ArithmeticCase kCases[] = {
    {"3 + 4 = 7, so the result is \\boxed{7}", "7", true, "7"},
    {"\\boxed{8}", "7", false, "8"},
    {"\\boxed{\\$1,234}", "1234", true, "\\$1,234"},
    {"Natalia sold 48/2 = 24 clips in May.\n#### 72", "72", true, "72"},
    {"#### 1,000", "1000", true, "1,000"},
    {"#### +0012", "12", true, "+0012"},
    {"The answer is 42.", "42", true, "42"},
    {"Answer: -5", "-5", true, "-5"},
    {"answer: 5 (that is, five apples, 3 red)", "5", true, "5"},
    {"So 6 * 7 = 42", "42", true, "42"},
    {"I counted 3 then 4 then 12", "12", true, "12"},
    {"First 3, finally 5 - 2", "3", false, "2"},
    {"\\boxed{42.0}", "42", false, "42.0"},
    {"The answer is 3.5", "3", false, "3.5"},
    {"#### 72", "#### 72", true, "72"},
    {"\\boxed{x}", "1", false, "x"},
    {"no digits at all", "1", false, ""},
    {"#### none", "1", false, ""},
    {"The difference is -3", "-3", true, "-3"},
    {"1,2,3", "3", true, "3"},
};

TEST(ArithmeticVerifierTest, Cases) {
  ArithmeticVerifier verifier;
  for (const ArithmeticCase& c : kCases) {
    ScoreInput input;
    input.response = c.response;
    input.reference = c.reference;
    VerifierResult result = verifier.Score(input);
    EXPECT_EQ(result.correct, c.correct)
        << c.response << " vs " << c.reference << ": " << result.reason;
    EXPECT_EQ(result.extracted, c.extracted) << c.response << ": " << result.reason;
    EXPECT_FALSE(result.reason.empty());
  }
}

TEST(ArithmeticVerifierTest, ReasonNamesTheSource) {
  ArithmeticVerifier verifier;
  ScoreInput input;
  input.reference = "72";
  input.response = "... #### 71";
  EXPECT_EQ(verifier.Score(input).reason,
            "extracted \"71\" from the last #### does not equal reference 72");
  input.response = "the total is 2 + 70 = 72.";
  EXPECT_EQ(verifier.Score(input).reason,
            "extracted \"72\" from the final \"= N\" equals reference 72");
  input.response = "\\boxed{72.5}";
  EXPECT_EQ(verifier.Score(input).reason,
            "extracted \"72.5\" from the last \\boxed{}: a decimal, not an integer");
}

TEST(ArithmeticVerifierTest, ValidateTaskRejectsNonIntegerReferences) {
  ArithmeticVerifier verifier;
  ScoreInput input;
  for (const char* bad : {"", "3.5", "seven", "1/2"}) {
    input.reference = bad;
    absl::Status status = verifier.ValidateTask(input);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(status.message().substr(0, 11), "reference: ") << status;
  }
  for (const char* good : {"7", "-7", "1,234", "The answer\n#### 12"}) {
    input.reference = good;
    EXPECT_TRUE(verifier.ValidateTask(input).ok()) << good;
  }
}

}  // namespace
}  // namespace chord::reward
