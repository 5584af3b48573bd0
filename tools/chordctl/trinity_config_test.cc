// The Trinity-RFT converter on the reference's own example (tests/data/trinity/mix_chord.yaml)
// and hand-made configs for CHORD-mu, CHORD-phi, pure SFT and pure GRPO: every converted spec
// parses and validates with the learner's own ParseJobSpec, and every leaf of each config is
// either mapped (the test lists which) or reported as unmapped with a reason.

#include "tools/chordctl/trinity_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "services/learner/job_spec.h"
#include "yaml-cpp/yaml.h"

namespace chord::chordctl {
namespace {

using ::testing::HasSubstr;

std::string ReadTestConfig(const std::string& name) {
  const char* root = std::getenv("CHORD_SOURCE_DIR");
  EXPECT_NE(root, nullptr) << "CHORD_SOURCE_DIR is set by ctest";
  absl::StatusOr<std::string> text =
      files::ReadFile(absl::StrCat(root == nullptr ? "." : root, "/tests/data/trinity/", name));
  EXPECT_TRUE(text.ok()) << text.status();
  return text.value_or("");
}

// Every leaf path of a document (an empty mapping or list is a leaf).
void Leaves(const YAML::Node& node, const std::string& path, std::vector<std::string>* out) {
  if (node.IsMap() && node.size() > 0) {
    for (const auto& entry : node) {
      const std::string key = entry.first.Scalar();
      Leaves(entry.second, path.empty() ? key : absl::StrCat(path, ".", key), out);
    }
  } else if (node.IsSequence() && node.size() > 0) {
    for (size_t i = 0; i < node.size(); ++i) Leaves(node[i], absl::StrCat(path, "[", i, "]"), out);
  } else {
    out->push_back(path);
  }
}

// True when `path` is `prefix` or lies under it.
bool Under(const std::string& path, const std::string& prefix) {
  return path == prefix || absl::StartsWith(path, prefix + ".") ||
         absl::StartsWith(path, prefix + "[");
}

// Every leaf of `yaml` is in `mapped` or under exactly one unmapped entry, never both; every
// unmapped entry has a reason.
void ExpectEveryKeyAccountedFor(const std::string& yaml, const TrinityConversion& conversion,
                                const std::set<std::string>& mapped) {
  std::vector<std::string> leaves;
  Leaves(YAML::Load(yaml), "", &leaves);
  for (const std::string& leaf : leaves) {
    int covering = 0;
    for (const UnmappedKey& key : conversion.unmapped) covering += Under(leaf, key.path) ? 1 : 0;
    if (mapped.count(leaf) > 0) {
      EXPECT_EQ(covering, 0) << leaf << " is mapped and also listed as unmapped";
    } else {
      EXPECT_EQ(covering, 1) << leaf << " is neither mapped nor listed once as unmapped";
    }
  }
  for (const std::string& path : mapped) {
    EXPECT_NE(std::find(leaves.begin(), leaves.end(), path), leaves.end())
        << path << " is not a leaf of the config";
  }
  for (const UnmappedKey& key : conversion.unmapped) EXPECT_FALSE(key.reason.empty()) << key.path;
}

std::string ReasonOf(const TrinityConversion& conversion, const std::string& path) {
  for (const UnmappedKey& key : conversion.unmapped) {
    if (key.path == path) return key.reason;
  }
  return "";
}

// The converted spec, read back with the learner's parser.
learner::JobSpec ParseConverted(const TrinityConversion& conversion) {
  absl::StatusOr<learner::JobSpec> spec =
      learner::ParseJobSpec(conversion.spec_yaml, "converted.yaml");
  EXPECT_TRUE(spec.ok()) << spec.status() << "\n" << conversion.spec_yaml;
  return spec.value_or(learner::JobSpec());
}

TEST(TrinityConfigTest, TheReferenceExampleConverts) {
  const std::string yaml = ReadTestConfig("mix_chord.yaml");
  TrinityConversionOptions options;
  options.steps = 500;  // the example gives only total_epochs
  absl::StatusOr<TrinityConversion> conversion =
      ConvertTrinityConfig(yaml, "mix_chord.yaml", options);
  ASSERT_TRUE(conversion.ok()) << conversion.status();
  EXPECT_EQ(conversion->algorithm_type, "mix_chord");
  const learner::JobSpec spec = ParseConverted(*conversion);
  EXPECT_EQ(spec.name, "test_mix_chord");
  EXPECT_EQ(spec.model, "/cpfs/data/shared/qwen/Qwen2.5-7B-Instruct");
  EXPECT_EQ(spec.steps, 500);
  // 40 tasks x 8 (Trinity-RFT's train_batch_size default), 20% of them expert rows.
  EXPECT_EQ(spec.train_batch_size, 320);
  EXPECT_EQ(spec.ExpertRowsPerStep(), 64);
  EXPECT_EQ(spec.OnPolicyRowsPerStep(), 256);
  EXPECT_EQ(spec.TasksPerStep(), 32);
  EXPECT_EQ(spec.verifier, "math_boxed");
  EXPECT_EQ(spec.tasks.name, "openr1_data_filtered_int");
  EXPECT_EQ(spec.tasks.path, "/your_path/to/rl_dataset");
  EXPECT_EQ(spec.expert.name, "SFT_data");
  EXPECT_EQ(spec.expert.path, "/your_path/to/sft_dataset");
  EXPECT_TRUE(spec.eval.path.empty());
  const algorithm::Config& a = spec.algorithm;
  EXPECT_EQ(a.variant, "chord-phi");
  EXPECT_EQ(a.mu.mu_warmup_steps, 200);
  EXPECT_EQ(a.mu.mu_decay_steps, 400);
  EXPECT_EQ(a.mu.mu_peak, 0.5);
  EXPECT_EQ(a.mu.mu_valley, 0.02);
  EXPECT_TRUE(a.sft.enable_phi_function);
  EXPECT_EQ(a.sft.EffectiveAggMode(), algorithm::LossAggMode::kTokenMean);
  EXPECT_EQ(a.policy_loss.clip_range, 0.2);
  EXPECT_EQ(a.batch.expert_data_ratio, 0.2);
  EXPECT_EQ(a.batch.repeat_times, 8);
  EXPECT_EQ(a.batch.ppo_mini_batch_size, 0);  // 320 = the step's rows: one update
  EXPECT_EQ(a.regularizer.kl_loss_fn, algorithm::KlEstimator::kK2);
  EXPECT_EQ(a.regularizer.kl_coef, 0.0);  // the example turns the KL loss off
  EXPECT_FALSE(algorithm::NeedsReferencePolicy(a));
  EXPECT_EQ(spec.sampling.temperature, 1.0);
  EXPECT_EQ(spec.sampling.max_new_tokens, 10240);
  EXPECT_EQ(spec.evaluation.interval, 10);
  EXPECT_EQ(spec.save_interval, 50);
  EXPECT_EQ(spec.mode, learner::JobMode::kSync);
  EXPECT_EQ(spec.seed, 42u);

  ExpectEveryKeyAccountedFor(yaml, *conversion,
                             {"name",
                              "algorithm.algorithm_type",
                              "algorithm.repeat_times",
                              "algorithm.kl_loss_fn_args.kl_coef",
                              "algorithm.sample_strategy_args.expert_data_ratio",
                              "algorithm.policy_loss_fn_args.mu_warmup_steps",
                              "algorithm.policy_loss_fn_args.mu_decay_steps",
                              "algorithm.policy_loss_fn_args.mu_peak",
                              "algorithm.policy_loss_fn_args.mu_valley",
                              "algorithm.policy_loss_fn_args.enable_phi_function",
                              "algorithm.policy_loss_fn_args.clip_range",
                              "algorithm.policy_loss_fn_args.use_token_level_loss_in_sft",
                              "algorithm.policy_loss_fn_args.ppo_mini_batch_size",
                              "model.model_path",
                              "model.max_response_tokens",
                              "buffer.batch_size",
                              "buffer.explorer_input.taskset.name",
                              "buffer.explorer_input.taskset.storage_type",
                              "buffer.explorer_input.taskset.path",
                              "buffer.explorer_input.taskset.format.response_key",
                              "buffer.explorer_input.taskset.rollout_args.temperature",
                              "buffer.explorer_input.eval_tasksets",
                              "buffer.explorer_input.default_workflow_type",
                              "buffer.trainer_input.sft_warmup_dataset.name",
                              "buffer.trainer_input.sft_warmup_dataset.storage_type",
                              "buffer.trainer_input.sft_warmup_dataset.algorithm_type",
                              "buffer.trainer_input.sft_warmup_dataset.path",
                              "buffer.trainer_input.sft_warmup_dataset.format.prompt_type",
                              "buffer.trainer_input.sft_warmup_dataset.format.messages_key",
                              "explorer.eval_interval",
                              "explorer.rollout_model.seed",
                              "synchronizer.sync_interval",
                              "trainer.save_interval"});
  // A few of the reasons.
  EXPECT_THAT(ReasonOf(*conversion, "buffer.explorer_input.taskset.format.prompt_key"),
              HasSubstr("rename the field \"problem\""));
  EXPECT_THAT(ReasonOf(*conversion, "algorithm.policy_loss_fn_args.train_batch_size_usual"),
              HasSubstr("derives every normaliser from the actual batch"));
  EXPECT_THAT(ReasonOf(*conversion, "buffer.trainer_input.experience_buffer"),
              HasSubstr("no experience buffer"));
  EXPECT_THAT(ReasonOf(*conversion, "trainer.trainer_config_path"), HasSubstr("lr is 1e-6"));
  EXPECT_THAT(ReasonOf(*conversion, "buffer.total_epochs"), HasSubstr("steps were given"));
  EXPECT_THAT(ReasonOf(*conversion, "explorer.rollout_model.engine_type"),
              HasSubstr("chord-rollout-worker"));
  EXPECT_FALSE(ReasonOf(*conversion, "monitor").empty());
  // The 32 tasks a step trains on differ from the explorer's 40.
  EXPECT_THAT(conversion->notes,
              ::testing::Contains(HasSubstr("buffer.batch_size 40: Trinity-RFT's explorer "
                                            "generates 40 tasks per step, a Chord step generates "
                                            "the 32")));

  // What `chordctl convert` prints is itself a valid spec (the report is comments).
  const std::string printed = FormatTrinityConversion(*conversion, "mix_chord.yaml");
  EXPECT_THAT(printed, HasSubstr(absl::StrCat("# Not mapped (", conversion->unmapped.size(),
                                              " keys):\n#   project: ")));
  EXPECT_TRUE(learner::ParseJobSpec(printed, "printed.yaml").ok());

  // Without steps the spec has none: the learner refuses it, and the report says how to give them.
  absl::StatusOr<TrinityConversion> no_steps = ConvertTrinityConfig(yaml, "mix_chord.yaml");
  ASSERT_TRUE(no_steps.ok()) << no_steps.status();
  EXPECT_THAT(ReasonOf(*no_steps, "buffer.total_epochs"), HasSubstr("--steps N"));
  absl::StatusOr<learner::JobSpec> refused =
      learner::ParseJobSpec(no_steps->spec_yaml, "converted.yaml");
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("steps: required"));
}

TEST(TrinityConfigTest, ChordMu) {
  const std::string yaml = ReadTestConfig("chord_mu.yaml");
  absl::StatusOr<TrinityConversion> conversion = ConvertTrinityConfig(yaml, "chord_mu.yaml");
  ASSERT_TRUE(conversion.ok()) << conversion.status();
  const learner::JobSpec spec = ParseConverted(*conversion);
  const algorithm::Config& a = spec.algorithm;
  EXPECT_EQ(a.variant, "chord-mu");
  EXPECT_FALSE(a.sft.enable_phi_function);
  EXPECT_EQ(a.sft.EffectiveWeight(), algorithm::SftWeight::kNone);
  EXPECT_EQ(a.mu.mu_warmup_steps, 0);
  EXPECT_EQ(a.mu.mu_decay_steps, 200);
  EXPECT_EQ(a.mu.mu_peak, 0.9);
  EXPECT_EQ(a.mu.mu_valley, 0.05);
  EXPECT_EQ(a.sft.EffectiveAggMode(), algorithm::LossAggMode::kSeqMeanTokenMean);
  EXPECT_EQ(a.regularizer.kl_loss_fn, algorithm::KlEstimator::kLowVarKl);
  EXPECT_EQ(a.regularizer.kl_coef, 0.001);
  EXPECT_EQ(a.regularizer.entropy_coef, 0.0);
  EXPECT_EQ(a.optimizer.grad_clip, 1.0);
  EXPECT_EQ(spec.steps, 200);
  EXPECT_EQ(spec.train_batch_size, 80);
  EXPECT_EQ(spec.ExpertRowsPerStep(), 16);
  EXPECT_EQ(spec.TasksPerStep(), 8);
  EXPECT_EQ(spec.sampling.top_p, 0.95);
  EXPECT_EQ(spec.sampling.top_k, 0);  // -1: off
  EXPECT_EQ(spec.eval.name, "math_eval");
  EXPECT_EQ(spec.evaluation.temperature, 0.0);
  EXPECT_EQ(spec.evaluation.interval, 20);
  EXPECT_EQ(spec.seed, 7u);
  EXPECT_EQ(spec.save_interval, 25);
  EXPECT_EQ(spec.verifier, "math_boxed");
  ExpectEveryKeyAccountedFor(yaml, *conversion,
                             {"name",
                              "algorithm.algorithm_type",
                              "algorithm.repeat_times",
                              "algorithm.sample_strategy_args.expert_data_ratio",
                              "algorithm.policy_loss_fn_args.mu_warmup_steps",
                              "algorithm.policy_loss_fn_args.mu_decay_steps",
                              "algorithm.policy_loss_fn_args.mu_peak",
                              "algorithm.policy_loss_fn_args.mu_valley",
                              "algorithm.policy_loss_fn_args.enable_phi_function",
                              "algorithm.policy_loss_fn_args.clip_range",
                              "algorithm.policy_loss_fn_args.use_token_level_loss_in_sft",
                              "algorithm.policy_loss_fn_args.ppo_mini_batch_size",
                              "algorithm.kl_loss_fn",
                              "algorithm.kl_loss_fn_args.kl_coef",
                              "algorithm.entropy_loss_fn_args.entropy_coef",
                              "model.model_path",
                              "model.max_response_tokens",
                              "buffer.total_steps",
                              "buffer.batch_size",
                              "buffer.train_batch_size",
                              "buffer.explorer_input.taskset.name",
                              "buffer.explorer_input.taskset.storage_type",
                              "buffer.explorer_input.taskset.path",
                              "buffer.explorer_input.taskset.format.prompt_key",
                              "buffer.explorer_input.taskset.format.response_key",
                              "buffer.explorer_input.taskset.rollout_args.temperature",
                              "buffer.explorer_input.taskset.rollout_args.top_p",
                              "buffer.explorer_input.taskset.rollout_args.top_k",
                              "buffer.explorer_input.eval_tasksets[0].name",
                              "buffer.explorer_input.eval_tasksets[0].storage_type",
                              "buffer.explorer_input.eval_tasksets[0].path",
                              "buffer.explorer_input.eval_tasksets[0].rollout_args.temperature",
                              "buffer.explorer_input.default_reward_fn_type",
                              "buffer.trainer_input.sft_warmup_dataset.name",
                              "buffer.trainer_input.sft_warmup_dataset.storage_type",
                              "buffer.trainer_input.sft_warmup_dataset.path",
                              "buffer.trainer_input.sft_warmup_dataset.format.prompt_type",
                              "buffer.trainer_input.sft_warmup_dataset.format.messages_key",
                              "explorer.eval_interval",
                              "explorer.rollout_model.seed",
                              "synchronizer.sync_interval",
                              "trainer.save_interval",
                              "trainer.actor_grad_clip"});
}

TEST(TrinityConfigTest, ChordPhiWithTrinityDefaultsAndAsyncSync) {
  const std::string yaml = ReadTestConfig("chord_phi.yaml");
  TrinityConversionOptions options;
  options.steps = 100;
  absl::StatusOr<TrinityConversion> conversion =
      ConvertTrinityConfig(yaml, "chord_phi.yaml", options);
  ASSERT_TRUE(conversion.ok()) << conversion.status();
  const learner::JobSpec spec = ParseConverted(*conversion);
  const algorithm::Config& a = spec.algorithm;
  EXPECT_EQ(a.variant, "chord-phi");
  EXPECT_EQ(a.sft.EffectiveWeight(), algorithm::SftWeight::kPhi);
  EXPECT_EQ(a.mu.mu_peak, 0.1);
  EXPECT_EQ(a.mu.mu_valley, 0.1);
  EXPECT_EQ(a.batch.expert_data_ratio, 0.11);
  EXPECT_EQ(spec.ExpertRowsPerStep(), 96);  // ceil(0.11 x 864)
  EXPECT_EQ(spec.TasksPerStep(), 96);
  EXPECT_EQ(a.policy_loss.EffectiveClipLow(), 0.2);
  EXPECT_EQ(a.policy_loss.EffectiveClipHigh(), 0.28);
  EXPECT_EQ(a.aggregation.loss_agg_mode, algorithm::LossAggMode::kSeqMeanTokenMean);
  // Trinity-RFT's default KL loss, made explicit: the job needs a reference model.
  EXPECT_EQ(a.regularizer.kl_loss_fn, algorithm::KlEstimator::kK2);
  EXPECT_EQ(a.regularizer.kl_coef, 0.001);
  EXPECT_TRUE(algorithm::NeedsReferencePolicy(a));
  EXPECT_THAT(conversion->notes, ::testing::Contains(HasSubstr("kl_coef 0.001")));
  // Trinity-RFT never applies a reward penalty to mix_chord: not mapped, so Chord applies none.
  EXPECT_EQ(a.regularizer.kl_penalty_fn, algorithm::KlEstimator::kNone);
  EXPECT_THAT(ReasonOf(*conversion, "algorithm.kl_penalty_fn"), HasSubstr("never used it"));
  // sync_interval 2: one version of lag.
  EXPECT_EQ(spec.mode, learner::JobMode::kAsync);
  EXPECT_EQ(spec.max_staleness, 1);
  EXPECT_FALSE(a.batch.strict_on_policy);
  EXPECT_THAT(ReasonOf(*conversion, "buffer.trainer_input.sft_warmup_dataset.format.messages_key"),
              HasSubstr("rename the field \"conversations\""));
  EXPECT_THAT(ReasonOf(*conversion, "buffer.explorer_input.default_workflow_type"),
              HasSubstr("set `verifier`"));
  EXPECT_THAT(ReasonOf(*conversion, "buffer.total_epochs"), HasSubstr("steps were given"));
  ExpectEveryKeyAccountedFor(yaml, *conversion,
                             {"name",
                              "mode",
                              "algorithm.algorithm_type",
                              "algorithm.repeat_times",
                              "algorithm.sample_strategy_args.expert_data_ratio",
                              "algorithm.policy_loss_fn_args.mu_warmup_steps",
                              "algorithm.policy_loss_fn_args.mu_decay_steps",
                              "algorithm.policy_loss_fn_args.mu_peak",
                              "algorithm.policy_loss_fn_args.mu_valley",
                              "algorithm.policy_loss_fn_args.enable_phi_function",
                              "algorithm.policy_loss_fn_args.clip_range_low",
                              "algorithm.policy_loss_fn_args.clip_range_high",
                              "algorithm.policy_loss_fn_args.grpo_loss_agg_mode",
                              "model.model_path",
                              "model.max_response_tokens",
                              "buffer.batch_size",
                              "buffer.train_batch_size",
                              "buffer.explorer_input.taskset.name",
                              "buffer.explorer_input.taskset.path",
                              "buffer.explorer_input.taskset.format.prompt_key",
                              "buffer.explorer_input.taskset.rollout_args.temperature",
                              "buffer.trainer_input.sft_warmup_dataset.name",
                              "buffer.trainer_input.sft_warmup_dataset.path",
                              "buffer.trainer_input.sft_warmup_dataset.format.prompt_type",
                              "explorer.eval_interval",
                              "synchronizer.sync_interval",
                              "synchronizer.sync_offset",
                              "trainer.save_interval"});
}

TEST(TrinityConfigTest, PureSft) {
  const std::string yaml = ReadTestConfig("sft.yaml");
  absl::StatusOr<TrinityConversion> conversion = ConvertTrinityConfig(yaml, "sft.yaml");
  ASSERT_TRUE(conversion.ok()) << conversion.status();
  const learner::JobSpec spec = ParseConverted(*conversion);
  const algorithm::Config& a = spec.algorithm;
  EXPECT_EQ(a.variant, "sft");
  EXPECT_EQ(a.batch.expert_data_ratio, 1.0);
  EXPECT_EQ(a.mu.mu_peak, 1.0);
  EXPECT_EQ(a.sft.EffectiveWeight(), algorithm::SftWeight::kPhi);  // sft_phi
  EXPECT_EQ(a.sft.cutoff_prob, 0.9);
  EXPECT_EQ(a.sft.EffectiveAggMode(), algorithm::LossAggMode::kSeqMeanTokenMean);
  EXPECT_FALSE(algorithm::NeedsReferencePolicy(a));
  EXPECT_EQ(spec.train_batch_size, 64);
  EXPECT_EQ(spec.ExpertRowsPerStep(), 64);
  EXPECT_EQ(spec.steps, 300);
  EXPECT_EQ(spec.expert.path, "/data/openr1_sft.jsonl");
  EXPECT_TRUE(spec.tasks.path.empty());
  EXPECT_EQ(spec.save_interval, 100);
  EXPECT_THAT(ReasonOf(*conversion, "buffer.batch_size"), HasSubstr("train_batch_size"));
  ExpectEveryKeyAccountedFor(
      yaml, *conversion,
      {"mode", "name", "algorithm.algorithm_type", "algorithm.policy_loss_fn",
       "algorithm.policy_loss_fn_args.use_token_level_loss",
       "algorithm.policy_loss_fn_args.cutoff_prob", "model.model_path", "model.max_response_tokens",
       "buffer.total_steps", "buffer.train_batch_size",
       "buffer.trainer_input.experience_buffer.name",
       "buffer.trainer_input.experience_buffer.storage_type",
       "buffer.trainer_input.experience_buffer.path",
       "buffer.trainer_input.experience_buffer.format.prompt_type",
       "buffer.trainer_input.experience_buffer.format.prompt_key",
       "buffer.trainer_input.experience_buffer.format.response_key", "trainer.save_interval"});
}

TEST(TrinityConfigTest, PureGrpoWithTrinityDefaults) {
  const std::string yaml = ReadTestConfig("grpo.yaml");
  absl::StatusOr<TrinityConversion> conversion = ConvertTrinityConfig(yaml, "grpo.yaml");
  ASSERT_TRUE(conversion.ok()) << conversion.status();
  const learner::JobSpec spec = ParseConverted(*conversion);
  const algorithm::Config& a = spec.algorithm;
  EXPECT_EQ(a.variant, "grpo");
  EXPECT_EQ(a.batch.expert_data_ratio, 0.0);
  EXPECT_EQ(a.mu.mu_peak, 0.0);
  EXPECT_EQ(a.batch.repeat_times, 2);    // Trinity-RFT's grpo default
  EXPECT_EQ(spec.train_batch_size, 32);  // 16 tasks x 2
  EXPECT_EQ(spec.TasksPerStep(), 16);
  EXPECT_EQ(a.regularizer.kl_coef, 0.001);  // Trinity-RFT's default k2 KL loss
  EXPECT_EQ(a.policy_loss.clip_ratio_c, 3.0);
  EXPECT_EQ(spec.eval.name, "gsm8k_test");
  EXPECT_EQ(spec.verifier, "math_boxed");
  EXPECT_TRUE(spec.expert.path.empty());
  EXPECT_THAT(ReasonOf(*conversion, "buffer.explorer_input.eval_tasksets[1]"),
              HasSubstr("one dataset"));
  EXPECT_THAT(ReasonOf(*conversion, "algorithm.optimizer.lr"),
              HasSubstr("not a Trinity-RFT key this converter knows"));
  EXPECT_THAT(ReasonOf(*conversion, "algorithm.policy_loss_fn_args.delta"),
              HasSubstr("enable_sequence_masking"));
  EXPECT_THAT(conversion->notes, ::testing::Contains(HasSubstr("repeat_times: absent")));
  ExpectEveryKeyAccountedFor(yaml, *conversion,
                             {"name",
                              "algorithm.algorithm_type",
                              "algorithm.policy_loss_fn_args.clip_range",
                              "algorithm.policy_loss_fn_args.clip_ratio_c",
                              "algorithm.policy_loss_fn_args.loss_agg_mode",
                              "algorithm.policy_loss_fn_args.enable_sequence_masking",
                              "algorithm.advantage_fn_args.epsilon",
                              "model.model_path",
                              "model.max_response_tokens",
                              "buffer.total_steps",
                              "buffer.batch_size",
                              "buffer.explorer_input.taskset.name",
                              "buffer.explorer_input.taskset.path",
                              "buffer.explorer_input.taskset.rollout_args.temperature",
                              "buffer.explorer_input.eval_tasksets[0].name",
                              "buffer.explorer_input.eval_tasksets[0].path",
                              "buffer.explorer_input.default_workflow_type",
                              "explorer.eval_interval",
                              "explorer.eval_on_startup",
                              "trainer.save_interval"});
}

TEST(TrinityConfigTest, RefusedConfigsNameTheKey) {
  auto problem = [](const std::string& yaml) {
    return std::string(ConvertTrinityConfig(yaml, "t.yaml").status().message());
  };
  EXPECT_THAT(problem("algorithm: {algorithm_type: ppo}\nmodel: {model_path: /m}\n"),
              HasSubstr("t.yaml:1: algorithm.algorithm_type: \"ppo\" is not supported"));
  EXPECT_THAT(problem("model: {model_path: /m}\n"),
              HasSubstr("t.yaml: algorithm.algorithm_type: missing"));
  EXPECT_THAT(problem("- a\n- b\n"), HasSubstr("t.yaml: document: expected a mapping"));
  EXPECT_THAT(problem("name: [unclosed\n"), HasSubstr("t.yaml:2: invalid YAML"));
  const std::string base =
      "algorithm:\n  algorithm_type: grpo\nbuffer:\n  explorer_input:\n    taskset: "
      "{path: /t.jsonl}\n";
  EXPECT_THAT(problem(base), HasSubstr("model.model_path: required"));
  EXPECT_THAT(problem(base + "model: {model_path: /m}\nmode: explore\n"),
              HasSubstr("t.yaml:7: mode: \"explore\" is not supported"));
  EXPECT_THAT(problem(base + "model: {model_path: /m, max_response_tokens: lots}\n"),
              HasSubstr("t.yaml:6: model.max_response_tokens: expected an integer, got \"lots\""));
  EXPECT_THAT(problem("algorithm: {algorithm_type: mix_chord}\nmodel: {model_path: /m}\n"),
              HasSubstr("buffer.explorer_input.taskset: required"));
  // The smallest grpo config converts to a valid spec.
  absl::StatusOr<TrinityConversion> minimal = ConvertTrinityConfig(
      base + "model: {model_path: /m}\nbuffer_extra: 1\n", "t.yaml", {/*steps=*/10});
  ASSERT_TRUE(minimal.ok()) << minimal.status();
  EXPECT_TRUE(learner::ParseJobSpec(minimal->spec_yaml, "t.yaml").ok()) << minimal->spec_yaml;
  EXPECT_EQ(ReasonOf(*minimal, "buffer_extra"), "not a Trinity-RFT key this converter knows");
}

}  // namespace
}  // namespace chord::chordctl
