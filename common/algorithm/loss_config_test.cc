#include "common/algorithm/loss_config.h"

#include <algorithm>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chord::algorithm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

TEST(LossConfigTest, DefaultsMatchTheSpec) {
  const Config c;
  EXPECT_EQ(c.variant, "chord-phi");
  EXPECT_TRUE(c.sft.enable_phi_function);
  EXPECT_EQ(c.sft.EffectiveWeight(), SftWeight::kPhi);
  EXPECT_EQ(c.mu.mu_warmup_steps, 0);
  EXPECT_EQ(c.mu.mu_decay_steps, 0);
  EXPECT_EQ(c.mu.mu_peak, 0.1);
  EXPECT_EQ(c.mu.mu_valley, 0.1);
  EXPECT_FALSE(c.mu.adaptive_mu);
  EXPECT_EQ(c.mu.adaptive_mu_tau, 0.5);
  EXPECT_EQ(c.policy_loss.EffectiveClipLow(), 0.2);
  EXPECT_EQ(c.policy_loss.EffectiveClipHigh(), 0.2);
  EXPECT_EQ(c.policy_loss.clip_ratio_c, 3.0);
  EXPECT_EQ(c.aggregation.loss_agg_mode, LossAggMode::kTokenMean);
  EXPECT_EQ(c.regularizer.entropy_coef, 0.0);
  EXPECT_EQ(c.regularizer.kl_coef, 0.0);
  EXPECT_EQ(c.batch.expert_data_ratio, 0.5);
  EXPECT_EQ(c.batch.repeat_times, 8);
  EXPECT_FALSE(c.batch.drop_zero_advantage_groups);
  EXPECT_TRUE(c.batch.strict_on_policy);
  EXPECT_EQ(c.optimizer.betas[0], 0.9);
  EXPECT_EQ(c.optimizer.betas[1], 0.999);
  EXPECT_EQ(c.optimizer.weight_decay, 0.01);
  EXPECT_EQ(c.optimizer.grad_clip, 1.0);
  EXPECT_EQ(c.optimizer.lr_decay, LrDecay::kConstant);
  EXPECT_TRUE(Validate(c).empty());
}

// The reference implementation's options and its defaults (Trinity-RFT: mix_chord's
// use_token_level_loss_in_sft, sft_phi's cutoff_prob, the trainer's global step for mu, the
// actor's ppo_epochs and ppo_mini_batch_size, kl_fn's estimators and KLFn's kl_coef 0.001).
TEST(LossConfigTest, ReferenceOptionDefaults) {
  const Config c;
  EXPECT_TRUE(c.sft.use_token_level_loss_in_sft);
  EXPECT_FALSE(c.sft.sft_loss_agg_mode.has_value());
  EXPECT_EQ(c.sft.EffectiveAggMode(), LossAggMode::kTokenMean);
  EXPECT_EQ(c.sft.cutoff_prob, 1.0);
  EXPECT_EQ(c.mu.mu_step_count, MuStepCount::kJob);
  EXPECT_EQ(c.mu.mu_step_offset, 0);
  EXPECT_EQ(c.batch.ppo_epochs, 1);
  EXPECT_EQ(c.batch.ppo_mini_batch_size, 0);
  EXPECT_EQ(c.regularizer.kl_loss_fn, KlEstimator::kK2);
  EXPECT_EQ(c.regularizer.kl_loss_rows, KlRows::kAll);
  EXPECT_EQ(c.regularizer.kl_penalty_fn, KlEstimator::kNone);
  EXPECT_EQ(c.regularizer.kl_penalty_coef, 0.001);
  EXPECT_FALSE(NeedsReferencePolicy(c));

  Config sft_rows;
  sft_rows.sft.use_token_level_loss_in_sft = false;
  EXPECT_EQ(sft_rows.sft.EffectiveAggMode(), LossAggMode::kSeqMeanTokenMean);
  ASSERT_TRUE(SetConfigKey("sft_loss_agg_mode", "seq-mean-token-sum", &sft_rows).ok());
  EXPECT_EQ(sft_rows.sft.EffectiveAggMode(), LossAggMode::kSeqMeanTokenSum);
  ASSERT_TRUE(SetConfigKey("sft_loss_agg_mode", "auto", &sft_rows).ok());
  EXPECT_EQ(sft_rows.sft.EffectiveAggMode(), LossAggMode::kSeqMeanTokenMean);
}

