#include "services/learner/job_spec.h"

#include <gtest/gtest.h>

namespace chord::learner {
namespace {

constexpr char kValid[] = R"yaml(
name: arithmetic-chord
model: /models/tiny
steps: 40
train_batch_size: 32
datasets:
  tasks: {path: /data/tasks.jsonl}
  expert: {name: demos, path: /data/expert.jsonl}
  eval: {path: /data/eval.jsonl}
verifier: arithmetic
algorithm:
  variant: chord-phi
  repeat_times: 4
  lr: 1e-3
  mu_peak: 0.2
  mu_valley: 0.2
sampling:
  max_new_tokens: 48
eval:
  interval: 10
save_interval: 20
services:
  rollout_workers: [127.0.0.1:1, 127.0.0.1:2]
)yaml";

TEST(JobSpecTest, ParsesAValidSpecWithDefaults) {
  auto spec = ParseJobSpec(kValid, "job.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "arithmetic-chord");
  EXPECT_EQ(spec->steps, 40);
  EXPECT_EQ(spec->tasks.name, "tasks");
  EXPECT_EQ(spec->expert.name, "demos");
  EXPECT_EQ(spec->eval.path, "/data/eval.jsonl");
  EXPECT_EQ(spec->verifier, "arithmetic");
  EXPECT_TRUE(spec->algorithm.sft.enable_phi_function);
  EXPECT_DOUBLE_EQ(spec->algorithm.mu.mu_peak, 0.2);
  EXPECT_DOUBLE_EQ(spec->algorithm.optimizer.lr, 1e-3);
  EXPECT_EQ(spec->algorithm.batch.repeat_times, 4);
  // N = 32, ratio 0.5 (default): 16 expert rows, 16 on-policy rows = 4 tasks x 4.
  EXPECT_EQ(spec->ExpertRowsPerStep(), 16);
  EXPECT_EQ(spec->OnPolicyRowsPerStep(), 16);
  EXPECT_EQ(spec->TasksPerStep(), 4);
  EXPECT_EQ(spec->evaluation.max_new_tokens, 48);
  EXPECT_EQ(spec->algorithm.aggregation.loss_agg_norm_length, 48);
  EXPECT_EQ(spec->mode, JobMode::kSync);
  EXPECT_EQ(spec->services.rollout_workers.size(), 2u);
}

TEST(JobSpecTest, ReportsEveryProblemByKeyPath) {
  constexpr char kBad[] = R"yaml(
name: bad
steps: zero
train_batch_size: 30
datasets:
  tasks: {path: /data/t.jsonl, colour: red}
algorithm:
  repeat_times: 4
  mu_peak: 1.5
  not_a_key: 1
sampling:
  top_p: 2
mode: turbo
extra: 1
)yaml";
  auto spec = ParseJobSpec(kBad, "bad.yaml");
  ASSERT_FALSE(spec.ok());
  std::string message(spec.status().message());
  for (const char* expected :
       {"bad.yaml: model: required", "bad.yaml:3: steps: expected an integer",
        "bad.yaml:6: datasets.tasks.colour: unknown key", "algorithm.not_a_key",
        "algorithm.mu_peak", "sampling.top_p: must be in (0, 1]", "mode: must be",
        "bad.yaml:14: extra: unknown key", "datasets.expert: required"}) {
    EXPECT_NE(message.find(expected), std::string::npos) << "missing: " << expected << "\n"
                                                         << message;
  }
}

TEST(JobSpecTest, OnPolicyRowsMustFillWholeGroups) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("train_batch_size: 32"), 20, "train_batch_size: 30");
  auto spec = ParseJobSpec(yaml, "job.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("not a multiple of repeat_times 4"),
            absl::string_view::npos)
      << spec.status();
}

TEST(JobSpecTest, SftThenRlChecksBothStages) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("variant: chord-phi"), 18, "variant: sft-then-rl");
  auto spec = ParseJobSpec(yaml, "job.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->algorithm.variant, "sft-then-rl");
}

TEST(JobSpecTest, AsyncModeUsesBehaviourLogprobsUnlessTheSpecSaysOtherwise) {
  auto sync = ParseJobSpec(kValid, "job.yaml");
  ASSERT_TRUE(sync.ok()) << sync.status();
  EXPECT_TRUE(sync->algorithm.batch.strict_on_policy);

  std::string yaml = std::string(kValid) + "mode: async\nmax_staleness: 2\n";
  auto async = ParseJobSpec(yaml, "job.yaml");
  ASSERT_TRUE(async.ok()) << async.status();
  EXPECT_FALSE(async->algorithm.batch.strict_on_policy);

  yaml.replace(yaml.find("  lr: 1e-3"), 10, "  lr: 1e-3\n  strict_on_policy: true");
  auto recompute = ParseJobSpec(yaml, "job.yaml");
  ASSERT_TRUE(recompute.ok()) << recompute.status();
  EXPECT_TRUE(recompute->algorithm.batch.strict_on_policy);
}

