#include "services/learner/job_mode.h"

#include "absl/strings/str_cat.h"

namespace chord::learner {

absl::string_view JobModeName(JobMode mode) {
  switch (mode) {
    case JobMode::kSync:
      return "sync";
    case JobMode::kAsync:
      return "async";
  }
  return "unknown";
}

absl::StatusOr<JobMode> ParseJobMode(absl::string_view text) {
  if (text == "sync") return JobMode::kSync;
  if (text == "async") return JobMode::kAsync;
  return absl::InvalidArgumentError(
      absl::StrCat("must be \"sync\" or \"async\", got \"", text, "\""));
}

}  // namespace chord::learner