TEST(LossConfigTest, NeedsReferencePolicyForAnActiveKlTerm) {
  Config c;
  c.regularizer.kl_coef = 0.01;
  EXPECT_TRUE(NeedsReferencePolicy(c));
  c.regularizer.kl_loss_fn = KlEstimator::kNone;  // Trinity's kl_loss_fn: none
  EXPECT_FALSE(NeedsReferencePolicy(c));
  c.regularizer.kl_penalty_fn = KlEstimator::kK3;
  EXPECT_TRUE(NeedsReferencePolicy(c));
  c.regularizer.kl_penalty_coef = 0;
  EXPECT_FALSE(NeedsReferencePolicy(c));
}

TEST(LossConfigTest, SeparateClipRangesOverrideClipRange) {
  Config c;
  c.policy_loss.clip_range = 0.3;
  c.policy_loss.clip_range_high = 0.28;
  EXPECT_EQ(c.policy_loss.EffectiveClipLow(), 0.3);
  EXPECT_EQ(c.policy_loss.EffectiveClipHigh(), 0.28);
}

TEST(LossConfigTest, VariantPresets) {
  Config c;
  ASSERT_TRUE(ApplyVariant("chord-mu", &c).ok());
  EXPECT_FALSE(c.sft.enable_phi_function);
  EXPECT_EQ(c.sft.EffectiveWeight(), SftWeight::kNone);
  EXPECT_EQ(c.mu.mu_warmup_steps, 0);
  EXPECT_EQ(c.mu.mu_decay_steps, 200);
  EXPECT_EQ(c.mu.mu_peak, 0.9);
  EXPECT_EQ(c.mu.mu_valley, 0.05);

  ASSERT_TRUE(ApplyVariant("chord-mu-tools", &c).ok());
  EXPECT_EQ(c.mu.mu_decay_steps, 20);
  EXPECT_EQ(c.mu.mu_peak, 0.6);
  EXPECT_EQ(c.mu.mu_valley, 0.0);

  ASSERT_TRUE(ApplyVariant("chord-phi", &c).ok());
  EXPECT_TRUE(c.sft.enable_phi_function);
  EXPECT_EQ(c.sft.EffectiveWeight(), SftWeight::kPhi);
  EXPECT_EQ(c.mu.mu_decay_steps, 0);
  EXPECT_EQ(c.mu.mu_peak, 0.1);
  EXPECT_EQ(c.mu.mu_valley, 0.1);

  ASSERT_TRUE(ApplyVariant("mix", &c).ok());
  EXPECT_FALSE(c.sft.enable_phi_function);
  EXPECT_EQ(c.mu.mu_peak, 0.1);
  EXPECT_EQ(c.mu.mu_valley, 0.1);

  ASSERT_TRUE(ApplyVariant("grpo", &c).ok());
  EXPECT_EQ(c.batch.expert_data_ratio, 0.0);
  EXPECT_EQ(c.mu.mu_peak, 0.0);
  EXPECT_EQ(c.mu.mu_valley, 0.0);

  ASSERT_TRUE(ApplyVariant("sft", &c).ok());
  EXPECT_EQ(c.batch.expert_data_ratio, 1.0);
  EXPECT_EQ(c.mu.mu_peak, 1.0);
  EXPECT_EQ(c.mu.mu_valley, 1.0);
  EXPECT_EQ(c.sft.EffectiveWeight(), SftWeight::kNone);

  ASSERT_TRUE(ApplyVariant("is-sft", &c).ok());
  EXPECT_EQ(c.sft.EffectiveWeight(), SftWeight::kImportanceSampling);
  EXPECT_EQ(c.mu.mu_peak, 0.1);

  ASSERT_TRUE(ApplyVariant("adaptive-mu", &c).ok());
  EXPECT_TRUE(c.mu.adaptive_mu);
  EXPECT_EQ(c.mu.adaptive_mu_tau, 0.5);
  EXPECT_EQ(c.sft.EffectiveWeight(), SftWeight::kNone);  // is-sft's override was cleared
  EXPECT_EQ(c.variant, "adaptive-mu");

  for (const std::string& name : VariantNames()) {
    Config fresh;
    ASSERT_TRUE(ApplyVariant(name, &fresh).ok()) << name;
    EXPECT_TRUE(Validate(fresh).empty()) << name;
  }
}

