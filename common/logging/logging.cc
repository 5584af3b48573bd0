#include "common/logging/logging.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace chord::logging {
namespace {

void Append(spdlog::memory_buf_t& out, absl::string_view text) {
  out.append(text.data(), text.data() + text.size());
}

void AppendJsonEscaped(absl::string_view text, spdlog::memory_buf_t& out) {
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        Append(out, "\\\"");
        break;
      case '\\':
        Append(out, "\\\\");
        break;
      case '\n':
        Append(out, "\\n");
        break;
      case '\r':
        Append(out, "\\r");
        break;
      case '\t':
        Append(out, "\\t");
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          Append(out, buf);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
}

std::string FormatUtc(std::chrono::system_clock::time_point tp) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
}

class JsonFormatter : public spdlog::formatter {
 public:
  explicit JsonFormatter(std::string service) : service_(std::move(service)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    Append(dest, "{\"ts\":\"");
    Append(dest, FormatUtc(msg.time));
    Append(dest, "\",\"level\":\"");
    auto level = spdlog::level::to_string_view(msg.level);
    dest.append(level.data(), level.data() + level.size());
    Append(dest, "\",\"service\":\"");
    AppendJsonEscaped(service_, dest);
    Append(dest, "\",\"msg\":\"");
    AppendJsonEscaped(absl::string_view(msg.payload.data(), msg.payload.size()), dest);
    Append(dest, "\"}\n");
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(service_);
  }

 private:
  std::string service_;
};

}  // namespace

absl::StatusOr<Format> ParseFormat(absl::string_view name) {
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("log format must be \"text\" or \"json\", got \"", name, "\""));
}

std::unique_ptr<spdlog::formatter> MakeJsonFormatter(std::string service) {
  return std::make_unique<JsonFormatter>(std::move(service));
}

absl::Status Init(const Options& options) {
  spdlog::level::level_enum level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "log level must be one of trace, debug, info, warn, error, critical, off; got \"",
        options.level, "\""));
  }
  auto logger = spdlog::stderr_logger_mt(absl::StrCat("chord-", options.service, "-", getpid()));
  logger->set_level(level);
  if (options.format == Format::kJson) {
    logger->set_formatter(MakeJsonFormatter(options.service));
  } else {
    logger->set_pattern(absl::StrCat("%Y-%m-%dT%H:%M:%S.%eZ %L ", options.service, "] %v"),
                        spdlog::pattern_time_type::utc);
  }
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

}  // namespace chord::logging
