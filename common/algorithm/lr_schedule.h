#pragma once

// The learning rate of a 1-based training step: linear warm-up to `lr` over lr_warmup_steps
// (step s < W gets lr * s / W), then constant, or a cosine from lr down to lr * lr_min_ratio
// reached at the job's (stage's) last step:
//   lr(s) = lr_min + (lr - lr_min) * 0.5 * (1 + cos(pi * (s - W) / (total_steps - W)))
// for W <= s < total_steps, and lr_min from total_steps on.

#include <cstdint>

#include "common/algorithm/loss_config.h"

namespace chord::algorithm {

// `total_steps` is the number of steps of the stage (only the cosine uses it).
double LearningRateAt(const OptimizerConfig& config, int64_t step, int64_t total_steps);

}  // namespace chord::algorithm