TEST(LossConfigTest, UnknownVariantListsTheKnownOnes) {
  Config c;
  absl::Status status = ApplyVariant("chord-x", &c);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("chord-phi"));
  EXPECT_EQ(c.variant, "chord-phi");  // unchanged
}

TEST(LossConfigTest, ExplicitKeysAppliedAfterTheVariantWin) {
  Config c;
  ASSERT_TRUE(SetConfigKey("variant", "chord-mu", &c).ok());
  ASSERT_TRUE(SetConfigKey("mu_peak", "0.8", &c).ok());
  ASSERT_TRUE(SetConfigKey("enable_phi_function", "true", &c).ok());
  EXPECT_EQ(c.mu.mu_peak, 0.8);
  EXPECT_EQ(c.mu.mu_decay_steps, 200);
  EXPECT_TRUE(c.sft.enable_phi_function);
}

TEST(LossConfigTest, SetConfigKeyParsesEveryType) {
  Config c;
  ASSERT_TRUE(SetConfigKey("loss_agg_mode", "seq-mean-token-sum-norm", &c).ok());
  ASSERT_TRUE(SetConfigKey("loss_agg_norm_length", "4096", &c).ok());
  ASSERT_TRUE(SetConfigKey("betas", "[0.8, 0.95]", &c).ok());
  ASSERT_TRUE(SetConfigKey("clip_range_high", "0.28", &c).ok());
  ASSERT_TRUE(SetConfigKey("sft_weight", "is", &c).ok());
  ASSERT_TRUE(SetConfigKey("lr_decay", "cosine", &c).ok());
  ASSERT_TRUE(SetConfigKey("strict_on_policy", "false", &c).ok());
  ASSERT_TRUE(SetConfigKey("use_token_level_loss_in_sft", "false", &c).ok());
  ASSERT_TRUE(SetConfigKey("cutoff_prob", "0.8", &c).ok());
  ASSERT_TRUE(SetConfigKey("mu_step_count", "stage", &c).ok());
  ASSERT_TRUE(SetConfigKey("ppo_epochs", "2", &c).ok());
  ASSERT_TRUE(SetConfigKey("ppo_mini_batch_size", "32", &c).ok());
  ASSERT_TRUE(SetConfigKey("kl_loss_fn", "low_var_kl", &c).ok());
  ASSERT_TRUE(SetConfigKey("kl_loss_rows", "on-policy", &c).ok());
  ASSERT_TRUE(SetConfigKey("kl_penalty_fn", "abs", &c).ok());
  ASSERT_TRUE(SetConfigKey("kl_penalty_coef", "0.05", &c).ok());
  EXPECT_FALSE(c.sft.use_token_level_loss_in_sft);
  EXPECT_EQ(c.sft.cutoff_prob, 0.8);
  EXPECT_EQ(c.mu.mu_step_count, MuStepCount::kStage);
  EXPECT_EQ(c.batch.ppo_epochs, 2);
  EXPECT_EQ(c.batch.ppo_mini_batch_size, 32);
  EXPECT_EQ(c.regularizer.kl_loss_fn, KlEstimator::kLowVarKl);
  EXPECT_EQ(c.regularizer.kl_loss_rows, KlRows::kOnPolicy);
  EXPECT_EQ(c.regularizer.kl_penalty_fn, KlEstimator::kAbs);
  EXPECT_EQ(c.regularizer.kl_penalty_coef, 0.05);
  EXPECT_EQ(c.aggregation.loss_agg_mode, LossAggMode::kSeqMeanTokenSumNorm);
  EXPECT_EQ(c.aggregation.loss_agg_norm_length, 4096);
  EXPECT_EQ(c.optimizer.betas[0], 0.8);
  EXPECT_EQ(c.optimizer.betas[1], 0.95);
  EXPECT_EQ(c.policy_loss.EffectiveClipHigh(), 0.28);
  EXPECT_EQ(c.sft.EffectiveWeight(), SftWeight::kImportanceSampling);
  EXPECT_EQ(c.optimizer.lr_decay, LrDecay::kCosine);
  EXPECT_FALSE(c.batch.strict_on_policy);
  // "none" is a weight (1), "auto" unsets the override.
  ASSERT_TRUE(SetConfigKey("sft_weight", "none", &c).ok());
  EXPECT_EQ(c.sft.EffectiveWeight(), SftWeight::kNone);
  ASSERT_TRUE(SetConfigKey("sft_weight", "auto", &c).ok());
  EXPECT_EQ(c.sft.EffectiveWeight(), SftWeight::kPhi);
  ASSERT_TRUE(SetConfigKey("clip_range_high", "auto", &c).ok());
  EXPECT_FALSE(c.policy_loss.clip_range_high.has_value());
}

