#pragma once

// Early-return helpers for absl::Status / absl::StatusOr, which this Abseil (20220623) lacks.
//
//   RETURN_IF_ERROR(WriteFile(path));
//   ASSIGN_OR_RETURN(auto config, LoadConfig(path));
//   ASSIGN_OR_RETURN(config_, LoadConfig(path));
//
// Both evaluate their argument exactly once and return the error status unchanged.

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CHORD_STATUS_CONCAT_INNER_(a, b) a##b
#define CHORD_STATUS_CONCAT_(a, b) CHORD_STATUS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    ::absl::Status chord_status_tmp_ = (expr);             \
    if (!chord_status_tmp_.ok()) return chord_status_tmp_; \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, rexpr) \
  CHORD_ASSIGN_OR_RETURN_IMPL_(CHORD_STATUS_CONCAT_(chord_statusor_, __LINE__), lhs, rexpr)

#define CHORD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

namespace chord {

// Returns `status` with `context + ": "` prefixed to its message (same code). OK stays OK.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace chord
