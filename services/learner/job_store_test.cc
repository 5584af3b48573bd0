#include "services/learner/job_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "common/files/file_io.h"
#include "tests/support/child_process.h"

namespace chord::learner {
namespace {

using chord::v1::JobEvent;
using chord::v1::JobStatus;

class JobStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<JobStore> OpenStore() {
    auto store = JobStore::Open(dir_.File("jobs.db"));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  testing::TempDir dir_;
};

TEST_F(JobStoreTest, CreateGetAndIdempotentSubmit) {
  auto store = OpenStore();
  bool created = false;
  auto job = store->Create("math", "name: math\n", "req-1", 10, &created);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_TRUE(created);
  EXPECT_EQ(job->state(), chord::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(job->total_steps(), 10);
  EXPECT_GT(job->created_unix_ms(), 0);
  auto again = store->Create("math", "name: math\n", "req-1", 10, &created);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(again->job_id(), job->job_id());
  auto other = store->Create("math", "name: math\n", "", 10, &created);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->job_id(), job->job_id());
  auto got = store->Get(job->job_id());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->spec_yaml(), "name: math\n");
  auto missing = store->Get("job-nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("job-nope"), absl::string_view::npos);
}

// Two jobs that draw the same id: the second draws again instead of failing with INTERNAL.
TEST_F(JobStoreTest, AnIdAlreadyTakenIsDrawnAgain) {
  std::vector<std::string> draws = {"job-a", "job-a", "job-a", "job-b"};
  size_t next = 0;
  auto store = JobStore::Open(dir_.File("ids.db"), [&] { return draws.at(next++); });
  ASSERT_TRUE(store.ok()) << store.status();
  auto first = (*store)->Create("one", "name: one\n", "", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->job_id(), "job-a");
  auto second = (*store)->Create("two", "name: two\n", "", 1);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->job_id(), "job-b");
  EXPECT_EQ(next, 4u);
  auto always = JobStore::Open(dir_.File("same.db"), [] { return std::string("job-same"); });
  ASSERT_TRUE(always.ok());
  ASSERT_TRUE((*always)->Create("one", "name: one\n", "", 1).ok());
  EXPECT_EQ((*always)->Create("two", "name: two\n", "", 1).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*always)->List(kListAllJobs, chord::v1::JOB_STATE_UNSPECIFIED).value().size(), 1u);
}

// The default ids: time and 32 random bits, no two alike over many quick submits.
TEST_F(JobStoreTest, DefaultIdsAreDistinct) {
  auto store = OpenStore();
  std::set<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    auto job = store->Create("j", "name: j\n", "", 1);
    ASSERT_TRUE(job.ok()) << job.status();
    EXPECT_THAT(job->job_id(), ::testing::MatchesRegex("job-[0-9]{8}-[0-9]{6}-[0-9a-f]{8}"));
    ids.insert(job->job_id());
  }
  EXPECT_EQ(ids.size(), 200u);
}