TEST(LossConfigTest, SetConfigKeyErrorsNameTheKey) {
  Config c;
  absl::Status unknown = SetConfigKey("mu_top", "1", &c);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("mu_top: unknown key"));
  absl::Status bad_number = SetConfigKey("mu_peak", "lots", &c);
  EXPECT_THAT(std::string(bad_number.message()), HasSubstr("mu_peak: expected a number"));
  absl::Status bad_mode = SetConfigKey("loss_agg_mode", "sum", &c);
  EXPECT_THAT(std::string(bad_mode.message()), HasSubstr("loss_agg_mode: unknown aggregation"));
  absl::Status bad_bool = SetConfigKey("adaptive_mu", "maybe", &c);
  EXPECT_THAT(std::string(bad_bool.message()), HasSubstr("adaptive_mu: expected true or false"));
  absl::Status bad_betas = SetConfigKey("betas", "0.9", &c);
  EXPECT_THAT(std::string(bad_betas.message()), HasSubstr("betas: expected two numbers"));
  EXPECT_THAT(std::string(SetConfigKey("kl_loss_fn", "k4", &c).message()),
              HasSubstr("kl_loss_fn: unknown KL estimator \"k4\" (expected none, k1, k2, k3, "
                        "low_var_kl or abs)"));
  EXPECT_THAT(std::string(SetConfigKey("kl_loss_rows", "expert", &c).message()),
              HasSubstr("kl_loss_rows: unknown KL rows"));
  EXPECT_THAT(std::string(SetConfigKey("mu_step_count", "epoch", &c).message()),
              HasSubstr("mu_step_count: unknown mu step count"));
}

TEST(LossConfigTest, DescribeConfigRoundTrips) {
  Config c;
  ASSERT_TRUE(ApplyVariant("chord-mu", &c).ok());
  c.policy_loss.clip_range_low = 0.15;
  c.optimizer.lr = 3.3e-6;
  c.aggregation.loss_agg_mode = LossAggMode::kSeqMeanTokenMean;
  c.sft.sft_weight = SftWeight::kImportanceSampling;
  const auto described = DescribeConfig(c);
  Config copy;
  // "variant" first: applying it resets preset keys, which the later keys then restore.
  for (const auto& [key, value] : described) {
    ASSERT_TRUE(SetConfigKey(key, value, &copy).ok()) << key << "=" << value;
  }
  EXPECT_EQ(DescribeConfig(copy), described);
  EXPECT_EQ(described.front().first, "variant");
  const bool has_lr = std::any_of(described.begin(), described.end(), [](const auto& kv) {
    return kv.first == "lr" && kv.second == "3.3e-06";
  });
  EXPECT_TRUE(has_lr);
}

