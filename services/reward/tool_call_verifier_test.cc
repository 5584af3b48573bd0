#include "services/reward/tool_call_verifier.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"

namespace chord::reward {
namespace {

struct ToolCase {
  const char* name;
  const char* response;
  const char* reference;
  bool correct;
};

constexpr char kWeather[] =
    R"([{"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}])";
constexpr char kTwoCalls[] =
    R"([{"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "get_time", "arguments": {"tz": "CET"}}])";

const ToolCase kCases[] = {
    {"tags",
     R"(<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}</tool_call>)",
     kWeather, true},
    {"json list", R"([{"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}])",
     kWeather, true},
    {"single json object",
     R"({"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}})", kWeather, true},
    {"argument key order",
     R"([{"name": "get_weather", "arguments": {"unit": "C", "city": "Paris"}}])", kWeather, true},
    {"arguments as a JSON string",
     R"([{"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"unit\": \"C\"}"}])",
     kWeather, true},
    {"openai function wrapper",
     R"([{"type": "function", "function": {"name": "get_weather", "arguments": "{\"unit\":\"C\",\"city\":\"Paris\"}"}}])",
     kWeather, true},
    {"parameters key", R"([{"name": "get_weather", "parameters": {"city": "Paris", "unit": "C"}}])",
     kWeather, true},
    {"text around a json list",
     "Sure, calling the tool:\n[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", "
     "\"unit\": \"C\"}}]\nDone.",
     kWeather, true},
    {"fenced block",
     "```json\n[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": "
     "\"C\"}}]\n```",
     kWeather, true},
    {"after think",
     "<think>I need [weather] data {maybe}</think>\n"
     "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": "
     "\"C\"}}\n</tool_call>",
     kWeather, true},
    {"wrong argument value",
     R"([{"name": "get_weather", "arguments": {"city": "Lyon", "unit": "C"}}])", kWeather, false},
    {"missing argument", R"([{"name": "get_weather", "arguments": {"city": "Paris"}}])", kWeather,
     false},
    {"extra argument",
     R"([{"name": "get_weather", "arguments": {"city": "Paris", "unit": "C", "days": 3}}])",
     kWeather, false},
    {"wrong name", R"([{"name": "get_forecast", "arguments": {"city": "Paris", "unit": "C"}}])",
     kWeather, false},
    {"number types: 1 vs 1.0", R"([{"name": "f", "arguments": {"x": 1.0}}])",
     R"([{"name": "f", "arguments": {"x": 1}}])", true},
    {"string vs number", R"([{"name": "f", "arguments": {"x": "1"}}])",
     R"([{"name": "f", "arguments": {"x": 1}}])", false},
    {"nested arguments",
     R"([{"name": "book", "arguments": {"trip": {"legs": [{"from": "A", "to": "B"}], "pax": 2}}}])",
     R"([{"name": "book", "arguments": {"trip": {"pax": 2, "legs": [{"to": "B", "from": "A"}]}}}])",
     true},
    {"nested list order matters", R"([{"name": "f", "arguments": {"ids": [2, 1]}}])",
     R"([{"name": "f", "arguments": {"ids": [1, 2]}}])", false},
    {"two calls in another order",
     R"(<tool_call>{"name": "get_time", "arguments": {"tz": "CET"}}</tool_call>
<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>)",
     kTwoCalls, true},
    {"one call missing", R"([{"name": "get_time", "arguments": {"tz": "CET"}}])", kTwoCalls, false},
    {"extra call",
     R"([{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time", "arguments": {"tz": "CET"}}, {"name": "noop", "arguments": {}}])",
     kTwoCalls, false},
    {"duplicated call",
     R"([{"name": "get_time", "arguments": {"tz": "CET"}}, {"name": "get_time", "arguments": {"tz": "CET"}}])",
     R"([{"name": "get_time", "arguments": {"tz": "CET"}}])", false},
    {"duplicated call expected twice",
     R"([{"name": "get_time", "arguments": {"tz": "CET"}}, {"name": "get_time", "arguments": {"tz": "CET"}}])",
     R"([{"name": "get_time", "arguments": {"tz": "CET"}}, {"name": "get_time", "arguments": {"tz": "CET"}}])",
     true},
    {"malformed json", R"([{"name": "get_weather", "arguments": {"city": "Paris",}])", kWeather,
     false},
    {"malformed json in a tag", R"(<tool_call>{"name": "get_weather", </tool_call>)", kWeather,
     false},
    {"unclosed tag", R"(<tool_call>{"name": "get_weather", "arguments": {}})", kWeather, false},
    {"call without a name", R"([{"arguments": {"city": "Paris"}}])", kWeather, false},
    {"arguments string that is not JSON", R"([{"name": "f", "arguments": "city=Paris"}])",
     R"([{"name": "f", "arguments": {"city": "Paris"}}])", false},
    {"no call made", "The weather in Paris is nice.", kWeather, false},
    {"no call expected, none made", "I can answer directly: 4.", "[]", true},
    {"no call expected, one made", R"([{"name": "f", "arguments": {}}])", "[]", false},
    {"missing arguments equal {}", R"([{"name": "f"}])", R"([{"name": "f", "arguments": {}}])",
     true},
    {"null arguments equal {}", R"([{"name": "f", "arguments": null}])",
     R"(<tool_call>{"name": "f", "arguments": {}}</tool_call>)", true},
    {"unicode arguments", R"([{"name": "f", "arguments": {"city": "Z\u00fcrich"}}])",
     "[{\"name\": \"f\", \"arguments\": {\"city\": \"Z\xC3\xBCrich\"}}]", true},
};

