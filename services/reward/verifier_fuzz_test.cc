// Garbage in, a score out: thousands of random, malformed, huge and deeply nested responses go
// through every built-in verifier, which must return (no crash, no hang, no exception) with a
// score in {0, 1}, a reason, and bounded output.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "services/reward/reason_text.h"
#include "services/reward/verifier_registry.h"

namespace chord::reward {
namespace {

// Fragments that steer random text into the parsers' interesting paths.
const std::vector<std::string>& Fragments() {
  static const auto* fragments = new std::vector<std::string>{"\\boxed{",
                                                              "}",
                                                              "{",
                                                              "\\frac",
                                                              "\\sqrt",
                                                              "[",
                                                              "]",
                                                              "(",
                                                              ")",
                                                              "\\left",
                                                              "\\right",
                                                              "^",
                                                              "^{",
                                                              "\\pi",
                                                              "%",
                                                              "\\%",
                                                              "$",
                                                              "\\text{",
                                                              "\\!",
                                                              "\\,",
                                                              "=",
                                                              "x=",
                                                              ",",
                                                              ".",
                                                              "-",
                                                              "+",
                                                              "*",
                                                              "/",
                                                              "0",
                                                              "7",
                                                              "99999999999999999999",
                                                              "3.14",
                                                              "<think>",
                                                              "</think>",
                                                              "<answer>",
                                                              "</answer>",
                                                              "<tool_call>",
                                                              "</tool_call>",
                                                              "\"name\"",
                                                              ":",
                                                              "\"f\"",
                                                              "\"arguments\"",
                                                              "\\u00",
                                                              "\"",
                                                              "\\",
                                                              "####",
                                                              "answer:",
                                                              "\n",
                                                              " ",
                                                              "\xC3",
                                                              "\xFF",
                                                              "\xE2\x88\x92",
                                                              "\\infty",
                                                              "\\cup",
                                                              "\\{",
                                                              "\\}",
                                                              "null",
                                                              "true",
                                                              "1e309",
                                                              "\\dfrac12",
                                                              "2^{99999}",
                                                              "\\sqrt[3]",
                                                              "10^{-400}",
                                                              "nan",
                                                              "```json\n",
                                                              "```"};
  return *fragments;
}

std::string RandomText(std::mt19937& rng, size_t max_pieces) {
  std::uniform_int_distribution<size_t> pieces(0, max_pieces);
  std::uniform_int_distribution<int> kind(0, 3);
  std::uniform_int_distribution<size_t> pick(0, Fragments().size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string text;
  size_t n = pieces(rng);
  for (size_t i = 0; i < n; ++i) {
    if (kind(rng) == 0) {
      text.push_back(static_cast<char>(byte(rng)));
    } else {
      text += Fragments()[pick(rng)];
    }
  }
  return text;
}

void ExpectSane(const Verifier& verifier, const ScoreInput& input) {
  VerifierResult result = verifier.Score(input);
  EXPECT_TRUE(result.score == 0.0 || result.score == 1.0) << verifier.name();
  EXPECT_EQ(result.correct, result.score == 1.0) << verifier.name();
  EXPECT_FALSE(result.reason.empty()) << verifier.name();
  EXPECT_LE(result.extracted.size(), 64u * 1024) << verifier.name();
}

// Task parts each verifier accepts, so that the response is what varies.
ScoreInput ValidTask(absl::string_view verifier) {
  ScoreInput input;
  if (verifier == "countdown") {
    input.meta_json = R"({"numbers": [3, 5, 7, 2], "target": 22})";
    input.reference = "22";
  } else if (verifier == "tool_call") {
    input.reference = R"([{"name": "f", "arguments": {"x": 1}}])";
  } else {
    input.reference = "\\frac{3}{4}";
    if (verifier == "arithmetic") input.reference = "12";
  }
  return input;
}

TEST(VerifierFuzzTest, RandomTextNeverBreaksAVerifier) {
  auto registry = VerifierRegistry::CreateDefault();
  std::mt19937 rng(20240601);
  for (const Verifier* verifier : registry->List()) {
    for (int i = 0; i < 3000; ++i) {
      std::string response = RandomText(rng, 40);
      ScoreInput input = ValidTask(verifier->name());
      input.response = response;
      ExpectSane(*verifier, input);
    }
  }
}

TEST(VerifierFuzzTest, RandomTasksNeverBreakAVerifier) {
  // Score must cope even with task parts that ValidateTask would reject.
  auto registry = VerifierRegistry::CreateDefault();
  std::mt19937 rng(7);
  for (const Verifier* verifier : registry->List()) {
    for (int i = 0; i < 1000; ++i) {
      std::string response = RandomText(rng, 20);
      std::string reference = RandomText(rng, 10);
      std::string meta = RandomText(rng, 10);
      std::string prompt = RandomText(rng, 10);
      ScoreInput input{prompt, response, reference, meta};
      (void)verifier->ValidateTask(input);
      ExpectSane(*verifier, input);
    }
  }
}

TEST(VerifierFuzzTest, HugeAndDeeplyNestedInputsAreBounded) {
  auto registry = VerifierRegistry::CreateDefault();
  const size_t kSize = 64 * 1024;
  std::vector<std::string> responses = {
      std::string(kSize, '{'),
      std::string(kSize, '['),
      std::string(kSize / 2, '(') + std::string(kSize / 2, ')'),
      "\\boxed{" + std::string(kSize, '{'),
      "\\boxed{" + std::string(2000, '(') + "1" + std::string(2000, ')') + "}",
      "\\boxed{" + std::string(1000, '-') + "1}",
      "\\boxed{2" + std::string(500, '^') + "2}",
      std::string(kSize / 8, '\\') + std::string(kSize / 8, '{'),
      "<answer>" + std::string(400, '(') + "3" + std::string(400, ')') + "</answer>",
      "<answer>" + std::string(200, '-') + "3</answer>",
      std::string(kSize / 11, ' ') + std::string(kSize / 11, '9'),
      "<tool_call>" + std::string(kSize, '[') + "</tool_call>",
      "[{\"name\": \"f\", \"arguments\": \"" + std::string(kSize / 2, '[') + "\"}]",
      std::string(kSize / 8, '\xFF') + "\\boxed{\xC3}",
  };
  std::string repeated;
  while (repeated.size() < kSize) repeated += "\\boxed{\\frac{1}{2}} #### 12 <think></think> ";
  responses.push_back(repeated);
  for (const Verifier* verifier : registry->List()) {
    for (const std::string& response : responses) {
      ScoreInput input = ValidTask(verifier->name());
      input.response = response;
      ExpectSane(*verifier, input);
    }
  }
}

}  // namespace
}  // namespace chord::reward
