#include "common/logging/logging.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "spdlog/details/log_msg.h"

namespace chord::logging {
namespace {

TEST(LoggingTest, ParseFormat) {
  EXPECT_EQ(*ParseFormat("text"), Format::kText);
  EXPECT_EQ(*ParseFormat("json"), Format::kJson);
  EXPECT_EQ(ParseFormat("xml").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LoggingTest, InitRejectsUnknownLevel) {
  Options options;
  options.level = "loud";
  absl::Status status = Init(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("loud"), absl::string_view::npos);
}

TEST(LoggingTest, JsonFormatterWritesOneParsableObjectPerLine) {
  auto formatter = MakeJsonFormatter("reward");
  std::string payload = "quote \" backslash \\ newline \n tab \t ctrl \x01 utf8 \xC3\xA9";
  spdlog::details::log_msg msg("logger", spdlog::level::warn, payload);
  spdlog::memory_buf_t out;
  formatter->format(msg, out);
  std::string line(out.data(), out.size());
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["level"], "warning");
  EXPECT_EQ(parsed["service"], "reward");
  EXPECT_EQ(parsed["msg"], payload);
  EXPECT_EQ(parsed["ts"].get<std::string>().size(), 24u);
}

}  // namespace
}  // namespace chord::logging
