// Learner ranks on the tiny preset model: data-parallel equivalence (2 ranks in two processes
// over Gloo on loopback vs 1 rank), bit-exact checkpoint resume, corrupt checkpoints refused,
// checkpoint model folders loadable by the rollout worker's loader, and a peer rank that dies or
// hangs. Rank 1 of the two-process tests is this binary started again as a child process in
// worker mode (CHORD_LEARNER_TEST_WORKER=<scenario>), as common/dist/dist_test.cc does.

#include "services/learner/learner_rank.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "common/model/tiny_preset.h"
#include "common/status/status_macros.h"
#include "gmock/gmock.h"
#include "services/learner/adamw_state.h"
#include "tests/support/child_process.h"

namespace chord::learner {
namespace {

namespace fs = std::filesystem;
using ::testing::AnyOf;
using ::testing::HasSubstr;

std::string g_self_path;

// A deterministic step batch from `seed` (identical in every process): unequal lengths, on-policy
// rows with advantages, rewards and behaviour log-probs, expert rows, and partial loss masks.
std::vector<algorithm::TrainingRow> MakeRows(uint32_t seed, int count = 12) {
  std::mt19937 gen(seed);
  auto uniform = [&gen](int lo, int hi) { return lo + static_cast<int>(gen() % (hi - lo + 1)); };
  std::vector<algorithm::TrainingRow> rows;
  for (int i = 0; i < count; ++i) {
    algorithm::TrainingRow row;
    const int prompt = uniform(1, 6);
    const int response = uniform(1, 24);
    for (int j = 0; j < prompt; ++j) row.prompt_ids.push_back(uniform(3, 90));
    for (int j = 0; j < response; ++j) row.response_ids.push_back(uniform(3, 90));
    row.is_expert = i % 3 == 2;
    if (!row.is_expert) {
      row.advantage = static_cast<float>(uniform(0, 200) - 100) / 50.0f;
      row.reward = static_cast<float>(uniform(0, 1));
      for (int j = 0; j < response; ++j) {
        row.old_logprobs.push_back(-static_cast<float>(uniform(100, 600)) / 100.0f);
      }
    }
    if (i % 5 == 0 && response > 2) {
      row.loss_mask.assign(response, 1);
      row.loss_mask[1] = 0;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

algorithm::Config TestConfig() {
  algorithm::Config config;
  // Adam normalises each gradient component, so a relative rounding difference in a component
  // whose contributions nearly cancel (summed in another order by 2 ranks) moves its update by
  // that fraction of lr: lr bounds how far 1 and 2 ranks can drift apart.
  config.optimizer.lr = 1e-4;
  // Stale behaviour log-probs: the PPO ratio and its clipping are active.
  config.batch.strict_on_policy = false;
  // Several micro-batches per rank.
  config.batch.micro_batch_token_budget = 96;
  config.regularizer.entropy_coef = 1e-3;
  return config;
}

absl::StatusOr<std::unique_ptr<dist::ProcessGroup>> SingleRankGroup() {
  return dist::ProcessGroup::Create(dist::DistOptions());
}

absl::StatusOr<std::unique_ptr<LearnerRank>> LoadedRank(dist::ProcessGroup* group,
                                                        const std::string& model_dir) {
  ASSIGN_OR_RETURN(auto rank, LearnerRank::Create(LearnerRankOptions(), group));
  RETURN_IF_ERROR(rank->LoadModel(model_dir));
  RETURN_IF_ERROR(rank->ResetOptimizer(TestConfig()));
  return rank;
}

// Steps [first, last] with the batch of each step seeded by its number.
absl::Status RunSteps(LearnerRank& rank, int first, int last,
                      std::vector<algorithm::StepMetrics>* metrics = nullptr) {
  for (int step = first; step <= last; ++step) {
    ASSIGN_OR_RETURN(algorithm::StepMetrics m, rank.TrainStep(step, MakeRows(step), TestConfig()));
    if (metrics != nullptr) metrics->push_back(m);
  }
  return absl::OkStatus();
}

std::vector<at::Tensor> CloneParameters(const LearnerRank& rank) {
  std::vector<at::Tensor> out;
  for (const auto& [name, p] : rank.NamedParameters()) out.push_back(p.detach().clone());
  return out;
}

// The sequence both ranks of the two-process test run: 2 steps, a checkpoint, a fresh rank that
// resumes from it, 1 more step, the final weights written to `out_dir`, and a checkpoint that
// cannot be written (rank 0's error must reach every rank).
absl::Status TrainCheckpointResume(dist::ProcessGroup* group, const std::string& model_dir,
                                   const std::string& checkpoint_dir, const std::string& out_dir,
                                   std::vector<algorithm::StepMetrics>* metrics) {
  {
    ASSIGN_OR_RETURN(auto rank, LoadedRank(group, model_dir));
    RETURN_IF_ERROR(RunSteps(*rank, 1, 2, metrics));
    TrainerState state;
    state.step = 2;
    state.values["expert_cursor"] = "24";
    RETURN_IF_ERROR(rank->SaveCheckpoint(checkpoint_dir, state));
  }
  ASSIGN_OR_RETURN(auto rank, LearnerRank::Create(LearnerRankOptions(), group));
  RETURN_IF_ERROR(rank->LoadModel(model_dir));
  ASSIGN_OR_RETURN(TrainerState state, rank->LoadCheckpoint(checkpoint_dir, TestConfig()));
  if (state.step != 2 || state.values["expert_cursor"] != "24") {
    return absl::InternalError(absl::StrCat("rank ", group->rank(), ": wrong trainer state"));
  }
  RETURN_IF_ERROR(RunSteps(*rank, 3, 3, metrics));
  RETURN_IF_ERROR(rank->SaveModel(out_dir));
  absl::Status unwritable = rank->SaveCheckpoint("/proc/chord-no-such-folder/step-00000003", state);
  if (unwritable.ok()) return absl::InternalError("a checkpoint into /proc was written");
  return absl::OkStatus();
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// Worker side (rank 1). Returns the process exit code.
int RunWorker(const std::string& scenario) {
  auto options = dist::DistOptionsFromProcessEnv();
  if (!options.ok()) return 10;
  options->timeout = absl::Seconds(60);
  auto group = dist::ProcessGroup::Create(*options);
  if (!group.ok()) {
    std::fprintf(stderr, "worker: %s\n", group.status().ToString().c_str());
    return 11;
  }
  const std::string model_dir = Env("CHORD_LEARNER_TEST_MODEL");
  if (scenario == "train") {
    absl::Status status =
        TrainCheckpointResume(group->get(), model_dir, Env("CHORD_LEARNER_TEST_CHECKPOINT"),
                              Env("CHORD_LEARNER_TEST_OUT"), nullptr);
    if (!status.ok()) {
      std::fprintf(stderr, "worker: %s\n", status.ToString().c_str());
      return 12;
    }
    return 0;
  }
  if (scenario == "bad_model") {
    auto rank = LearnerRank::Create(LearnerRankOptions(), group->get());
    if (!rank.ok()) return 14;
    absl::Status status = (*rank)->LoadModel(model_dir + "/missing");
    return status.code() == absl::StatusCode::kNotFound ? 0 : 15;
  }
  // "die" / "hang": one step together, then the peer is gone or silent.
  auto rank = LoadedRank(group->get(), model_dir);
  if (!rank.ok() || !RunSteps(**rank, 1, 1).ok()) return 13;
  if (scenario == "die") _exit(0);
  std::this_thread::sleep_for(std::chrono::seconds(120));
  return 0;
}

absl::StatusOr<std::unique_ptr<testing::ChildProcess>> StartWorker(
    const std::string& scenario, int port, const std::string& log,
    std::map<std::string, std::string> env) {
  env["CHORD_LEARNER_TEST_WORKER"] = scenario;
  env["MASTER_ADDR"] = "127.0.0.1";
  env["MASTER_PORT"] = std::to_string(port);
  env["RANK"] = "1";
  env["WORLD_SIZE"] = "2";
  return testing::ChildProcess::Start({g_self_path}, log, env);
}

dist::DistOptions RankZeroOptions(int port, absl::Duration timeout) {
  dist::DistOptions options;
  options.master_port = port;
  options.world_size = 2;
  options.rank = 0;
  options.timeout = timeout;
  return options;
}

std::string WorkerLog(const std::string& path) {
  auto text = files::ReadFile(path);
  return text.ok() ? *text : std::string("(no worker log)");
}

class LearnerRankTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new testing::TempDir();
    model_dir_ = tmp_->File("tiny");
    absl::Status status = model::WriteTinyModel(model_dir_);
    ASSERT_TRUE(status.ok()) << status;
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }

  static testing::TempDir* tmp_;
  static std::string model_dir_;
  testing::TempDir dir_;
};

testing::TempDir* LearnerRankTest::tmp_ = nullptr;
std::string LearnerRankTest::model_dir_;

TEST_F(LearnerRankTest, StepsTrainTheModelAndReportMetrics) {
  auto group = SingleRankGroup();
  ASSERT_TRUE(group.ok());
  auto rank = LoadedRank(group->get(), model_dir_);
  ASSERT_TRUE(rank.ok()) << rank.status();
  EXPECT_EQ((*rank)->rank(), 0);
  EXPECT_EQ((*rank)->world_size(), 1);
  const std::vector<at::Tensor> before = CloneParameters(**rank);
  std::vector<algorithm::StepMetrics> metrics;
  ASSERT_TRUE(RunSteps(**rank, 1, 2, &metrics).ok());
  const std::vector<at::Tensor> after = CloneParameters(**rank);
  ASSERT_EQ(before.size(), after.size());
  int changed = 0;
  for (size_t i = 0; i < before.size(); ++i) changed += at::equal(before[i], after[i]) ? 0 : 1;
  EXPECT_EQ(changed, static_cast<int>(before.size()));
  for (const algorithm::StepMetrics& m : metrics) {
    EXPECT_TRUE(std::isfinite(m.loss));
    EXPECT_GT(m.grad_norm, 0);
    EXPECT_GT(m.entropy, 0);
    EXPECT_EQ(m.expert_rows, 4);
    EXPECT_EQ(m.on_policy_rows, 8);
    EXPECT_GT(m.local_micro_batches, 1);
  }
}

// ppo_epochs x mini-batches: 2 x 3 optimizer updates in one step (AdamW counts 6 steps), the
// old log-probs recorded before the first update under strict_on_policy, so the ratio moves away
// from 1 after it (approx_kl != 0) while it is exactly 1 with a single update.
TEST_F(LearnerRankTest, SeveralUpdatesPerStep) {
  auto group = SingleRankGroup();
  ASSERT_TRUE(group.ok());
  auto rank = LoadedRank(group->get(), model_dir_);
  ASSERT_TRUE(rank.ok()) << rank.status();
  algorithm::Config config = TestConfig();
  config.batch.strict_on_policy = true;
  config.optimizer.lr = 1e-2;
  absl::StatusOr<algorithm::StepMetrics> one = (*rank)->TrainStep(1, MakeRows(1), config);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->updates, 1);
  EXPECT_EQ(one->approx_kl, 0.0);
  config.batch.ppo_epochs = 2;
  config.batch.ppo_mini_batch_size = 4;  // 12 rows: 3 mini-batches
  ASSERT_TRUE((*rank)->ResetOptimizer(config).ok());
  absl::StatusOr<algorithm::StepMetrics> six = (*rank)->TrainStep(1, MakeRows(1), config);
  ASSERT_TRUE(six.ok()) << six.status();
  EXPECT_EQ(six->updates, 6);
  EXPECT_NE(six->approx_kl, 0.0);
  EXPECT_EQ(six->on_policy_rows, 8);  // the whole step's counts
  int64_t steps = -1;
  for (auto& [name, param] : (*rank)->NamedParameters()) {
    const torch::optim::AdamWParamState* state = FindAdamWState(*(*rank)->optimizer(), param);
    ASSERT_NE(state, nullptr) << name;
    steps = state->step();
  }
  EXPECT_EQ(steps, 6);
  // The KL reward penalty needs the reference too.
  config.regularizer.kl_penalty_fn = algorithm::KlEstimator::kK1;
  EXPECT_EQ((*rank)->TrainStep(2, MakeRows(2), config).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// The k2 KL term against a frozen reference: refused without one; with the starting model as
// the reference, KL is 0 at the first step (policy == reference) and grows as the policy moves,
// while the reference itself never changes.
TEST_F(LearnerRankTest, KlTermUsesTheFrozenReference) {
  auto group = SingleRankGroup();
  ASSERT_TRUE(group.ok());
  auto rank = LoadedRank(group->get(), model_dir_);
  ASSERT_TRUE(rank.ok()) << rank.status();
  algorithm::Config config = TestConfig();
  config.regularizer.kl_coef = 0.1;
  config.optimizer.lr = 1e-2;
  auto refused = (*rank)->TrainStep(1, MakeRows(1), config);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("needs the reference policy"));

  EXPECT_EQ((*rank)->LoadReference(model_dir_ + "/missing").code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE((*rank)->has_reference());
  ASSERT_TRUE((*rank)->LoadReference(model_dir_).ok());
  EXPECT_TRUE((*rank)->has_reference());
  std::vector<double> kl;
  for (int step = 1; step <= 3; ++step) {
    auto metrics = (*rank)->TrainStep(step, MakeRows(step), config);
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    kl.push_back(metrics->kl_ref);
  }
  EXPECT_NEAR(kl[0], 0.0, 1e-9);
  EXPECT_GT(kl[1], 1e-6);
  EXPECT_GT(kl[2], kl[1]);

  // Loading a model (a new job) drops the reference: a KL step needs LoadReference again.
  ASSERT_TRUE((*rank)->LoadModel(model_dir_).ok());
  EXPECT_FALSE((*rank)->has_reference());
  ASSERT_TRUE((*rank)->ResetOptimizer(config).ok());
  EXPECT_EQ((*rank)->TrainStep(1, MakeRows(1), config).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Behaviour log-probs reported at a sampling temperature T give a PPO ratio of exactly 1 at the
// first step only when the learner computes its log-probs at the same T (logprob_temperature).
TEST_F(LearnerRankTest, LogprobTemperatureMatchesTheBehaviourPolicy) {
  auto group = SingleRankGroup();
  ASSERT_TRUE(group.ok());
  constexpr float kT = 0.6f;
  auto rows_at = [](model::CausalLM& lm, float temperature) {
    std::vector<algorithm::TrainingRow> rows = MakeRows(7);
    for (algorithm::TrainingRow& row : rows) {
      if (row.is_expert) continue;
      std::vector<int64_t> ids(row.prompt_ids.begin(), row.prompt_ids.end());
      ids.insert(ids.end(), row.response_ids.begin(), row.response_ids.end());
      at::Tensor input = torch::tensor(ids, torch::kInt64).unsqueeze(0);
      at::NoGradGuard no_grad;
      at::Tensor logp =
          lm.TokenLogprobs(input, torch::ones_like(input), temperature, nullptr).squeeze(0);
      row.old_logprobs.clear();
      for (size_t j = 0; j < row.response_ids.size(); ++j) {
        row.old_logprobs.push_back(
            logp[static_cast<int64_t>(row.prompt_ids.size() + j) - 1].item<float>());
      }
    }
    return rows;
  };
  double kl[2];
  for (int matched = 0; matched < 2; ++matched) {
    auto rank = LoadedRank(group->get(), model_dir_);
    ASSERT_TRUE(rank.ok()) << rank.status();
    algorithm::Config config = TestConfig();
    config.batch.logprob_temperature = matched ? kT : 1.0;
    auto metrics = (*rank)->TrainStep(1, rows_at((*rank)->model(), kT), config);
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    kl[matched] = metrics->approx_kl;
    if (matched) {
      EXPECT_NEAR(metrics->approx_kl, 0.0, 1e-6);
      EXPECT_EQ(metrics->clip_frac_upper + metrics->clip_frac_lower, 0.0);
    }
  }
  EXPECT_GT(std::abs(kl[0]), 1e-3) << "learner at T=1 against behaviour log-probs at T=" << kT;
}

TEST_F(LearnerRankTest, RefusesBadInputBeforeTraining) {
  auto group = SingleRankGroup();
  ASSERT_TRUE(group.ok());
  auto rank = LearnerRank::Create(LearnerRankOptions(), group->get());
  ASSERT_TRUE(rank.ok());
  EXPECT_EQ((*rank)->TrainStep(1, MakeRows(1), TestConfig()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*rank)->LoadCheckpoint(dir_.File("none"), TestConfig()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::Status missing = (*rank)->LoadModel(dir_.File("no-model"));
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  ASSERT_TRUE((*rank)->LoadModel(model_dir_).ok());
  EXPECT_EQ((*rank)->TrainStep(1, MakeRows(1), TestConfig()).status().code(),
            absl::StatusCode::kFailedPrecondition);  // no optimizer yet
  ASSERT_TRUE((*rank)->ResetOptimizer(TestConfig()).ok());

  std::vector<algorithm::TrainingRow> rows = MakeRows(1);
  rows[1].response_ids[0] = 1000;
  auto bad_id = (*rank)->TrainStep(1, rows, TestConfig());
  EXPECT_EQ(bad_id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad_id.status().message()), HasSubstr("rows[1].response_ids[0]"));

  algorithm::Config cosine = TestConfig();
  cosine.optimizer.lr_decay = algorithm::LrDecay::kCosine;
  auto no_total = (*rank)->TrainStep(1, MakeRows(1), cosine);
  EXPECT_EQ(no_total.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(no_total.status().message()), HasSubstr("total_steps"));
  EXPECT_TRUE((*rank)->TrainStep(1, MakeRows(1), cosine, /*total_steps=*/10).ok());

  LearnerRankOptions bad_options;
  bad_options.dtype = torch::kInt32;
  EXPECT_EQ(LearnerRank::Create(bad_options, group->get()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// (b) 4 steps straight == 2 steps + checkpoint + a fresh rank that loads it + 2 steps, bit for bit
// (weights, optimizer state and metrics); (d) the checkpoint's model folder loads as a model.
TEST_F(LearnerRankTest, ResumeFromCheckpointIsBitExact) {
  auto group = SingleRankGroup();
  ASSERT_TRUE(group.ok());
  auto straight = LoadedRank(group->get(), model_dir_);
  ASSERT_TRUE(straight.ok()) << straight.status();
  std::vector<algorithm::StepMetrics> straight_metrics;
  ASSERT_TRUE(RunSteps(**straight, 1, 4, &straight_metrics).ok());

  const std::string checkpoint = dir_.File(CheckpointName(2));
  std::vector<at::Tensor> saved_weights;
  at::Tensor draws_after_save;
  {
    auto first = LoadedRank(group->get(), model_dir_);
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE(RunSteps(**first, 1, 2).ok());
    TrainerState state;
    state.step = 2;
    state.values = {{"expert_cursor", "{\"offset\": 24}"}, {"stage", "0"}};
    absl::Status saved = (*first)->SaveCheckpoint(checkpoint, state);
    ASSERT_TRUE(saved.ok()) << saved;
    saved_weights = CloneParameters(**first);
    draws_after_save = at::rand({8});
  }
  auto resumed = LearnerRank::Create(LearnerRankOptions(), group->get());
  ASSERT_TRUE(resumed.ok());
  ASSERT_TRUE((*resumed)->LoadModel(model_dir_).ok());
  auto state = (*resumed)->LoadCheckpoint(checkpoint, TestConfig());
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->step, 2);
  EXPECT_EQ(state->values.at("expert_cursor"), "{\"offset\": 24}");
  // The CPU generator continues where it was when the checkpoint was written.
  EXPECT_TRUE(at::equal(at::rand({8}), draws_after_save));
  std::vector<algorithm::StepMetrics> resumed_metrics;
  ASSERT_TRUE(RunSteps(**resumed, 3, 4, &resumed_metrics).ok());

  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(resumed_metrics[i].loss, straight_metrics[i + 2].loss);
    EXPECT_EQ(resumed_metrics[i].grad_norm, straight_metrics[i + 2].grad_norm);
  }
  const auto straight_params = (*straight)->NamedParameters();
  const auto resumed_params = (*resumed)->NamedParameters();
  ASSERT_EQ(straight_params.size(), resumed_params.size());
  for (size_t i = 0; i < straight_params.size(); ++i) {
    EXPECT_EQ(straight_params[i].first, resumed_params[i].first);
    EXPECT_TRUE(at::equal(straight_params[i].second, resumed_params[i].second))
        << straight_params[i].first;
    auto* a = FindAdamWState(*(*straight)->optimizer(), straight_params[i].second);
    auto* b = FindAdamWState(*(*resumed)->optimizer(), resumed_params[i].second);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(a->step(), 4);
    EXPECT_EQ(b->step(), 4);
    EXPECT_TRUE(at::equal(a->exp_avg(), b->exp_avg())) << straight_params[i].first;
    EXPECT_TRUE(at::equal(a->exp_avg_sq(), b->exp_avg_sq())) << straight_params[i].first;
  }

  // (d) What the rollout worker does with a checkpoint: load its model folder.
  auto loaded = model::CausalLM::Load(checkpoint + "/model");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const auto loaded_params = (*loaded)->NamedParameters();
  ASSERT_EQ(loaded_params.size(), saved_weights.size());
  for (size_t i = 0; i < saved_weights.size(); ++i) {
    EXPECT_TRUE(at::equal(loaded_params[i].second, saved_weights[i])) << loaded_params[i].first;
  }
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"}) {
    EXPECT_EQ(*files::ReadFile(absl::StrCat(checkpoint, "/model/", name)),
              *files::ReadFile(absl::StrCat(model_dir_, "/", name)))
        << name;
  }
  // The final model folder of a job has the same shape.
  ASSERT_TRUE((*resumed)->SaveModel(dir_.File("final")).ok());
  EXPECT_TRUE(model::CausalLM::Load(dir_.File("final")).ok());
  EXPECT_TRUE(fs::exists(dir_.File("final/tokenizer.json")));
}

// (c) through the rank: a corrupt checkpoint is refused naming the file, and the rank keeps its
// weights and optimizer.
TEST_F(LearnerRankTest, CorruptCheckpointIsRefusedAndChangesNothing) {
  auto group = SingleRankGroup();
  ASSERT_TRUE(group.ok());
  auto rank = LoadedRank(group->get(), model_dir_);
  ASSERT_TRUE(rank.ok());
  ASSERT_TRUE(RunSteps(**rank, 1, 1).ok());
  const std::string checkpoint = dir_.File(CheckpointName(1));
  TrainerState state;
  state.step = 1;
  ASSERT_TRUE((*rank)->SaveCheckpoint(checkpoint, state).ok());
  ASSERT_TRUE(RunSteps(**rank, 2, 2).ok());
  const std::vector<at::Tensor> before = CloneParameters(**rank);
  torch::optim::AdamW* optimizer_before = (*rank)->optimizer();

  const std::string weights = checkpoint + "/model/model.safetensors";
  {
    std::fstream f(weights, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(weights) - 9));
    f.put('\x7f');
  }
  auto refused = (*rank)->LoadCheckpoint(checkpoint, TestConfig());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr(weights));

  fs::resize_file(checkpoint + "/optimizer.pt", 10);
  refused = (*rank)->LoadCheckpoint(checkpoint, TestConfig());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  fs::remove(checkpoint + "/MANIFEST.json");
  refused = (*rank)->LoadCheckpoint(checkpoint, TestConfig());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("MANIFEST.json"));

  EXPECT_EQ((*rank)->optimizer(), optimizer_before);
  const std::vector<at::Tensor> after = CloneParameters(**rank);
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(at::equal(before[i], after[i]));
}

// (a) 2 ranks in two processes (Gloo on loopback) == 1 rank on the same global batches, within
// 1e-5 after 3 steps, with a checkpoint written by rank 0 and resumed by fresh ranks in between
// (the optimizer state reaches rank 1 by broadcast); the replicas stay bit-identical.
TEST_F(LearnerRankTest, TwoProcessesMatchOneRank) {
  // The reference: one rank, 3 steps straight.
  auto single = SingleRankGroup();
  ASSERT_TRUE(single.ok());
  auto reference = LoadedRank(single->get(), model_dir_);
  ASSERT_TRUE(reference.ok());
  std::vector<algorithm::StepMetrics> reference_metrics;
  ASSERT_TRUE(RunSteps(**reference, 1, 3, &reference_metrics).ok());

  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  const std::string checkpoint = dir_.File("ckpt");
  const std::string log = dir_.File("worker.log");
  auto worker = StartWorker("train", *port, log,
                            {{"CHORD_LEARNER_TEST_MODEL", model_dir_},
                             {"CHORD_LEARNER_TEST_CHECKPOINT", checkpoint},
                             {"CHORD_LEARNER_TEST_OUT", dir_.File("rank1")}});
  ASSERT_TRUE(worker.ok());
  auto group = dist::ProcessGroup::Create(RankZeroOptions(*port, absl::Seconds(60)));
  ASSERT_TRUE(group.ok()) << group.status();
  std::vector<algorithm::StepMetrics> metrics;
  absl::Status status =
      TrainCheckpointResume(group->get(), model_dir_, checkpoint, dir_.File("rank0"), &metrics);
  ASSERT_TRUE(status.ok()) << status << "\nworker log:\n" << WorkerLog(log);
  auto code = (*worker)->Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok());
  ASSERT_EQ(*code, 0) << WorkerLog(log);

  auto rank0 = model::CausalLM::Load(dir_.File("rank0"));
  auto rank1 = model::CausalLM::Load(dir_.File("rank1"));
  ASSERT_TRUE(rank0.ok() && rank1.ok());
  const auto p0 = (*rank0)->NamedParameters();
  const auto p1 = (*rank1)->NamedParameters();
  const auto ref = (*reference)->NamedParameters();
  ASSERT_EQ(p0.size(), ref.size());
  double max_diff = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_TRUE(at::equal(p0[i].second, p1[i].second)) << "replicas differ at " << p0[i].first;
    max_diff = std::max(max_diff, (p0[i].second - ref[i].second).abs().max().item<double>());
  }
  EXPECT_LT(max_diff, 1e-5);
  // ... while training moved the weights by far more than that.
  auto initial = model::CausalLM::Load(model_dir_);
  ASSERT_TRUE(initial.ok());
  double max_change = 0;
  const auto init = (*initial)->NamedParameters();
  for (size_t i = 0; i < ref.size(); ++i) {
    max_change = std::max(max_change, (init[i].second - ref[i].second).abs().max().item<double>());
  }
  EXPECT_GT(max_change, 1e-4);
  std::printf("max |2 ranks - 1 rank| = %.3g; max |trained - initial| = %.3g\n", max_diff,
              max_change);
  ASSERT_EQ(metrics.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(metrics[i].loss, reference_metrics[i].loss, 1e-5);
    EXPECT_NEAR(metrics[i].grad_norm, reference_metrics[i].grad_norm, 1e-5);
    EXPECT_EQ(metrics[i].on_policy_tokens, reference_metrics[i].on_policy_tokens);
  }
}

// A model folder that one rank cannot read fails every rank at once (no rank waits for a
// broadcast that never comes).
TEST_F(LearnerRankTest, ModelLoadFailureOnOneRankFailsAllRanks) {
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  const std::string log = dir_.File("worker.log");
  auto worker = StartWorker("bad_model", *port, log, {{"CHORD_LEARNER_TEST_MODEL", model_dir_}});
  ASSERT_TRUE(worker.ok());
  auto group = dist::ProcessGroup::Create(RankZeroOptions(*port, absl::Seconds(60)));
  ASSERT_TRUE(group.ok()) << group.status();
  auto rank = LearnerRank::Create(LearnerRankOptions(), group->get());
  ASSERT_TRUE(rank.ok());
  absl::Status status = (*rank)->LoadModel(model_dir_);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("failed on rank(s) 1"));
  EXPECT_FALSE((*rank)->has_model());
  auto code = (*worker)->Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << WorkerLog(log);
}

// (e) A peer that dies mid-job fails the next step with a clear error instead of hanging.
TEST_F(LearnerRankTest, DeadPeerFailsTheStep) {
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  const std::string log = dir_.File("worker.log");
  auto worker = StartWorker("die", *port, log, {{"CHORD_LEARNER_TEST_MODEL", model_dir_}});
  ASSERT_TRUE(worker.ok());
  auto group = dist::ProcessGroup::Create(RankZeroOptions(*port, absl::Seconds(10)));
  ASSERT_TRUE(group.ok()) << group.status();
  auto rank = LoadedRank(group->get(), model_dir_);
  ASSERT_TRUE(rank.ok()) << rank.status() << WorkerLog(log);
  ASSERT_TRUE(RunSteps(**rank, 1, 1).ok()) << WorkerLog(log);
  auto exited = (*worker)->Wait(absl::Seconds(60));
  ASSERT_TRUE(exited.ok());
  auto step = (*rank)->TrainStep(2, MakeRows(2), TestConfig());
  ASSERT_FALSE(step.ok());
  EXPECT_THAT(step.status().code(),
              AnyOf(absl::StatusCode::kUnavailable, absl::StatusCode::kDeadlineExceeded))
      << step.status();
  EXPECT_THAT(std::string(step.status().message()), HasSubstr("rank 0/2: all_reduce failed"));
  std::printf("dead peer: %s\n", step.status().ToString().c_str());
}

// (e) A peer that hangs fails the step with DEADLINE_EXCEEDED after the group's timeout.
TEST_F(LearnerRankTest, HungPeerFailsTheStepWithinTheTimeout) {
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  const std::string log = dir_.File("worker.log");
  auto worker = StartWorker("hang", *port, log, {{"CHORD_LEARNER_TEST_MODEL", model_dir_}});
  ASSERT_TRUE(worker.ok());
  auto group = dist::ProcessGroup::Create(RankZeroOptions(*port, absl::Seconds(10)));
  ASSERT_TRUE(group.ok()) << group.status();
  auto rank = LoadedRank(group->get(), model_dir_);
  ASSERT_TRUE(rank.ok()) << rank.status();
  ASSERT_TRUE(RunSteps(**rank, 1, 1).ok()) << WorkerLog(log);
  const absl::Time start = absl::Now();
  auto step = (*rank)->TrainStep(2, MakeRows(2), TestConfig());
  ASSERT_FALSE(step.ok());
  EXPECT_EQ(step.status().code(), absl::StatusCode::kDeadlineExceeded) << step.status();
  EXPECT_THAT(std::string(step.status().message()), HasSubstr("rank 0/2: all_reduce failed"));
  // Bounded by the group's timeout, not forever (generous margin for a loaded machine).
  EXPECT_LT(absl::Now() - start, absl::Seconds(120));
  std::printf("hung peer: %s\n", step.status().ToString().c_str());
}

}  // namespace
}  // namespace chord::learner

int main(int argc, char** argv) {
  chord::learner::g_self_path = "/proc/self/exe";
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) chord::learner::g_self_path.assign(buf, static_cast<size_t>(n));
  if (const char* scenario = std::getenv("CHORD_LEARNER_TEST_WORKER")) {
    return chord::learner::RunWorker(scenario);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
