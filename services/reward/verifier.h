#pragma once

// The verifier interface of chord-reward: a named rule that turns one model response into a
// reward. Verifiers are pure functions of their input: no state changes, no I/O, so one instance
// serves every worker thread at once.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace chord::reward {

// One response to score. The views borrow the caller's strings for the duration of the call.
struct ScoreInput {
  // The task's prompt (countdown reads its numbers from it when nothing else gives them).
  absl::string_view prompt;
  // The model's response, possibly cut to its last max_response_bytes by the scorer.
  absl::string_view response;
  // The reference answer.
  absl::string_view reference;
  // Task metadata as JSON object text; empty when the task has none.
  absl::string_view meta_json;
};

struct VerifierResult {
  // The reward: 1 for a correct answer, 0 for a wrong one (the built-ins are binary).
  double score = 0.0;
  // True when the verifier judged the answer correct.
  bool correct = false;
  // Why, for humans: what was extracted and how it compared ("extracted "3/4" equals ...").
  std::string reason;
  // The answer the verifier extracted from the response (empty when none was found).
  std::string extracted;
};

class Verifier {
 public:
  virtual ~Verifier() = default;

  // Scores one response. Never fails, never throws, and does bounded work however malformed or
  // large the response is: a response that cannot be understood scores 0 with a reason.
  // Thread-safe (const, no shared mutable state).
  virtual VerifierResult Score(const ScoreInput& input) const = 0;

  // Checks the parts of an input that come from the task rather than from the model (reference,
  // meta_json, prompt) before any scoring starts. INVALID_ARGUMENT with a message that starts with
  // the field name ("reference: ...", "meta_json: ...") when the task cannot be scored at all.
  // The default accepts everything.
  virtual absl::Status ValidateTask(const ScoreInput& input) const {
    (void)input;
    return absl::OkStatus();
  }

  // Registry key, e.g. "math_boxed". Lower-case letters, digits and '_'.
  virtual absl::string_view name() const = 0;

  // One line saying what the verifier rewards.
  virtual absl::string_view description() const = 0;
};

}  // namespace chord::reward
