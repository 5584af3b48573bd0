// A job's preparation (job_setup.h) against fakes: addresses from the spec or the learner's
// defaults, the verifier checked on the reward service, datasets loaded and eval tasks read.

#include "services/learner/job_setup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/learner/driver_testbed.h"

namespace chord::learner {
namespace {

using testbed::DriverTestbed;
using ::testing::HasSubstr;

TEST(JobSetupTest, AddressesComeFromTheSpecElseTheDefaults) {
  ServicesSpec spec;
  ServiceDefaults defaults;
  defaults.expert_buffer = "eb:1";
  defaults.reward = "rw:1";
  defaults.rollout_workers = {"w:1"};
  spec.reward = "rw:2";
  auto addresses = ResolveServiceAddresses(spec, defaults);
  ASSERT_TRUE(addresses.ok());
  EXPECT_EQ(addresses->expert_buffer, "eb:1");
  EXPECT_EQ(addresses->reward, "rw:2");
  EXPECT_EQ(addresses->rollout_workers, std::vector<std::string>{"w:1"});

  ServiceDefaults none;
  absl::Status missing = ResolveServiceAddresses(ServicesSpec(), none).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(missing.message(),
            "no expert buffer address (services.expert_buffer or --expert_buffer)");
  none.expert_buffer = "eb:1";
  EXPECT_EQ(ResolveServiceAddresses(ServicesSpec(), none).status().message(),
            "no reward service address (services.reward or --reward)");
  none.reward = "rw:1";
  EXPECT_EQ(ResolveServiceAddresses(ServicesSpec(), none).status().message(),
            "no rollout workers (services.rollout_workers or --rollout_workers)");
}

TEST(JobSetupTest, LoadsEveryDatasetAndReadsTheEvalTasks) {
  DriverTestbed bed;
  auto spec = bed.Spec(2, "{repeat_times: 4}", "eval: {max_samples: 3}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto job = bed.store().Create("test", "name: test\n", "", 2);
  ASSERT_TRUE(job.ok());
  JobLog log(&bed.store(), job->job_id(), nullptr);
  auto prepared = PrepareJob(*spec, bed.Defaults(), bed.Factory(), log);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_EQ(prepared->addresses.reward, "fake-reward");
  EXPECT_EQ(prepared->clients.rollout_workers.size(), 2u);
  ASSERT_EQ(prepared->eval_tasks.size(), 3u);
  EXPECT_EQ(prepared->eval_tasks[0].id(), "eval:1");
  auto loads = bed.expert_buffer().calls("LoadDataset");
  ASSERT_EQ(loads.size(), 3u);
  EXPECT_EQ(loads[0].load.name(), "tasks");
  EXPECT_EQ(loads[0].load.kind(), chord::v1::DATASET_KIND_TASKS);
  EXPECT_EQ(loads[1].load.kind(), chord::v1::DATASET_KIND_EXPERT);
  EXPECT_EQ(loads[2].load.path(), "/data/eval.jsonl");
  auto logs = bed.Events(job->job_id(), chord::v1::JOB_EVENT_LOG);
  ASSERT_EQ(logs.size(), 3u);
  EXPECT_EQ(logs[0].message(), "dataset tasks: 20 records from /data/tasks.jsonl");
}

// The expert buffer answers ReadTasks in pages; the eval set is read on until it is complete.
TEST(JobSetupTest, ReadsTheEvalTasksPageByPage) {
  for (const auto& [max_samples, want, offsets] :
       std::vector<std::tuple<int, size_t, std::vector<int64_t>>>{{0, 5u, {0, 2, 4}},
                                                                  {3, 3u, {0, 2}}}) {
    DriverTestbed bed;
    bed.expert_buffer().set_read_page_size(2);
    auto spec =
        bed.Spec(2, "{repeat_times: 4}", absl::StrCat("eval: {max_samples: ", max_samples, "}\n"));
    ASSERT_TRUE(spec.ok()) << spec.status();
    auto job = bed.store().Create("test", "name: test\n", "", 2);
    ASSERT_TRUE(job.ok());
    JobLog log(&bed.store(), job->job_id(), nullptr);
    auto prepared = PrepareJob(*spec, bed.Defaults(), bed.Factory(), log);
    ASSERT_TRUE(prepared.ok()) << prepared.status();
    ASSERT_EQ(prepared->eval_tasks.size(), want) << "max_samples " << max_samples;
    for (size_t i = 0; i < want; ++i) {
      EXPECT_EQ(prepared->eval_tasks[i].id(), absl::StrCat("eval:", i + 1)) << i;
    }
    std::vector<int64_t> seen;
    for (const auto& call : bed.expert_buffer().calls("ReadTasks")) {
      seen.push_back(call.read.offset());
    }
    EXPECT_EQ(seen, offsets) << "max_samples " << max_samples;
  }
}

TEST(JobSetupTest, AnUnknownVerifierOrAMissingDatasetIsNamed) {
  DriverTestbed bed;
  auto job = bed.store().Create("test", "name: test\n", "", 2);
  ASSERT_TRUE(job.ok());
  JobLog log(&bed.store(), job->job_id(), nullptr);
  auto spec = bed.Spec(2, "{repeat_times: 4}");
  ASSERT_TRUE(spec.ok());
  spec->verifier = "countdown";
  absl::Status verifier = PrepareJob(*spec, bed.Defaults(), bed.Factory(), log).status();
  EXPECT_EQ(verifier.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(verifier.message(),
            "verifier: \"countdown\" is not a verifier of the reward service at fake-reward (it "
            "has: arithmetic, math_boxed)");

  spec->verifier = "arithmetic";
  spec->expert.name = "missing";
  absl::Status dataset = PrepareJob(*spec, bed.Defaults(), bed.Factory(), log).status();
  EXPECT_EQ(dataset.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(dataset.message()), HasSubstr("datasets.expert: "));

  bed.reward().failures().FailNext("ListVerifiers", absl::UnavailableError("reward down"));
  EXPECT_EQ(PrepareJob(*spec, bed.Defaults(), bed.Factory(), log).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace chord::learner