TEST_F(JobStoreTest, StateTransitionsAreCheckedAndIdempotent) {
  auto store = OpenStore();
  auto job = store->Create("a", "", "", 5);
  ASSERT_TRUE(job.ok());
  const std::string id = job->job_id();
  ASSERT_TRUE(store->SetState(id, chord::v1::JOB_STATE_RUNNING, "").ok());
  ASSERT_TRUE(store->SetState(id, chord::v1::JOB_STATE_RUNNING, "").ok());
  ASSERT_TRUE(store->SetState(id, chord::v1::JOB_STATE_CANCELLED, "by user").ok());
  auto done = store->Get(id);
  EXPECT_EQ(done->state(), chord::v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(done->reason(), "by user");
  EXPECT_GT(done->started_unix_ms(), 0);
  EXPECT_GE(done->finished_unix_ms(), done->started_unix_ms());
  absl::Status reopen = store->SetState(id, chord::v1::JOB_STATE_RUNNING, "");
  EXPECT_EQ(reopen.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(reopen.message().find("JOB_STATE_CANCELLED"), absl::string_view::npos);
}

TEST_F(JobStoreTest, FailedAndCancelledJobsLeaveTheirStateOnlyThroughResume) {
  auto store = OpenStore();
  const std::string failed = store->Create("f", "", "", 5)->job_id();
  ASSERT_TRUE(store->SetState(failed, chord::v1::JOB_STATE_RUNNING, "").ok());
  ASSERT_TRUE(store->RecordStep(failed, 3, {{"loss", 1.0}}).ok());
  ASSERT_TRUE(store->SetState(failed, chord::v1::JOB_STATE_FAILED, "reward: unavailable").ok());
  // SetState keeps refusing every way out of FAILED.
  for (auto state : {chord::v1::JOB_STATE_QUEUED, chord::v1::JOB_STATE_RUNNING,
                     chord::v1::JOB_STATE_SUCCEEDED, chord::v1::JOB_STATE_CANCELLED}) {
    EXPECT_EQ(store->SetState(failed, state, "").code(), absl::StatusCode::kFailedPrecondition)
        << chord::v1::JobState_Name(state);
  }
  const int64_t started = store->Get(failed)->started_unix_ms();

  auto resumed = store->Resume(failed, "reward service is back");
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->state(), chord::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(resumed->reason(), "");
  EXPECT_EQ(resumed->finished_unix_ms(), 0);
  EXPECT_EQ(resumed->started_unix_ms(), started);
  EXPECT_EQ(resumed->step(), 3);
  EXPECT_EQ(resumed->resume_count(), 1);
  // What Resume returned is what the store holds.
  EXPECT_EQ(store->Get(failed)->SerializeAsString(), resumed->SerializeAsString());
  // The failure stays in the history, followed by the resume.
  auto events = store->Events(failed, 0);
  ASSERT_TRUE(events.ok());
  ASSERT_GE(events->size(), 2u);
  const JobEvent& failure = (*events)[events->size() - 2];
  EXPECT_EQ(failure.state(), chord::v1::JOB_STATE_FAILED);
  EXPECT_EQ(failure.message(), "reward: unavailable");
  const JobEvent& resume = events->back();
  EXPECT_EQ(resume.type(), chord::v1::JOB_EVENT_STATE);
  EXPECT_EQ(resume.state(), chord::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(resume.step(), 3);
  EXPECT_EQ(resume.message(), "resumed by request: reward service is back");

  // Idempotent: a queued (or running) job is returned as it is, with no event.
  const size_t count = events->size();
  auto again = store->Resume(failed, "twice");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->SerializeAsString(), resumed->SerializeAsString());
  ASSERT_TRUE(store->SetState(failed, chord::v1::JOB_STATE_RUNNING, "").ok());
  auto running = store->Resume(failed, "");
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(running->state(), chord::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(running->resume_count(), 1);
  EXPECT_EQ(store->Events(failed, 0)->size(), count + 1);  // only the RUNNING event
  // The resumed job ends as any job, and may be resumed again.
  ASSERT_TRUE(store->SetState(failed, chord::v1::JOB_STATE_FAILED, "again").ok());
  EXPECT_EQ(store->Resume(failed, "")->resume_count(), 2);
  EXPECT_EQ(store->Events(failed, 0)->back().message(), "resumed by request");

  // A cancelled job, queued or running when cancelled.
  const std::string cancelled = store->Create("c", "", "", 5)->job_id();
  ASSERT_TRUE(store->SetState(cancelled, chord::v1::JOB_STATE_CANCELLED, "not now").ok());
  auto requeued = store->Resume(cancelled, "now");
  ASSERT_TRUE(requeued.ok()) << requeued.status();
  EXPECT_EQ(requeued->state(), chord::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(requeued->resume_count(), 1);

  // A succeeded job is never resumed; an unknown one is NOT_FOUND.
  const std::string done = store->Create("d", "", "", 5)->job_id();
  ASSERT_TRUE(store->SetState(done, chord::v1::JOB_STATE_RUNNING, "").ok());
  ASSERT_TRUE(store->SetState(done, chord::v1::JOB_STATE_SUCCEEDED, "").ok());
  auto refused = store->Resume(done, "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(),
              ::testing::HasSubstr("job " + done +
                                   " is JOB_STATE_SUCCEEDED: only a FAILED or "
                                   "CANCELLED job can be resumed"));
  EXPECT_EQ(store->Get(done)->state(), chord::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(store->Resume("job-none", "").status().code(), absl::StatusCode::kNotFound);

  // Resume is durable and its count survives a reopen.
  store.reset();
  store = OpenStore();
  EXPECT_EQ(store->Get(failed)->resume_count(), 2);
  EXPECT_EQ(store->List(kListAllJobs, chord::v1::JOB_STATE_QUEUED)->size(), 2u);
}

TEST_F(JobStoreTest, StepsEvalsCheckpointsAndEventLog) {
  auto store = OpenStore();
  auto job = store->Create("a", "", "", 3);
  const std::string id = job->job_id();
  ASSERT_TRUE(store->SetState(id, chord::v1::JOB_STATE_RUNNING, "").ok());
  ASSERT_TRUE(store->RecordStep(id, 1, {{"reward_mean", 0.25}, {"mu", 0.1}}).ok());
  ASSERT_TRUE(store->RecordEval(id, 1, {{"eval_accuracy", 0.5}}).ok());
  ASSERT_TRUE(store->RecordCheckpoint(id, 1, "/ck/step-1", {"/ck/step-1"}).ok());
  ASSERT_TRUE(store->RecordStep(id, 2, {{"reward_mean", 0.75}}).ok());
  ASSERT_TRUE(store->AppendLog(id, "hello").ok());
  auto got = store->Get(id);
  EXPECT_EQ(got->step(), 2);
  EXPECT_EQ(got->metrics().at("reward_mean"), 0.75);
  EXPECT_EQ(got->metrics().count("mu"), 0u);
  EXPECT_EQ(got->eval_metrics().at("eval_accuracy"), 0.5);
  ASSERT_EQ(got->checkpoints_size(), 1);
  auto events = store->Events(id, 0);
  ASSERT_TRUE(events.ok());
  std::vector<chord::v1::JobEventType> types;
  for (size_t i = 0; i < events->size(); ++i) {
    EXPECT_EQ((*events)[i].sequence(), static_cast<int64_t>(i + 1));
    types.push_back((*events)[i].type());
  }
  EXPECT_EQ(types,
            (std::vector<chord::v1::JobEventType>{
                chord::v1::JOB_EVENT_STATE, chord::v1::JOB_EVENT_STATE, chord::v1::JOB_EVENT_STEP,
                chord::v1::JOB_EVENT_EVAL, chord::v1::JOB_EVENT_CHECKPOINT,
                chord::v1::JOB_EVENT_STEP, chord::v1::JOB_EVENT_LOG}));
  auto tail = store->Events(id, 6);
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].step(), 2);
  EXPECT_EQ((*tail)[1].message(), "hello");
}

TEST_F(JobStoreTest, ListNewestFirstWithStateFilter) {
  auto store = OpenStore();
  std::vector<std::string> ids;
  // Created in one burst (mostly within the same millisecond): the order is still exactly the
  // reverse of creation, so the oldest queued job runs first.
  for (int i = 0; i < 3; ++i) ids.push_back(store->Create("j", "", "", 1)->job_id());
  ASSERT_TRUE(store->SetState(ids[1], chord::v1::JOB_STATE_RUNNING, "").ok());
  auto all = store->List(0, chord::v1::JOB_STATE_UNSPECIFIED);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].job_id(), ids[2]);
  EXPECT_EQ((*all)[1].job_id(), ids[1]);
  EXPECT_EQ((*all)[2].job_id(), ids[0]);
  auto running = store->List(10, chord::v1::JOB_STATE_RUNNING);
  ASSERT_EQ(running->size(), 1u);
  EXPECT_EQ((*running)[0].job_id(), ids[1]);
  EXPECT_EQ(store->List(2, chord::v1::JOB_STATE_UNSPECIFIED)->size(), 2u);
}

TEST_F(JobStoreTest, SurvivesReopen) {
  std::string id;
  {
    auto store = OpenStore();
    id = store->Create("persist", "x: 1\n", "r", 4)->job_id();
    ASSERT_TRUE(store->SetState(id, chord::v1::JOB_STATE_RUNNING, "").ok());
    ASSERT_TRUE(store->RecordStep(id, 2, {{"loss", 1.5}}).ok());
  }
  auto store = OpenStore();
  auto job = store->Get(id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), chord::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(job->step(), 2);
  EXPECT_EQ(store->Events(id, 0)->size(), 3u);
  bool created = true;
  EXPECT_EQ(store->Create("persist", "", "r", 4, &created)->job_id(), id);
  EXPECT_FALSE(created);
}

TEST_F(JobStoreTest, RefusesAFileThatIsNotAJobStoreAndLeavesItAlone) {
  std::string path = dir_.File("jobs.db");
  std::string garbage(8192, 'x');
  ASSERT_TRUE(files::WriteFileAtomically(path, garbage).ok());
  auto store = JobStore::Open(path);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
  EXPECT_NE(store.status().message().find(path), absl::string_view::npos);
  EXPECT_EQ(*files::ReadFile(path), garbage);
}

}  // namespace
}  // namespace chord::learner