TEST(LossConfigTest, ValidateListsEveryProblem) {
  Config c;
  c.variant = "nope";
  c.mu.mu_peak = 1.5;
  c.mu.mu_warmup_steps = -1;
  c.policy_loss.clip_range_low = 1.0;
  c.policy_loss.clip_ratio_c = 1.0;
  c.aggregation.loss_agg_mode = LossAggMode::kSeqMeanTokenSumNorm;  // L unset
  c.regularizer.kl_coef = -0.1;
  c.batch.expert_data_ratio = 2;
  c.batch.repeat_times = 0;
  c.optimizer.lr = 0;
  c.optimizer.betas[1] = 1.0;
  c.optimizer.grad_clip = std::nan("");
  c.sft.cutoff_prob = 0;
  c.mu.mu_step_offset = -2;
  c.regularizer.kl_penalty_coef = -1;
  c.batch.ppo_epochs = 0;
  c.batch.ppo_mini_batch_size = -4;
  const std::vector<std::string> problems = Validate(c, "algorithm.");
  std::vector<std::string> keys;
  for (const std::string& p : problems) keys.push_back(p.substr(0, p.find(':')));
  EXPECT_THAT(keys, UnorderedElementsAre("algorithm.variant", "algorithm.mu_warmup_steps",
                                         "algorithm.mu_peak", "algorithm.mu_step_offset",
                                         "algorithm.cutoff_prob", "algorithm.clip_range_low",
                                         "algorithm.clip_ratio_c", "algorithm.loss_agg_norm_length",
                                         "algorithm.kl_coef", "algorithm.kl_penalty_coef",
                                         "algorithm.expert_data_ratio", "algorithm.repeat_times",
                                         "algorithm.ppo_epochs", "algorithm.ppo_mini_batch_size",
                                         "algorithm.lr", "algorithm.betas", "algorithm.grad_clip"));
  EXPECT_THAT(problems, ::testing::Contains(HasSubstr("cutoff_prob: must be in (0, 1], got 0")));
  EXPECT_THAT(problems, ::testing::Contains(HasSubstr("mu_peak: must be in [0, 1], got 1.5")));
}

TEST(LossConfigTest, ResolveJobDefaultsFillsTheNormLength) {
  Config c;
  c.aggregation.loss_agg_mode = LossAggMode::kSeqMeanTokenSumNorm;
  EXPECT_FALSE(Validate(c).empty());
  ResolveJobDefaults(1024, &c);
  EXPECT_EQ(c.aggregation.loss_agg_norm_length, 1024);
  EXPECT_TRUE(Validate(c).empty());
  ResolveJobDefaults(2048, &c);  // an explicit value stays
  EXPECT_EQ(c.aggregation.loss_agg_norm_length, 1024);
  // The SFT part's own mode needs L too.
  Config sft;
  sft.sft.sft_loss_agg_mode = LossAggMode::kSeqMeanTokenSumNorm;
  EXPECT_THAT(Validate(sft), ElementsAre(HasSubstr("loss_agg_norm_length: must be > 0 with "
                                                   "sft_loss_agg_mode seq-mean-token-sum-norm")));
  ResolveJobDefaults(64, &sft);
  EXPECT_TRUE(Validate(sft).empty());
}

