// FakeRolloutClient: the fake the learner's tests generate with waits for the weight version a
// request needs as a real worker does, honours timeouts and cancellation, and injects the failures
// it is told to.

#include "services/rollout_worker/fake_client.h"

#include <gtest/gtest.h>

#include <thread>

namespace chord::rollout_worker {
namespace {

chord::v1::GenerateRequest Request(int prompts, int samples, int64_t min_version) {
  chord::v1::GenerateRequest request;
  for (int i = 0; i < prompts; ++i) request.add_prompts()->set_id("p" + std::to_string(i));
  request.set_samples_per_prompt(samples);
  request.set_min_weight_version(min_version);
  return request;
}

TEST(FakeRolloutClientTest, AnswersKCompletionsPerPromptWithItsVersion) {
  FakeRolloutClient fake;
  fake.SetWeightVersion(3);
  auto response = fake.Generate(Request(2, 4, 0), CallOptions());
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->completions_size(), 8);
  EXPECT_EQ(response->completions(5).prompt_id(), "p1");
  EXPECT_EQ(response->completions(5).sample_index(), 1);
  EXPECT_EQ(response->completions(5).weight_version(), 3);
  EXPECT_EQ(response->completions(5).token_ids_size(), 3);
  EXPECT_EQ(response->generated_tokens(), 24);
  EXPECT_EQ(fake.requests().size(), 1u);
}

TEST(FakeRolloutClientTest, WaitsForTheMinimumVersionUntilItArrivesOrTheWaitEnds) {
  FakeRolloutClient stale(/*max_version_wait=*/absl::Milliseconds(50));
  EXPECT_EQ(stale.Generate(Request(1, 1, 2), CallOptions()).status().code(),
            absl::StatusCode::kFailedPrecondition);

  FakeRolloutClient patient;
  std::thread publisher([&patient] {
    absl::SleepFor(absl::Milliseconds(5));
    patient.SetWeightVersion(2);
  });
  auto response = patient.Generate(Request(1, 1, 2), CallOptions());
  publisher.join();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->weight_version(), 2);
  EXPECT_EQ(response->completions(0).weight_version(), 2);
}

TEST(FakeRolloutClientTest, HeldCallsEndByTimeoutOrCanceller) {
  FakeRolloutClient fake;
  fake.Hold();
  CallOptions timed;
  timed.timeout = absl::Milliseconds(20);
  EXPECT_EQ(fake.Generate(Request(1, 1, 0), timed).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  CallCanceller canceller;
  CallOptions cancellable;
  cancellable.canceller = &canceller;
  std::thread cancel([&canceller] {
    absl::SleepFor(absl::Milliseconds(5));
    canceller.Cancel();
  });
  EXPECT_EQ(fake.Generate(Request(1, 1, 0), cancellable).status().code(),
            absl::StatusCode::kCancelled);
  cancel.join();
  fake.Release();
  EXPECT_TRUE(fake.Generate(Request(1, 1, 0), CallOptions()).ok());
}

TEST(FakeRolloutClientTest, ScriptedFailuresAndResponders) {
  FakeRolloutClient fake;
  fake.failures().FailNext("Generate", absl::UnavailableError("worker down"));
  EXPECT_EQ(fake.Generate(Request(1, 1, 0), CallOptions()).status().code(),
            absl::StatusCode::kUnavailable);
  fake.SetResponder(
      [](const chord::v1::Prompt& prompt, int samples, const chord::v1::SamplingParams&) {
        std::vector<chord::v1::Completion> completions(static_cast<size_t>(samples));
        for (auto& c : completions) c.set_text("answer for " + prompt.id());
        return completions;
      });
  auto response = fake.Generate(Request(1, 2, 0), CallOptions());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->completions(1).text(), "answer for p0");
}

}  // namespace
}  // namespace chord::rollout_worker
