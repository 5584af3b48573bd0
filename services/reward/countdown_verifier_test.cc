#include "services/reward/countdown_verifier.h"

#include <gtest/gtest.h>

#include <string>

namespace chord::reward {
namespace {

constexpr char kMeta[] = R"({"numbers": [3, 5, 7, 2], "target": 22})";

VerifierResult ScoreWithMeta(const std::string& response) {
  ScoreInput input;
  input.response = response;
  input.meta_json = kMeta;
  return CountdownVerifier().Score(input);
}

TEST(CountdownVerifierTest, AcceptsCorrectExpressions) {
  for (const char* response :
       {"<answer>3 * 5 + 7</answer>", "<think>try</think><answer>(3*5)+7</answer>",
        "so \\boxed{3 \\times 5 + 7}", "3*5+7 = 22", "22 = 7 + 3*5", "Final:\n(7 + 3 * 5)",
        "<answer>7 * 2 + 5 + 3</answer>", "<answer>-(2 - 7) * 5 - 3</answer>",
        "<answer>[7 * 2] + {5 + 3}.</answer>"}) {
    VerifierResult result = ScoreWithMeta(response);
    EXPECT_TRUE(result.correct) << response << ": " << result.reason;
    EXPECT_EQ(result.score, 1.0);
  }
  VerifierResult result = ScoreWithMeta("<answer>3 * 5 + 7</answer>");
  EXPECT_EQ(result.extracted, "3 * 5 + 7");
  EXPECT_EQ(result.reason,
            "expression \"3 * 5 + 7\" = 22 equals the target 22 (numbers [3, 5, 7, 2])");
}

TEST(CountdownVerifierTest, RejectsWrongOrInvalidExpressions) {
  struct Case {
    const char* response;
    const char* reason_part;
  };
  for (const Case& c : {
           Case{"<answer>3 * 5 + 2</answer>", "does not equal the target 22"},
           Case{"<answer>3 * 5 + 8</answer>", "uses 8"},
           Case{"<answer>3 * 5 + 7 +</answer>", "cannot parse"},
           Case{"<answer>3 ** 5</answer>", "cannot parse"},
           Case{"<answer>5 + 5 + 7 + 5</answer>", "uses 5, which is not among"},
           Case{"<answer>7 / (5 - 3 - 2)</answer>", "division by zero"},
           Case{"<answer>(5 + 7 - 2) * 2 + 2</answer>", "uses 2, which is not among"},
           Case{"<answer>2.5 * 4</answer>", "only integers"},
           Case{"<answer>import os</answer>", "cannot parse"},
           Case{"<answer></answer>", "no expression found"},
           Case{"<answer>1 = 2 = 3</answer>", "more than one '='"},
           Case{"", "no expression found"},
       }) {
    VerifierResult result = ScoreWithMeta(c.response);
    EXPECT_FALSE(result.correct) << c.response;
    EXPECT_EQ(result.score, 0.0);
    EXPECT_NE(result.reason.find(c.reason_part), std::string::npos)
        << c.response << ": " << result.reason;
  }
}

TEST(CountdownVerifierTest, ExactRationalArithmetic) {
  ScoreInput input;
  input.meta_json = R"({"numbers": [7, 2, 2], "target": 7})";
  input.response = "<answer>7 / 2 * 2</answer>";
  EXPECT_TRUE(CountdownVerifier().Score(input).correct);
  input.meta_json = R"({"numbers": [1, 3, 3], "target": 1})";
  input.response = "<answer>1 / 3 * 3</answer>";  // exactly 1, not 0.999..
  EXPECT_TRUE(CountdownVerifier().Score(input).correct);
  input.meta_json = R"({"numbers": [999999999999999999, 999999999999999999], "target": 1})";
  input.response = "<answer>999999999999999999 * 999999999999999999</answer>";
  VerifierResult result = CountdownVerifier().Score(input);
  EXPECT_FALSE(result.correct);
  EXPECT_NE(result.reason.find("overflow"), std::string::npos) << result.reason;
}

TEST(CountdownVerifierTest, TaskFromReferenceOrPrompt) {
  ScoreInput input;
  input.response = "<answer>44 + 19 + 35</answer>";
  input.reference = "numbers=[44, 19, 35];target=98";
  EXPECT_TRUE(CountdownVerifier().Score(input).correct);

  input.reference = "98";
  input.prompt = "Using the numbers [44, 19, 35], create an equation that equals 1.";
  VerifierResult result = CountdownVerifier().Score(input);  // target from the reference wins
  EXPECT_TRUE(result.correct) << result.reason;

  input.reference = "";
  input.prompt = "Using the numbers [44, 19, 35], create an equation that equals 98.";
  absl::StatusOr<CountdownTask> task = ParseCountdownTask(input);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->numbers, (std::vector<int64_t>{44, 19, 35}));
  EXPECT_EQ(task->target, 98);
  EXPECT_TRUE(CountdownVerifier().Score(input).correct);
}

TEST(CountdownVerifierTest, ValidateTaskNamesTheField) {
  CountdownVerifier verifier;
  ScoreInput input;
  input.meta_json = "[1, 2]";
  EXPECT_EQ(verifier.ValidateTask(input).message(), "meta_json: not a JSON object");
  input.meta_json = "{not json";
  EXPECT_EQ(verifier.ValidateTask(input).message().substr(0, 24), "meta_json: invalid JSON:");
  input.meta_json = R"({"numbers": "1,2", "target": 3})";
  EXPECT_EQ(verifier.ValidateTask(input).message(),
            "meta_json: \"numbers\" must be an array of integers");
  input.meta_json = R"({"numbers": [1, 2.5], "target": 3})";
  EXPECT_EQ(verifier.ValidateTask(input).code(), absl::StatusCode::kInvalidArgument);
  input.meta_json = "";
  input.reference = "numbers=1,2;goal=3";
  EXPECT_EQ(verifier.ValidateTask(input).message().substr(0, 11), "reference: ");
  input.reference = "";
  EXPECT_EQ(verifier.ValidateTask(input).message().substr(0, 33),
            "meta_json: no countdown numbers (");
  input.meta_json = R"({"nums": [1, 2], "target": 3})";
  EXPECT_TRUE(verifier.ValidateTask(input).ok());
}

// Floats outside int64_t's range were converted before the range check (undefined behaviour, a
// failure under UBSan); they are refused like any other non-integer.
TEST(CountdownVerifierTest, RefusesFloatsOutsideTheIntegerRange) {
  CountdownVerifier verifier;
  ScoreInput input;
  for (const char* meta :
       {R"({"numbers": [1e300], "target": 3})", R"({"numbers": [-1e19], "target": 3})",
        R"({"numbers": [1, 2], "target": 9.3e18})", R"({"numbers": [1, 2], "target": 1e400})"}) {
    SCOPED_TRACE(meta);
    input.meta_json = meta;
    const absl::Status status = verifier.ValidateTask(input);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message().substr(0, 10), "meta_json:");
  }
  input.meta_json = R"({"numbers": [3.0, 5, 7, 2], "target": 22.0})";
  EXPECT_TRUE(verifier.ValidateTask(input).ok());
}