TEST(LossConfigTest, PlanStagesSingleStage) {
  Config c;
  absl::StatusOr<std::vector<Stage>> stages = PlanStages(c, 50);
  ASSERT_TRUE(stages.ok());
  ASSERT_EQ(stages->size(), 1u);
  EXPECT_EQ((*stages)[0].name, "train");
  EXPECT_EQ((*stages)[0].steps, 50);
  EXPECT_EQ(PlanStages(c, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LossConfigTest, PlanStagesSftThenRl) {
  Config c;
  ASSERT_TRUE(ApplyVariant("sft-then-rl", &c).ok());
  c.optimizer.lr = 2e-6;
  absl::StatusOr<std::vector<Stage>> stages = PlanStages(c, 101);
  ASSERT_TRUE(stages.ok()) << stages.status();
  ASSERT_EQ(stages->size(), 2u);
  const Stage& sft = (*stages)[0];
  const Stage& rl = (*stages)[1];
  EXPECT_EQ(sft.name, "sft");
  EXPECT_EQ(sft.steps, 51);  // half, rounded up
  EXPECT_EQ(sft.config.batch.expert_data_ratio, 1.0);
  EXPECT_EQ(sft.config.mu.mu_peak, 1.0);
  EXPECT_EQ(sft.config.mu.mu_valley, 1.0);
  EXPECT_EQ(sft.config.sft.EffectiveWeight(), SftWeight::kNone);
  EXPECT_EQ(sft.config.optimizer.lr, 2e-6);
  EXPECT_EQ(rl.name, "rl");
  EXPECT_EQ(rl.steps, 50);
  EXPECT_EQ(rl.config.batch.expert_data_ratio, 0.0);
  EXPECT_EQ(rl.config.mu.mu_peak, 0.0);
  EXPECT_EQ(rl.config.mu.mu_valley, 0.0);
  EXPECT_EQ(rl.config.optimizer.lr, 2e-6);

  c.sft_stage_steps = 30;
  stages = PlanStages(c, 101);
  ASSERT_TRUE(stages.ok());
  EXPECT_EQ((*stages)[0].steps, 30);
  EXPECT_EQ((*stages)[1].steps, 71);

  c.sft_stage_steps = 101;
  absl::Status status = PlanStages(c, 101).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("sft_stage_steps"));
}

TEST(LossConfigTest, PlanStagesSftWarmupComesFirst) {
  Config c;
  ASSERT_TRUE(ApplyVariant("chord-phi", &c).ok());
  ASSERT_TRUE(SetConfigKey("lr", "1e-4", &c).ok());
  ASSERT_TRUE(SetConfigKey("sft_warmup_steps", "40", &c).ok());
  ASSERT_TRUE(SetConfigKey("sft_warmup_lr", "3e-3", &c).ok());
  absl::StatusOr<std::vector<Stage>> stages = PlanStages(c, 100);
  ASSERT_TRUE(stages.ok()) << stages.status();
  ASSERT_EQ(stages->size(), 2u);
  const Stage& warmup = (*stages)[0];
  EXPECT_EQ(warmup.name, "sft-warmup");
  EXPECT_EQ(warmup.steps, 40);
  EXPECT_EQ(warmup.config.batch.expert_data_ratio, 1.0);
  EXPECT_EQ(warmup.config.mu.mu_peak, 1.0);
  EXPECT_EQ(warmup.config.sft.EffectiveWeight(), SftWeight::kNone);
  EXPECT_EQ(warmup.config.optimizer.lr, 3e-3);
  const Stage& train = (*stages)[1];
  EXPECT_EQ(train.name, "train");
  EXPECT_EQ(train.steps, 60);
  EXPECT_EQ(train.config.sft.EffectiveWeight(), SftWeight::kPhi);
  EXPECT_EQ(train.config.optimizer.lr, 1e-4);
  EXPECT_EQ(train.config.mu.mu_peak, 0.1);

  // With sft-then-rl the warm-up precedes both of its stages.
  ASSERT_TRUE(ApplyVariant("sft-then-rl", &c).ok());
  stages = PlanStages(c, 100);
  ASSERT_TRUE(stages.ok());
  ASSERT_EQ(stages->size(), 3u);
  EXPECT_EQ((*stages)[1].steps + (*stages)[2].steps, 60);

  c.sft_warmup_steps = 100;
  absl::Status status = PlanStages(c, 100).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("sft_warmup_steps"));
  EXPECT_THAT(std::string(PlanStages(c, 100, "algorithm.").status().message()),
              ::testing::StartsWith("algorithm.sft_warmup_steps: "));
  c.sft_warmup_steps = -1;
  EXPECT_FALSE(Validate(c).empty());
}

