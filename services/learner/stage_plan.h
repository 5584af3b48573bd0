#pragma once

// The stages of a job (algorithm::PlanStages: e.g. an SFT warm-up, then the variant) laid out
// over its steps: which stage a step belongs to and where that stage starts.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/algorithm/loss_config.h"
#include "services/learner/job_spec.h"

namespace chord::learner {

class StagePlan {
 public:
  // The stages of `spec` (algorithm::PlanStages over spec.steps).
  static absl::StatusOr<StagePlan> ForJob(const JobSpec& spec);
  explicit StagePlan(std::vector<algorithm::Stage> stages) : stages_(std::move(stages)) {}

  // The stage of 1-based `step` (the last stage for steps past the end); its index and first step
  // minus one (`start`: steps within the stage are step - start).
  struct Position {
    const algorithm::Stage* stage;
    int64_t index;
    int64_t start;
  };
  Position At(int64_t step) const;

  // `spec` with the algorithm settings of the stage of `step` (what TasksPerStep and
  // ExpertRowsPerStep then count for that step).
  JobSpec StagedSpec(const JobSpec& spec, int64_t step) const;

  const std::vector<algorithm::Stage>& stages() const { return stages_; }

 private:
  std::vector<algorithm::Stage> stages_;
};

}  // namespace chord::learner
