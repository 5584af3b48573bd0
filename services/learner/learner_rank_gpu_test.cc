// GPU tests of the learner rank (built only with -DCHORD_WITH_CUDA=ON, ctest label `gpu`): a
// 1-rank step on CUDA whose collectives really go through ProcessGroupNCCL equals the same step
// on the CPU within 1e-4, and a checkpoint written from CUDA loads back on the CPU.

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <random>

#include "common/dist/process_group.h"
#include "common/model/causal_lm.h"
#include "common/model/tiny_preset.h"
#include "services/learner/learner_rank.h"
#include "tests/support/child_process.h"

namespace chord::learner {
namespace {

std::vector<algorithm::TrainingRow> Rows(uint32_t seed) {
  std::mt19937 gen(seed);
  auto uniform = [&gen](int lo, int hi) { return lo + static_cast<int>(gen() % (hi - lo + 1)); };
  std::vector<algorithm::TrainingRow> rows;
  for (int i = 0; i < 12; ++i) {
    algorithm::TrainingRow row;
    for (int j = uniform(1, 6); j > 0; --j) row.prompt_ids.push_back(uniform(3, 90));
    for (int j = uniform(1, 24); j > 0; --j) row.response_ids.push_back(uniform(3, 90));
    row.is_expert = i % 3 == 2;
    if (!row.is_expert) {
      row.advantage = static_cast<float>(uniform(0, 200) - 100) / 50.0f;
      row.reward = static_cast<float>(uniform(0, 1));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

algorithm::Config Config() {
  algorithm::Config config;
  config.optimizer.lr = 1e-4;
  config.batch.micro_batch_token_budget = 96;
  return config;
}

TEST(LearnerRankGpuTest, OneRankNcclStepMatchesTheCpuStep) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu-labelled tests need a CUDA device";
  testing::TempDir dir;
  const std::string model_dir = dir.File("tiny");
  ASSERT_TRUE(model::WriteTinyModel(model_dir).ok());

  auto cpu_group = dist::ProcessGroup::Create(dist::DistOptions());
  ASSERT_TRUE(cpu_group.ok());
  auto cpu = LearnerRank::Create(LearnerRankOptions(), cpu_group->get());
  ASSERT_TRUE(cpu.ok());
  ASSERT_TRUE((*cpu)->LoadModel(model_dir).ok());
  ASSERT_TRUE((*cpu)->ResetOptimizer(Config()).ok());

  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  dist::DistOptions nccl_options;
  nccl_options.backend = dist::Backend::kNccl;
  nccl_options.master_port = *port;
  nccl_options.single_rank_backend = true;  // collectives really run through NCCL
  nccl_options.timeout = absl::Seconds(60);
  auto nccl_group = dist::ProcessGroup::Create(nccl_options);
  ASSERT_TRUE(nccl_group.ok()) << nccl_group.status();
  LearnerRankOptions gpu_options;
  gpu_options.device = torch::Device(torch::kCUDA, 0);
  auto gpu = LearnerRank::Create(gpu_options, nccl_group->get());
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  ASSERT_TRUE((*gpu)->LoadModel(model_dir).ok());
  ASSERT_TRUE((*gpu)->ResetOptimizer(Config()).ok());

  for (int step = 1; step <= 2; ++step) {
    auto cpu_metrics = (*cpu)->TrainStep(step, Rows(step), Config());
    auto gpu_metrics = (*gpu)->TrainStep(step, Rows(step), Config());
    ASSERT_TRUE(cpu_metrics.ok()) << cpu_metrics.status();
    ASSERT_TRUE(gpu_metrics.ok()) << gpu_metrics.status();
    EXPECT_NEAR(gpu_metrics->loss, cpu_metrics->loss, 1e-4);
    EXPECT_NEAR(gpu_metrics->grad_norm, cpu_metrics->grad_norm, 1e-4);
  }
  const auto cpu_params = (*cpu)->NamedParameters();
  const auto gpu_params = (*gpu)->NamedParameters();
  ASSERT_EQ(cpu_params.size(), gpu_params.size());
  double max_diff = 0;
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    ASSERT_TRUE(gpu_params[i].second.is_cuda());
    max_diff = std::max(
        max_diff, (gpu_params[i].second.cpu() - cpu_params[i].second).abs().max().item<double>());
  }
  EXPECT_LT(max_diff, 1e-4);
  std::printf("max |cuda - cpu| after 2 steps = %.3g\n", max_diff);

  // A checkpoint written from CUDA memory: its model folder loads on the CPU with the same
  // weights, and a CUDA rank resumes from it.
  const std::string checkpoint = dir.File(CheckpointName(2));
  TrainerState state;
  state.step = 2;
  ASSERT_TRUE((*gpu)->SaveCheckpoint(checkpoint, state).ok());
  auto loaded = model::CausalLM::Load(checkpoint + "/model");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const auto loaded_params = (*loaded)->NamedParameters();
  for (size_t i = 0; i < loaded_params.size(); ++i) {
    EXPECT_TRUE(at::equal(loaded_params[i].second, gpu_params[i].second.cpu()));
  }
  auto resumed = LearnerRank::Create(gpu_options, nccl_group->get());
  ASSERT_TRUE(resumed.ok());
  ASSERT_TRUE((*resumed)->LoadModel(model_dir).ok());
  auto restored = (*resumed)->LoadCheckpoint(checkpoint, Config());
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->step, 2);
  EXPECT_TRUE((*resumed)->TrainStep(3, Rows(3), Config()).ok());
}

}  // namespace
}  // namespace chord::learner
