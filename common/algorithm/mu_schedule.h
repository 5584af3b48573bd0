#pragma once

// The global SFT coefficient mu(step) of CHORD (spec section 4). Steps are 1-based (the first
// training step is 1). With W = mu_warmup_steps, D = mu_decay_steps, P = mu_peak, V = mu_valley:
//   s < W:        mu = P * s / W
//   s >= W + D:   mu = V
//   otherwise:    mu = V + (P - V) * 0.5 * (1 + cos(pi * (s - W) / D))
// W = 0 skips the warm-up; D = 0 jumps to V after it.
//
// Which step: by default the job's step across stages (mu_step_count job), as the reference
// implementation, whose trainer counts its SFT warm-up steps in the same global step that drives
// mu. A job whose SFT warm-up stage runs 50 steps thus starts its CHORD stage at mu(51).

#include <cstdint>
#include <optional>

#include "common/algorithm/loss_config.h"

namespace chord::algorithm {

// The step the schedule reads at the job's 1-based step `job_step`, in a stage that starts after
// `stage_start` steps of the job (job_step > stage_start >= 0): job_step for MuStepCount::kJob,
// job_step - stage_start for kStage.
int64_t MuScheduleStep(int64_t job_step, int64_t stage_start, MuStepCount count);

// The scheduled mu at 1-based `step` (ignores adaptive_mu).
double ScheduledMu(const MuConfig& config, int64_t step);

// The adaptive-mu ablation: clamp(tau - mean_on_policy_reward, 0, 1).
double AdaptiveMu(double tau, double mean_on_policy_reward);

// The mu a training step uses: AdaptiveMu(adaptive_mu_tau, mean reward) when adaptive_mu is on
// and the step has on-policy rows (mean_on_policy_reward set), else ScheduledMu. A step with no
// on-policy rows under adaptive_mu uses AdaptiveMu(tau, 0) = tau.
double StepMu(const MuConfig& config, int64_t step, std::optional<double> mean_on_policy_reward);

}  // namespace chord::algorithm