TEST(JobSpecTest, MaxStalenessIsBoundedNamingTheKey) {
  for (int64_t bad : {int64_t{-1}, kMaxStaleness + 1, int64_t{1} << 40}) {
    std::string yaml =
        std::string(kValid) + "mode: async\nmax_staleness: " + std::to_string(bad) + "\n";
    auto spec = ParseJobSpec(yaml, "job.yaml");
    ASSERT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(spec.status().message().find("job.yaml: max_staleness: must be in [0, 16], got " +
                                           std::to_string(bad)),
              std::string::npos)
        << spec.status();
  }
  std::string yaml = std::string(kValid) + "mode: async\nmax_staleness: 16\n";
  EXPECT_TRUE(ParseJobSpec(yaml, "job.yaml").ok());
}

TEST(JobSpecTest, LogprobTemperatureFollowsTheSamplingTemperature) {
  auto spec = ParseJobSpec(kValid, "job.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_DOUBLE_EQ(spec->algorithm.batch.logprob_temperature, spec->sampling.temperature);

  std::string yaml = kValid;
  yaml.replace(yaml.find("  max_new_tokens: 48"), 20, "  max_new_tokens: 48\n  temperature: 0.7");
  spec = ParseJobSpec(yaml, "job.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_DOUBLE_EQ(spec->algorithm.batch.logprob_temperature, 0.7);

  // Greedy sampling has no tempered distribution: log-probs at 1.
  std::string greedy = kValid;
  greedy.replace(greedy.find("  max_new_tokens: 48"), 20, "  max_new_tokens: 48\n  temperature: 0");
  spec = ParseJobSpec(greedy, "job.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_DOUBLE_EQ(spec->algorithm.batch.logprob_temperature, 1.0);

  // An explicit key wins.
  yaml.replace(yaml.find("  lr: 1e-3"), 10, "  lr: 1e-3\n  logprob_temperature: 1.0");
  spec = ParseJobSpec(yaml, "job.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_DOUBLE_EQ(spec->algorithm.batch.logprob_temperature, 1.0);
}

TEST(JobSpecTest, StagesAreCheckedAgainstTheRealStepCountNamingTheKey) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("steps: 40"), 9, "steps: 1");
  yaml.replace(yaml.find("  lr: 1e-3"), 10, "  lr: 1e-3\n  sft_warmup_steps: 1");
  auto spec = ParseJobSpec(yaml, "job.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find(
                "job.yaml: algorithm.sft_warmup_steps: the warm-up (1 steps) leaves no step of "
                "the job's 1 for training"),
            absl::string_view::npos)
      << spec.status();

  // sft-then-rl needs at least one step per stage: one step is refused at Submit.
  yaml = kValid;
  yaml.replace(yaml.find("steps: 40"), 9, "steps: 1");
  yaml.replace(yaml.find("variant: chord-phi"), 18, "variant: sft-then-rl");
  spec = ParseJobSpec(yaml, "job.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("job.yaml: algorithm.sft_stage_steps: "),
            absl::string_view::npos)
      << spec.status();
}

// The reference implementation's options are algorithm keys; the derived mu_step_offset is not.
TEST(JobSpecTest, ReferenceOptionsAreKeysAndTheMuStepOffsetIsDerived) {
  std::string yaml = kValid;
  yaml.replace(yaml.find("  lr: 1e-3"), 10,
               "  lr: 1e-3\n  use_token_level_loss_in_sft: false\n  cutoff_prob: 0.9\n"
               "  ppo_epochs: 2\n  ppo_mini_batch_size: 16\n  kl_loss_fn: low_var_kl\n"
               "  kl_coef: 0.001\n  kl_penalty_fn: k3\n  mu_step_count: stage");
  auto spec = ParseJobSpec(yaml, "job.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->algorithm.sft.use_token_level_loss_in_sft);
  EXPECT_EQ(spec->algorithm.sft.cutoff_prob, 0.9);
  EXPECT_EQ(spec->algorithm.batch.ppo_epochs, 2);
  EXPECT_EQ(spec->algorithm.batch.ppo_mini_batch_size, 16);
  EXPECT_EQ(spec->algorithm.regularizer.kl_loss_fn, algorithm::KlEstimator::kLowVarKl);
  EXPECT_EQ(spec->algorithm.regularizer.kl_penalty_fn, algorithm::KlEstimator::kK3);
  EXPECT_EQ(spec->algorithm.mu.mu_step_count, algorithm::MuStepCount::kStage);

  yaml = kValid;
  yaml.replace(yaml.find("  lr: 1e-3"), 10, "  lr: 1e-3\n  mu_step_offset: 5");
  spec = ParseJobSpec(yaml, "job.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("job.yaml:15: algorithm.mu_step_offset: derived from "
                                         "mu_step_count and the stages; not a job spec key"),
            absl::string_view::npos)
      << spec.status();
}

TEST(JobSpecTest, InvalidYamlNamesTheLine) {
  auto spec = ParseJobSpec("name: [unclosed\n", "x.yaml");
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find("x.yaml:"), absl::string_view::npos);
}

}  // namespace
}  // namespace chord::learner
