// FakeExpertBufferClient: the fake other services' tests sample from behaves like the service
// where they rely on it (same cursor, same batch; cursors advance; unknown datasets and bad
// cursors are errors) and injects the failures it is told to.

#include "services/expert_buffer/fake_client.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace chord::expert_buffer {
namespace {

std::vector<chord::v1::Task> Tasks(int n) {
  std::vector<chord::v1::Task> tasks(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) tasks[static_cast<size_t>(i)].set_id("t" + std::to_string(i));
  return tasks;
}

chord::v1::SampleRequest Request(const std::string& dataset, int n, const std::string& cursor) {
  chord::v1::SampleRequest request;
  request.set_dataset(dataset);
  request.set_n(n);
  request.set_cursor(cursor);
  return request;
}

TEST(FakeExpertBufferClientTest, SamplesInOrderAndTheSameCursorGivesTheSameBatch) {
  FakeExpertBufferClient fake;
  fake.AddTasks("math", Tasks(5));
  auto first = fake.SampleTasks(Request("math", 3, ""));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->tasks_size(), 3);
  EXPECT_EQ(first->tasks(0).id(), "t0");
  EXPECT_EQ(first->tasks(2).id(), "t2");
  auto second = fake.SampleTasks(Request("math", 3, first->next_cursor()));
  ASSERT_TRUE(second.ok()) << second.status();
  // Wraps around: t3, t4, t0 (second epoch).
  EXPECT_EQ(second->tasks(0).id(), "t3");
  EXPECT_EQ(second->tasks(2).id(), "t0");
  EXPECT_EQ(second->epoch(), 1);
  auto again = fake.SampleTasks(Request("math", 3, first->next_cursor()));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->tasks(0).id(), second->tasks(0).id());
  EXPECT_EQ(fake.calls("SampleTasks").size(), 3u);
}

TEST(FakeExpertBufferClientTest, LoadReadAndErrors) {
  FakeExpertBufferClient fake;
  fake.AddTasks("eval", Tasks(4));
  chord::v1::LoadDatasetRequest load;
  load.set_name("eval");
  load.set_kind(chord::v1::DATASET_KIND_TASKS);
  auto loaded = fake.LoadDataset(load);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->num_records(), 4);
  load.set_kind(chord::v1::DATASET_KIND_EXPERT);
  EXPECT_EQ(fake.LoadDataset(load).status().code(), absl::StatusCode::kNotFound);

  chord::v1::ReadTasksRequest read;
  read.set_dataset("eval");
  read.set_limit(3);
  auto first = fake.ReadTasks(read);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->tasks_size(), 3);
  EXPECT_EQ(first->total(), 4);

  EXPECT_EQ(fake.SampleTasks(Request("nope", 1, "")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(fake.SampleTasks(Request("eval", 1, "xyz")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(fake.SampleTasks(Request("eval", 0, "")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FakeExpertBufferClientTest, ScriptedFailuresHitTheNextCallsOnly) {
  FakeExpertBufferClient fake;
  chord::v1::ExpertSample sample;
  sample.set_id("e0");
  fake.AddExpert("demo", {sample});
  fake.failures().FailNext("SampleExpert", absl::UnavailableError("buffer down"), 2);
  EXPECT_EQ(fake.SampleExpert(Request("demo", 1, "")).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(fake.SampleExpert(Request("demo", 1, "")).status().code(),
            absl::StatusCode::kUnavailable);
  auto third = fake.SampleExpert(Request("demo", 2, ""));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->samples_size(), 2);
  EXPECT_EQ(third->next_cursor(), "2");
}

}  // namespace
}  // namespace chord::expert_buffer
