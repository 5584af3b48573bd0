// Computes a CHORD loss on small tensors through the installed library and checks it against the
// value worked out by hand. Prints "chord-consumer: ok loss=<value>" and exits 0 on success.

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "common/algorithm/chord_loss.h"
#include "common/algorithm/loss_config.h"
#include "common/algorithm/mu_schedule.h"

namespace alg = chord::algorithm;

int main() {
  // Config API: the chord-mu preset, then mu at step 100 of (0, 200, 0.9, 0.05) is 0.475.
  alg::Config config;
  if (!alg::ApplyVariant("chord-phi", &config).ok() || !alg::Validate(config).empty()) {
    std::printf("chord-consumer: config rejected\n");
    return 1;
  }
  alg::MuConfig mu_config;
  mu_config.mu_decay_steps = 200;
  mu_config.mu_peak = 0.9;
  mu_config.mu_valley = 0.05;
  const double mu = alg::ScheduledMu(mu_config, 100);

  // Row 0 on-policy: A = 1, ratios 1.1 and 1.5 (the second clipped to 1.2): PG tokens -1.1, -1.2.
  // Row 1 expert: p = 0.5 on one token: SFT token -log(0.5) * 0.25 (phi = p (1 - p)).
  const at::Tensor logp =
      at::tensor(std::vector<double>{-0.3, -1.2, std::log(0.5), 0.0}, at::kDouble)
          .reshape({2, 2})
          .requires_grad_();
  const at::Tensor ratio =
      at::tensor(std::vector<double>{1.1, 1.5, 1.0, 1.0}, at::kDouble).reshape({2, 2});
  alg::LossInputs in;
  in.logp = logp;
  in.old_logp = logp.detach() - at::log(ratio);
  in.advantages = at::tensor(std::vector<double>{1.0, 0.0}, at::kDouble);
  in.mask = at::tensor(std::vector<double>{1, 1, 1, 0}, at::kDouble).reshape({2, 2});
  in.is_expert = at::tensor(std::vector<int64_t>{0, 1}).to(at::kBool);

  const alg::GlobalNormalizers norm = alg::ComputeLocalNormalizers(in.mask, in.is_expert);
  const alg::LossSettings settings = alg::LossSettings::FromConfig(config, mu);
  absl::StatusOr<alg::MicroBatchLoss> loss = alg::ComputeChordLoss(in, settings, norm);
  if (!loss.ok()) {
    std::printf("chord-consumer: %s\n", std::string(loss.status().message()).c_str());
    return 1;
  }
  loss->loss.backward();

  const double pg = (-1.1 - 1.2) / (2 + 1e-8);
  const double sft = -std::log(0.5) * 0.25 / (1 + 1e-8);
  const double expected = (1 - 0.475) * pg + 0.475 * sft;
  const double got = loss->loss.item<double>();
  if (std::abs(mu - 0.475) > 1e-9 || std::abs(got - expected) > 1e-12 || !logp.grad().defined()) {
    std::printf("chord-consumer: mismatch mu=%.12f loss=%.12f expected=%.12f\n", mu, got, expected);
    return 1;
  }
  std::printf("chord-consumer: ok loss=%.12f\n", got);
  return 0;
}
