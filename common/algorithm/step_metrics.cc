#include "common/algorithm/step_metrics.h"

namespace chord::algorithm {

std::vector<std::pair<std::string, double>> StepMetrics::ToPairs() const {
  const char* expert_name = sft_weight == SftWeight::kPhi                  ? "expert/sft_phi_loss"
                            : sft_weight == SftWeight::kImportanceSampling ? "expert/sft_is_loss"
                                                                           : "expert/sft_loss";
  const double pg_clipfrac = clip_frac_upper + clip_frac_lower;
  return {{"loss", loss},
          {"pg_loss", pg_loss},
          {"sft_loss", sft_loss},
          {"mu", mu},
          {"phi_mean", phi_mean},
          {"clip_frac_upper", clip_frac_upper},
          {"clip_frac_lower", clip_frac_lower},
          {"clip_frac_dual", clip_frac_dual},
          {"approx_kl", approx_kl},
          {"entropy", entropy},
          {"kl_ref", kl_ref},
          {"grad_norm", grad_norm},
          {"lr", lr},
          {"reward_mean", reward_mean},
          {"on_policy_rows", on_policy_rows},
          {"expert_rows", expert_rows},
          {"on_policy_tokens", on_policy_tokens},
          {"expert_tokens", expert_tokens},
          {"kl_loss", kl_loss},
          {"kl_coef", kl_coef},
          {"kl_penalty", kl_penalty},
          {"kl_penalty_coef", kl_penalty_coef},
          {"updates", static_cast<double>(updates)},
          // The reference implementation's names.
          {"pg_clipfrac", pg_clipfrac},
          {"pg_clipfrac_lower", clip_frac_dual},
          {"ppo_kl", approx_kl},
          {"usual/pg_loss", pg_loss},
          {"usual/pg_clipfrac", pg_clipfrac},
          {"usual/pg_clipfrac_lower", clip_frac_dual},
          {"usual/ppo_kl", approx_kl},
          {expert_name, sft_loss}};
}

}  // namespace chord::algorithm
