#include "common/dataset/json_line.h"

#include <gtest/gtest.h>

#include <string>

namespace chord::dataset {
namespace {

std::string Compact(absl::string_view text) {
  auto value = ParseJsonLine(text);
  EXPECT_TRUE(value.ok()) << value.status();
  if (!value.ok()) return "";
  std::string out;
  AppendCompactJson(*value, &out);
  return out;
}

std::string ErrorOf(absl::string_view text) {
  auto value = ParseJsonLine(text);
  EXPECT_FALSE(value.ok()) << text;
  return value.ok() ? "" : std::string(value.status().message());
}

TEST(JsonLineTest, ParsesEveryValueType) {
  auto value = ParseJsonLine(
      R"( {"s":"a\"b\\c\/\n\t\u00e9\ud83d\ude00","n":-12.5e+3,"t":true,"f":false,"z":null,)"
      R"("a":[1,[],{}],"o":{"k":"v"}} )");
  ASSERT_TRUE(value.ok()) << value.status();
  ASSERT_TRUE(value->is_object());
  const auto& members = value->members();
  ASSERT_EQ(members.size(), 7u);
  EXPECT_EQ(members[0].first, "s");
  EXPECT_EQ(members[0].second.string(), "a\"b\\c/\n\té\U0001F600");
  EXPECT_EQ(members[1].second.type(), JsonValue::Type::kNumber);
  EXPECT_EQ(members[1].second.raw(), "-12.5e+3");
  EXPECT_TRUE(members[2].second.boolean());
  EXPECT_FALSE(members[3].second.boolean());
  EXPECT_TRUE(members[4].second.is_null());
  EXPECT_EQ(members[5].second.items().size(), 3u);
  EXPECT_EQ(members[6].second.raw(), R"({"k":"v"})");
}

TEST(JsonLineTest, KeepsRawUtf8) {
  auto value = ParseJsonLine("\"数学 café\"");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->string(), "数学 café");
}

TEST(JsonLineTest, CompactFormKeepsNumbersAndEscapesMinimally) {
  EXPECT_EQ(Compact(R"( { "a" : [ 1 , 2.50 , -0 ] , "b" : { } , "c" : "x\ny\"\u0001é" } )"),
            R"({"a":[1,2.50,-0],"b":{},"c":"x\ny\"\u0001é"})");
  EXPECT_EQ(Compact("[true,false,null]"), "[true,false,null]");
}

TEST(JsonLineTest, RejectsSyntaxErrorsWithColumn) {
  EXPECT_EQ(ErrorOf(R"({"a":1,})"), "invalid JSON: expected a string key at column 8");
  EXPECT_EQ(ErrorOf(R"({"a" 1})"), "invalid JSON: expected ':' after the key at column 6");
  EXPECT_EQ(ErrorOf(R"({"a":1} x)"), "invalid JSON: unexpected text after the value at column 9");
  EXPECT_EQ(ErrorOf(R"({"a":"x)"), "invalid JSON: unterminated string at column 6");
  EXPECT_EQ(ErrorOf(""), "invalid JSON: unexpected end of line (expected a value) at column 1");
  EXPECT_EQ(ErrorOf("[1 2]"), "invalid JSON: expected ',' or ']' in an array at column 4");
  EXPECT_EQ(ErrorOf("{'a':1}"), "invalid JSON: expected a string key at column 2");
  EXPECT_EQ(ErrorOf("tru"), "invalid JSON: unexpected character 't' at column 1");
  EXPECT_EQ(ErrorOf("\x01"), "invalid JSON: unexpected byte 0x01 at column 1");
}

TEST(JsonLineTest, RejectsBadNumbers) {
  EXPECT_EQ(ErrorOf("012"), "invalid JSON: invalid number (leading zero) at column 1");
  EXPECT_EQ(ErrorOf("1."), "invalid JSON: invalid number (no digit after '.') at column 1");
  EXPECT_EQ(ErrorOf("-"), "invalid JSON: invalid number at column 1");
  EXPECT_EQ(ErrorOf("1e"), "invalid JSON: invalid number (no exponent digits) at column 1");
  EXPECT_EQ(ErrorOf("+1"), "invalid JSON: unexpected character '+' at column 1");
}

// Found by the json_line fuzz target: numbers beyond a double's range were accepted (and kept as
// text), while the other JSON readers (nlohmann's: countdown's meta_json, ...) refuse them.
TEST(JsonLineTest, RejectsNumbersOutOfTheRangeOfADouble) {
  EXPECT_EQ(ErrorOf("[0, 1e135780]"),
            "invalid JSON: number out of the range of a double at column 5");
  EXPECT_EQ(ErrorOf("-1.5E+309"), "invalid JSON: number out of the range of a double at column 1");
  EXPECT_EQ(ErrorOf("{\"a\": " + std::string(400, '9') + "}"),
            "invalid JSON: number out of the range of a double at column 7");
  // The largest doubles, underflow to zero and long mantissas are fine, and stay as written.
  EXPECT_EQ(Compact("[1.7976931348623157e308, -1e-400, 1e-99999, 0.000e99999]"),
            "[1.7976931348623157e308,-1e-400,1e-99999,0.000e99999]");
  EXPECT_EQ(Compact("[" + std::string(300, '9') + "]"), "[" + std::string(300, '9') + "]");
}

TEST(JsonLineTest, RejectsBadStrings) {
  EXPECT_EQ(ErrorOf("\"a\tb\""),
            "invalid JSON: control character in a string (must be escaped) at column 3");
  EXPECT_EQ(ErrorOf(R"("\x")"), "invalid JSON: invalid escape in a string at column 2");
  EXPECT_EQ(ErrorOf(R"("\u12g4")"), "invalid JSON: invalid hex digit in \\u escape at column 6");
  EXPECT_EQ(ErrorOf(R"("\ud800")"),
            "invalid JSON: high surrogate not followed by a low surrogate at column 2");
  EXPECT_EQ(ErrorOf(R"("\udc00")"), "invalid JSON: lone low surrogate in \\u escape at column 2");
  EXPECT_EQ(ErrorOf("\"\xff\""), "invalid JSON: invalid UTF-8 in a string at column 2");
  EXPECT_EQ(ErrorOf("\"\xc3\""), "invalid JSON: invalid UTF-8 in a string at column 2");
  EXPECT_EQ(ErrorOf("\"\xed\xa0\x80\""), "invalid JSON: invalid UTF-8 in a string at column 2");
  EXPECT_EQ(ErrorOf("\"\xc0\xaf\""), "invalid JSON: invalid UTF-8 in a string at column 2");
}

TEST(JsonLineTest, LimitsNesting) {
  std::string deep(kMaxJsonDepth, '[');
  deep += std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(ParseJsonLine(deep).ok());
  std::string too_deep(kMaxJsonDepth + 1, '[');
  too_deep += std::string(kMaxJsonDepth + 1, ']');
  EXPECT_EQ(ErrorOf(too_deep), "invalid JSON: nesting deeper than 128 at column 129");
  // Far deeper input fails the same way instead of exhausting the stack.
  EXPECT_FALSE(ParseJsonLine(std::string(1 << 20, '[')).ok());
}

}  // namespace
}  // namespace chord::dataset
