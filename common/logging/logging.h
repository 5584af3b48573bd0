#pragma once

// Process-wide logging setup on spdlog. Call Init once from main(); everything else logs through
// spdlog's default logger (spdlog::info(...), spdlog::warn(...)). Lines go to stderr, either as
// text ("2026-11-25T21:20:29.123Z I expert-buffer] loaded ...") or as JSON lines
// ({"ts":"...","level":"info","service":"expert-buffer","msg":"loaded ..."}) for log shippers.
//
// Thread-safe after Init. Do not define LOG/CHECK macros: LibTorch brings its own.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "spdlog/formatter.h"

namespace chord::logging {

enum class Format { kText, kJson };

struct Options {
  // Output format of every line.
  Format format = Format::kText;
  // Minimum level: trace, debug, info, warn, error, critical, off.
  std::string level = "info";
  // Name of the process, written in every line ("learner", "rollout-worker", ...).
  std::string service = "chord";
};

// Parses "text" or "json".
absl::StatusOr<Format> ParseFormat(absl::string_view name);

// Installs a stderr logger with `options` as spdlog's default logger.
// INVALID_ARGUMENT for an unknown level name.
absl::Status Init(const Options& options);

// The formatter behind Format::kJson (exposed for tests): one JSON object per line with
// ts (UTC, ms), level, service and msg, every string escaped.
std::unique_ptr<spdlog::formatter> MakeJsonFormatter(std::string service);

}  // namespace chord::logging
