#include "common/algorithm/mu_schedule.h"

#include <algorithm>
#include <cmath>

namespace chord::algorithm {

int64_t MuScheduleStep(int64_t job_step, int64_t stage_start, MuStepCount count) {
  return count == MuStepCount::kJob ? job_step : job_step - stage_start;
}

double ScheduledMu(const MuConfig& config, int64_t step) {
  const double s = static_cast<double>(step);
  const int64_t warmup = config.mu_warmup_steps;
  const int64_t decay = config.mu_decay_steps;
  if (step < warmup) return config.mu_peak * s / static_cast<double>(warmup);
  if (step >= warmup + decay) return config.mu_valley;
  // Here warmup <= step < warmup + decay, so decay > 0.
  const double progress = (s - static_cast<double>(warmup)) / static_cast<double>(decay);
  return config.mu_valley +
         (config.mu_peak - config.mu_valley) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

double AdaptiveMu(double tau, double mean_on_policy_reward) {
  return std::clamp(tau - mean_on_policy_reward, 0.0, 1.0);
}

double StepMu(const MuConfig& config, int64_t step, std::optional<double> mean_on_policy_reward) {
  if (!config.adaptive_mu) return ScheduledMu(config, step);
  return AdaptiveMu(config.adaptive_mu_tau, mean_on_policy_reward.value_or(0.0));
}

}  // namespace chord::algorithm
