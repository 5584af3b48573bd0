#pragma once

// How a job's generation relates to its training (job spec key `mode`, docs/job-spec.md).

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace chord::learner {

enum class JobMode {
  // Generate each step's rollouts with the newest weights, then train (the paper's setting).
  kSync,
  // Generate the next steps' rollouts while this step trains, at most `max_staleness` weight
  // versions behind; the PPO ratio uses the behaviour log-probs.
  kAsync,
};

// "sync" or "async".
absl::string_view JobModeName(JobMode mode);

// Parses "sync" or "async"; INVALID_ARGUMENT `must be "sync" or "async", got "<text>"` otherwise.
absl::StatusOr<JobMode> ParseJobMode(absl::string_view text);

}  // namespace chord::learner
