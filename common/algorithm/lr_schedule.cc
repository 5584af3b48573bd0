#include "common/algorithm/lr_schedule.h"

#include <cmath>

namespace chord::algorithm {

double LearningRateAt(const OptimizerConfig& config, int64_t step, int64_t total_steps) {
  const int64_t warmup = config.lr_warmup_steps;
  if (step < warmup) {
    return config.lr * static_cast<double>(step) / static_cast<double>(warmup);
  }
  if (config.lr_decay == LrDecay::kConstant) return config.lr;
  const double lr_min = config.lr * config.lr_min_ratio;
  const int64_t decay_steps = total_steps - warmup;
  if (decay_steps <= 0 || step >= total_steps) return lr_min;
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(decay_steps);
  return lr_min + (config.lr - lr_min) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace chord::algorithm
