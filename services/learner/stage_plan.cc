#include "services/learner/stage_plan.h"

#include "common/status/status_macros.h"

namespace chord::learner {

absl::StatusOr<StagePlan> StagePlan::ForJob(const JobSpec& spec) {
  ASSIGN_OR_RETURN(std::vector<algorithm::Stage> stages,
                   algorithm::PlanStages(spec.algorithm, spec.steps));
  return StagePlan(std::move(stages));
}

StagePlan::Position StagePlan::At(int64_t step) const {
  int64_t start = 0;
  for (size_t i = 0; i < stages_.size(); ++i) {
    if (step <= start + stages_[i].steps || i + 1 == stages_.size()) {
      return {&stages_[i], static_cast<int64_t>(i), start};
    }
    start += stages_[i].steps;
  }
  return {&stages_.back(), static_cast<int64_t>(stages_.size()) - 1, 0};
}

JobSpec StagePlan::StagedSpec(const JobSpec& spec, int64_t step) const {
  JobSpec staged = spec;
  staged.algorithm = At(step).stage->config;
  return staged;
}

}  // namespace chord::learner
