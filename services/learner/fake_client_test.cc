// FakeJobClient: the fake the CLI's tests talk to answers Submit/Get/List/Cancel as the
// JobService does (idempotent Submit, NOT_FOUND for unknown jobs, newest first) and streams a
// job's events to its end.

#include "services/learner/fake_client.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace chord::learner {
namespace {

chord::v1::SubmitJobRequest Submit(const std::string& request_id) {
  chord::v1::SubmitJobRequest request;
  request.set_spec_yaml("name: fake\n");
  request.set_request_id(request_id);
  return request;
}

TEST(FakeJobClientTest, SubmitIsIdempotentAndListIsNewestFirst) {
  FakeJobClient fake;
  auto first = fake.Submit(Submit("r1"));
  auto again = fake.Submit(Submit("r1"));
  auto second = fake.Submit(Submit(""));
  ASSERT_TRUE(first.ok() && again.ok() && second.ok());
  EXPECT_EQ(first->job_id(), again->job_id());
  EXPECT_NE(first->job_id(), second->job_id());
  EXPECT_EQ(first->status().state(), chord::v1::JOB_STATE_QUEUED);

  chord::v1::ListJobsRequest list;
  auto jobs = fake.List(list);
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->jobs_size(), 2);
  EXPECT_EQ(jobs->jobs(0).job_id(), second->job_id());
  list.set_limit(1);
  EXPECT_EQ(fake.List(list)->jobs_size(), 1);

  chord::v1::GetJobRequest get;
  get.set_job_id("job-404");
  absl::Status missing = fake.Get(get).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "Get: job job-404 not found");

  chord::v1::CancelJobRequest cancel;
  cancel.set_job_id(first->job_id());
  auto cancelled = fake.Cancel(cancel);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state(), chord::v1::JOB_STATE_CANCELLED);
  list.set_limit(0);
  list.set_state(chord::v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(fake.List(list)->jobs_size(), 1);
}

TEST(FakeJobClientTest, WatchStreamsStoredThenLiveEventsToTheEnd) {
  FakeJobClient fake;
  auto job = fake.Submit(Submit(""));
  ASSERT_TRUE(job.ok());
  chord::v1::JobEvent step;
  step.set_type(chord::v1::JOB_EVENT_STEP);
  step.set_step(1);
  (*step.mutable_metrics())["loss"] = 0.5;
  ASSERT_TRUE(fake.AppendEvent(job->job_id(), step).ok());
  std::thread finisher([&fake, &job] {
    absl::SleepFor(absl::Milliseconds(10));
    ASSERT_TRUE(fake.SetState(job->job_id(), chord::v1::JOB_STATE_SUCCEEDED).ok());
  });
  chord::v1::WatchJobRequest watch;
  watch.set_job_id(job->job_id());
  std::vector<int64_t> sequences;
  absl::Status status = fake.Watch(watch, {}, [&](const chord::v1::JobEvent& event) {
    sequences.push_back(event.sequence());
    return true;
  });
  finisher.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(sequences, (std::vector<int64_t>{1, 2, 3}));
  chord::v1::GetJobRequest get;
  get.set_job_id(job->job_id());
  EXPECT_EQ(fake.Get(get)->step(), 1);
  EXPECT_EQ(fake.Get(get)->metrics().at("loss"), 0.5);

  // From a sequence on, and an idle stop on a job that does not end.
  auto live = fake.Submit(Submit(""));
  ASSERT_TRUE(fake.AppendEvent(live->job_id(), step).ok());
  watch.set_job_id(live->job_id());
  watch.set_from_sequence(2);
  WatchOptions idle;
  idle.idle_stop = absl::Milliseconds(30);
  sequences.clear();
  status = fake.Watch(watch, idle, [&](const chord::v1::JobEvent& event) {
    sequences.push_back(event.sequence());
    return true;
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(sequences, (std::vector<int64_t>{2}));
}

TEST(FakeJobClientTest, ResumeQueuesAFailedOrCancelledJobAsTheJobServiceDoes) {
  FakeJobClient fake;
  auto job = fake.Submit(Submit(""));
  ASSERT_TRUE(job.ok());
  const std::string id = job->job_id();
  chord::v1::JobEvent checkpoint;
  checkpoint.set_type(chord::v1::JOB_EVENT_CHECKPOINT);
  checkpoint.set_step(2);
  checkpoint.set_message("/s/step-2");
  ASSERT_TRUE(fake.AppendEvent(id, checkpoint).ok());
  ASSERT_TRUE(fake.SetState(id, chord::v1::JOB_STATE_FAILED, "boom").ok());

  chord::v1::ResumeJobRequest resume;
  resume.set_job_id(id);
  resume.set_reason("fixed");
  auto resumed = fake.Resume(resume);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->state(), chord::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(resumed->reason(), "");
  EXPECT_EQ(resumed->resume_count(), 1);
  ASSERT_EQ(resumed->checkpoints_size(), 1);
  EXPECT_EQ(resumed->checkpoints(0), "/s/step-2");
  // Idempotent while queued.
  EXPECT_EQ(fake.Resume(resume)->resume_count(), 1);

  ASSERT_TRUE(fake.SetState(id, chord::v1::JOB_STATE_SUCCEEDED).ok());
  absl::Status refused = fake.Resume(resume).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.message(),
            "Resume: job " + id +
                " is JOB_STATE_SUCCEEDED: only a FAILED or CANCELLED job can be resumed (submit a "
                "new job to train further)");
  resume.set_job_id("job-404");
  EXPECT_EQ(fake.Resume(resume).status().message(), "Resume: job job-404 not found");
}

}  // namespace
}  // namespace chord::learner
