// The rollout source (rollout_source.h) over in-process fakes: a step's batch (tasks, prompts,
// seeds, scores), a worker failure absorbed by a re-send, the weight versions of sync generation
// and the async staleness bound (how far ahead the producer runs and which weights it waits for).

#include "services/learner/rollout_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/learner/driver_testbed.h"
#include "services/learner/seed_streams.h"
#include "services/learner/stage_plan.h"

namespace chord::learner {
namespace {

using testbed::DriverTestbed;

class RolloutSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto spec = bed_.Spec(6, "{variant: chord-phi, repeat_times: 4, expert_data_ratio: 0.5}");
    ASSERT_TRUE(spec.ok()) << spec.status();
    spec_ = *spec;
    auto stages = StagePlan::ForJob(spec_);
    ASSERT_TRUE(stages.ok());
    stages_.emplace(*stages);
    auto clients = bed_.Factory()(ServiceAddresses{"eb", "rw", {"w0", "w1"}}, spec_.services);
    ASSERT_TRUE(clients.ok());
    clients_ = *clients;
    pool_ = std::make_unique<RolloutPool>(clients_.rollout_workers, RolloutPoolOptions());
    gatherer_ = std::make_unique<RolloutGatherer>(&spec_, &*stages_, clients_.expert_buffer.get(),
                                                  clients_.reward.get(), pool_.get());
  }

  // The min_weight_version of every rollout request so far, in arrival order.
  std::vector<int64_t> RolloutMinVersions() {
    std::vector<int64_t> versions;
    for (int w = 0; w < 2; ++w) {
      for (const auto& request : bed_.worker(w).requests()) {
        versions.push_back(request.min_weight_version());
      }
    }
    std::sort(versions.begin(), versions.end());
    return versions;
  }

  size_t RolloutRequests() {
    return bed_.worker(0).requests().size() + bed_.worker(1).requests().size();
  }

  void Publish(RolloutSource& source, int64_t version) {
    for (auto& worker : bed_.workers()) worker->SetWeightVersion(version);
    source.WeightsPublished(version);
  }

  DriverTestbed bed_;
  JobSpec spec_;
  std::optional<StagePlan> stages_;
  JobClients clients_;
  std::unique_ptr<RolloutPool> pool_;
  std::unique_ptr<RolloutGatherer> gatherer_;
};

TEST_F(RolloutSourceTest, GathersTasksGeneratesKSamplesAndScoresThem) {
  auto batch = gatherer_->Gather(3, "", 0);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->step, 3);
  ASSERT_EQ(batch->tasks.size(), 1u);
  EXPECT_EQ(batch->tasks_cursor_after, "1");
  ASSERT_EQ(batch->groups.size(), 1u);
  ASSERT_EQ(batch->groups[0].size(), 4u);
  EXPECT_TRUE(batch->groups[0][0].correct);
  EXPECT_EQ(batch->groups[0][0].score, 1.0);
  EXPECT_FALSE(batch->groups[0][1].correct);
  EXPECT_EQ(batch->stats.calls, 1);
  EXPECT_GT(batch->stats.generated_tokens, 0);

  // The prompt is the task as one user turn, sampled with the job's sampling and the step's seed.
  auto requests = bed_.worker(0).requests();
  ASSERT_EQ(requests.size(), 1u);
  const chord::v1::GenerateRequest& request = requests[0];
  ASSERT_EQ(request.prompts_size(), 1);
  EXPECT_EQ(request.prompts(0).messages(0).role(), "user");
  EXPECT_EQ(request.prompts(0).messages(0).content(), batch->tasks[0].prompt());
  EXPECT_EQ(request.samples_per_prompt(), 4);
  EXPECT_FLOAT_EQ(request.sampling().temperature(), 1.0f);
  EXPECT_EQ(request.sampling().seed(), ShareSamplingSeed(RolloutSamplingSeed(spec_.seed, 3), 0));
  // Scored with the job's verifier, one item per completion, ids "<task>#<sample>".
  auto scored = bed_.reward().requests();
  ASSERT_EQ(scored.size(), 1u);
  ASSERT_EQ(scored[0].items_size(), 4);
  EXPECT_EQ(scored[0].items(2).id(), batch->tasks[0].id() + "#2");
  EXPECT_EQ(scored[0].items(2).verifier(), "arithmetic");
}

