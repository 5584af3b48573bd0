// The YAML job spec (services/learner/job_spec.h): any document is accepted or refused with
// INVALID_ARGUMENT naming the document; an accepted spec keeps the documented ranges, in
// particular everything the rollout workers would refuse later (a non-finite temperature) is
// refused here, at Submit.

#include "services/learner/job_spec.h"

#include <cmath>

#include "tests/fuzz/fuzz_support.h"

CHORD_FUZZ_TARGET(job_spec) {
  const std::string text(chord::fuzz::AsText(data, size));
  absl::StatusOr<chord::learner::JobSpec> spec = chord::learner::ParseJobSpec(text, "fuzz.yaml");
  if (!spec.ok()) {
    FUZZ_CHECK(spec.status().code() == absl::StatusCode::kInvalidArgument,
               spec.status().ToString());
    FUZZ_CHECK(absl::StrContains(spec.status().message(), "fuzz.yaml"), spec.status().ToString());
    return;
  }
  const chord::learner::JobSpec& s = *spec;
  const std::string where = absl::StrCat("accepted spec:\n", text);
  FUZZ_CHECK(!s.name.empty() && !s.model.empty(), where);
  FUZZ_CHECK(s.steps >= 1 && s.train_batch_size >= 1 && s.keep_checkpoints >= 1, where);
  FUZZ_CHECK(s.save_interval >= 0, where);
  FUZZ_CHECK(s.mode == chord::learner::JobMode::kSync || s.mode == chord::learner::JobMode::kAsync,
             where);
  FUZZ_CHECK(s.max_staleness >= 0 && s.max_staleness <= chord::learner::kMaxStaleness, where);
  FUZZ_CHECK(std::isfinite(s.sampling.temperature) && s.sampling.temperature >= 0, where);
  FUZZ_CHECK(s.sampling.top_p > 0 && s.sampling.top_p <= 1, where);
  FUZZ_CHECK(s.sampling.top_k >= 0 && s.sampling.max_new_tokens >= 1, where);
  FUZZ_CHECK(std::isfinite(s.evaluation.temperature) && s.evaluation.temperature >= 0, where);
  FUZZ_CHECK(s.evaluation.interval >= 0 && s.evaluation.max_samples >= 0, where);
  FUZZ_CHECK(s.services.generation_timeout_s > 0 && s.services.call_timeout_s > 0, where);
  const int64_t expert = s.ExpertRowsPerStep();
  FUZZ_CHECK(expert >= 0 && expert <= s.train_batch_size, where);
  FUZZ_CHECK(s.OnPolicyRowsPerStep() + expert == s.train_batch_size, where);
  for (const std::string& stop : s.sampling.stop_strings) FUZZ_CHECK(!stop.empty(), where);
  // Parsing is a pure function of the text.
  absl::StatusOr<chord::learner::JobSpec> again = chord::learner::ParseJobSpec(text, "fuzz.yaml");
  FUZZ_CHECK(again.ok() && again->steps == s.steps && again->seed == s.seed, where);
}