// mu runs on the job's step across stages (the reference's trainer counts its SFT warm-up steps
// in the global step that drives mu); mu_step_count stage restarts it per stage.
TEST(LossConfigTest, PlanStagesSetsTheMuStepOffset) {
  Config c;
  ASSERT_TRUE(ApplyVariant("chord-mu", &c).ok());
  c.sft_warmup_steps = 50;
  absl::StatusOr<std::vector<Stage>> stages = PlanStages(c, 300);
  ASSERT_TRUE(stages.ok());
  ASSERT_EQ(stages->size(), 2u);
  EXPECT_EQ((*stages)[0].config.mu.mu_step_offset, 0);
  EXPECT_EQ((*stages)[1].config.mu.mu_step_offset, 50);  // its step 1 reads mu(51)

  ASSERT_TRUE(SetConfigKey("mu_step_count", "stage", &c).ok());
  stages = PlanStages(c, 300);
  ASSERT_TRUE(stages.ok());
  EXPECT_EQ((*stages)[1].config.mu.mu_step_offset, 0);

  // sft-then-rl with a warm-up: three stages, offsets 0, 20, 20 + 40.
  Config three;
  ASSERT_TRUE(ApplyVariant("sft-then-rl", &three).ok());
  three.sft_warmup_steps = 20;
  three.sft_stage_steps = 40;
  stages = PlanStages(three, 100);
  ASSERT_TRUE(stages.ok());
  ASSERT_EQ(stages->size(), 3u);
  EXPECT_EQ((*stages)[0].config.mu.mu_step_offset, 0);
  EXPECT_EQ((*stages)[1].config.mu.mu_step_offset, 20);
  EXPECT_EQ((*stages)[2].config.mu.mu_step_offset, 60);
  // An offset a user wrote is replaced by the plan's.
  three.mu.mu_step_offset = 7;
  stages = PlanStages(three, 100);
  ASSERT_TRUE(stages.ok());
  EXPECT_EQ((*stages)[0].config.mu.mu_step_offset, 0);
}

TEST(LossConfigTest, EnumNames) {
  for (LossAggMode mode : {LossAggMode::kTokenMean, LossAggMode::kSeqMeanTokenMean,
                           LossAggMode::kSeqMeanTokenSum, LossAggMode::kSeqMeanTokenSumNorm}) {
    absl::StatusOr<LossAggMode> parsed = ParseLossAggMode(LossAggModeName(mode));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, mode);
  }
  for (KlEstimator e : {KlEstimator::kNone, KlEstimator::kK1, KlEstimator::kK2, KlEstimator::kK3,
                        KlEstimator::kLowVarKl, KlEstimator::kAbs}) {
    absl::StatusOr<KlEstimator> parsed = ParseKlEstimator(KlEstimatorName(e));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, e);
  }
  EXPECT_EQ(KlEstimatorName(KlEstimator::kLowVarKl), "low_var_kl");
  EXPECT_EQ(KlRowsName(KlRows::kOnPolicy), "on-policy");
  EXPECT_EQ(MuStepCountName(MuStepCount::kJob), "job");
  EXPECT_THAT(VariantNames(), ElementsAre("chord-phi", "chord-mu", "chord-mu-tools", "mix", "grpo",
                                          "sft", "sft-then-rl", "is-sft", "adaptive-mu"));
}

}  // namespace
}  // namespace chord::algorithm