// meta_json's nesting is bounded with a clear error (not left to grow the parser's memory).
TEST(CountdownVerifierTest, RefusesDeeplyNestedMeta) {
  CountdownVerifier verifier;
  ScoreInput input;
  const std::string deep = R"({"numbers": [1, 2], "target": 3, "x": )" + std::string(100000, '[') +
                           std::string(100000, ']') + "}";
  input.meta_json = deep;
  EXPECT_EQ(verifier.ValidateTask(input).message(),
            "meta_json: arrays and objects nested deeper than 64 levels");
  input.response = "1+2";
  EXPECT_EQ(verifier.Score(input).score, 0.0);
  // Brackets inside strings are text, and 64 levels are fine.
  const std::string strings =
      R"({"numbers": [1, 2], "target": 3, "x": ")" + std::string(1000, '[') + R"(\"["})";
  input.meta_json = strings;
  EXPECT_TRUE(verifier.ValidateTask(input).ok());
  const std::string ok = R"({"numbers": [1, 2], "target": 3, "x": )" + std::string(63, '[') +
                         std::string(63, ']') + "}";
  input.meta_json = ok;
  EXPECT_TRUE(verifier.ValidateTask(input).ok());
  EXPECT_EQ(verifier.Score(input).score, 1.0);
}

}  // namespace
}  // namespace chord::reward