TEST(ToolCallVerifierTest, Cases) {
  ToolCallVerifier verifier;
  int count = 0;
  for (const ToolCase& c : kCases) {
    ScoreInput input;
    input.response = c.response;
    input.reference = c.reference;
    ASSERT_TRUE(verifier.ValidateTask(input).ok()) << c.name;
    VerifierResult result = verifier.Score(input);
    EXPECT_EQ(result.correct, c.correct) << c.name << ": " << result.reason;
    EXPECT_EQ(result.score, c.correct ? 1.0 : 0.0) << c.name;
    EXPECT_FALSE(result.reason.empty()) << c.name;
    ++count;
  }
  EXPECT_GE(count, 20);
}

TEST(ToolCallVerifierTest, ReasonsExplainTheDifference) {
  ToolCallVerifier verifier;
  ScoreInput input;
  input.reference = kTwoCalls;
  input.response = R"([{"name": "get_weather", "arguments": {"city": "Lyon"}}])";
  VerifierResult result = verifier.Score(input);
  EXPECT_EQ(result.reason,
            "1 call(s) vs 2 in the reference: call get_weather has arguments {\"city\":\"Lyon\"}, "
            "the reference has {\"city\":\"Paris\"}; missing call get_time{\"tz\":\"CET\"}");
  EXPECT_EQ(result.extracted, R"([{"arguments":{"city":"Lyon"},"name":"get_weather"}])");

  input.response = R"([{"name": "get_time", "arguments": {"tz": "CET"}},
                       {"name": "get_weather", "arguments": {"city": "Paris"}}])";
  result = verifier.Score(input);
  EXPECT_EQ(result.reason, "2 call(s) from JSON match the reference: get_time, get_weather");

  input.response = R"([{"name": "get_weather", "arguments": {"city": "Paris",}])";
  result = verifier.Score(input);
  EXPECT_TRUE(absl::StartsWith(result.reason, "malformed tool calls: invalid JSON: "))
      << result.reason;
}

TEST(ToolCallVerifierTest, DeepJsonIsRejectedWithoutRecursion) {
  std::string deep = R"([{"name": "f", "arguments": )" + std::string(100000, '[') +
                     std::string(100000, ']') + "}]";
  ScoreInput input;
  input.response = deep;
  input.reference = R"([{"name": "f", "arguments": {}}])";
  VerifierResult result = ToolCallVerifier().Score(input);
  EXPECT_FALSE(result.correct);
  EXPECT_NE(result.reason.find("nested deeper than 32"), std::string::npos) << result.reason;
}

TEST(ToolCallVerifierTest, ValidateTaskNeedsAParseableReference) {
  ToolCallVerifier verifier;
  ScoreInput input;
  input.reference = "";
  EXPECT_EQ(verifier.ValidateTask(input).message(),
            "reference: no tool calls found (use [] when no call is expected)");
  input.reference = "[{\"name\": ";
  EXPECT_TRUE(absl::StartsWith(verifier.ValidateTask(input).message(), "reference: invalid JSON"));
  input.reference = "[]";
  EXPECT_TRUE(verifier.ValidateTask(input).ok());
}

}  // namespace
}  // namespace chord::reward