TEST_F(RolloutSourceTest, AWorkerFailureIsResentToTheOtherWorker) {
  bed_.FailRollouts(0, 1);
  auto batch = gatherer_->Gather(1, "", 0);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->stats.resends, 1);
  EXPECT_EQ(batch->stats.calls, 2);
  EXPECT_EQ(bed_.worker(1).requests().size(), 1u);
  EXPECT_EQ(batch->groups[0].size(), 4u);
}

TEST_F(RolloutSourceTest, SyncGeneratesEachStepWithTheNewestWeights) {
  RolloutSource::Options options;
  options.mode = JobMode::kSync;
  options.first_step = 3;
  options.last_step = 6;
  options.versions = {/*start_version=*/10, /*start_step=*/2};
  auto source = RolloutSource::Create(options, gatherer_.get(), pool_.get(), &bed_.trainer());
  Publish(*source, 10);
  auto third = source->Next(3, "5");
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->tasks_cursor_after, "6");
  Publish(*source, 11);
  auto fourth = source->Next(4, third->tasks_cursor_after);
  ASSERT_TRUE(fourth.ok()) << fourth.status();
  // Step 3 trains on version 10 (the run's first), step 4 on 11.
  EXPECT_EQ(RolloutMinVersions(), (std::vector<int64_t>{10, 11}));
}

TEST_F(RolloutSourceTest, AsyncRunsAtMostMaxStalenessPlusOneBatchesAheadWithBoundedLag) {
  RolloutSource::Options options;
  options.mode = JobMode::kAsync;
  options.max_staleness = 1;
  options.first_step = 1;
  options.last_step = 6;
  options.versions = {/*start_version=*/1, /*start_step=*/0};
  options.published_version = 1;
  options.heartbeat_interval = absl::Milliseconds(5);
  for (auto& worker : bed_.workers()) worker->SetWeightVersion(1);
  auto source = RolloutSource::Create(options, gatherer_.get(), pool_.get(), &bed_.trainer());

  // Steps 1 and 2 may use version 1: the producer makes both, then waits (two batches queued).
  ASSERT_TRUE(chord::testing::WaitFor([&] { return RolloutRequests() == 2; }));
  absl::SleepFor(absl::Milliseconds(30));  // nothing more may come: the bound holds still
  EXPECT_EQ(RolloutRequests(), 2u);

  // Training step 1 frees a slot, but step 3 needs version 2 (at most 1 behind step 3's 3).
  auto first = source->Next(1, "");
  ASSERT_TRUE(first.ok()) << first.status();
  absl::SleepFor(absl::Milliseconds(30));
  EXPECT_EQ(RolloutRequests(), 2u);
  Publish(*source, 2);
  ASSERT_TRUE(chord::testing::WaitFor([&] { return RolloutRequests() == 3; }));
  EXPECT_EQ(RolloutMinVersions(), (std::vector<int64_t>{1, 1, 2}));

  // Batches come in step order with their tasks cursor chained.
  auto second = source->Next(2, "");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->step, 2);
  EXPECT_EQ(second->tasks_cursor_after, "2");
  // While the producer waits for a batch slot or a version, Next heartbeats the other ranks.
  Publish(*source, 3);
  auto third = source->Next(3, "");
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->step, 3);
  source->Stop();
  source->Stop();  // idempotent
}

TEST_F(RolloutSourceTest, AsyncHeartbeatsWhileItWaitsAndStopsCleanly) {
  RolloutSource::Options options;
  options.mode = JobMode::kAsync;
  options.max_staleness = 0;
  options.first_step = 1;
  options.last_step = 6;
  options.versions = {/*start_version=*/1, /*start_step=*/0};
  options.published_version = 1;
  options.heartbeat_interval = absl::Milliseconds(2);
  // Every worker is slow: Next waits and keeps the other ranks alive meanwhile.
  for (auto& worker : bed_.workers()) worker->Hold();
  auto source = RolloutSource::Create(options, gatherer_.get(), pool_.get(), &bed_.trainer());
  std::thread release([this] {
    chord::testing::WaitFor([this] { return bed_.trainer().heartbeats() >= 3; });
    for (auto& worker : bed_.workers()) worker->Release();
  });
  for (auto& worker : bed_.workers()) worker->SetWeightVersion(1);
  auto first = source->Next(1, "");
  release.join();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_GE(bed_.trainer().heartbeats(), 3);
  // Stopping while the producer waits for weights that never come returns at once.
  source->Stop();
}

}  // namespace
}  // namespace chord::learner
