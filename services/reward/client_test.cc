// GrpcRewardClient against an in-process server, and InProcessRewardClient over a real core: both
// must give the same answers. FakeRewardClient (the fake other services' tests score with) keeps
// the contract they rely on.

#include "services/reward/client.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "common/rpc/server_runner.h"
#include "services/reward/fake_client.h"
#include "services/reward/grpc_client.h"
#include "services/reward/grpc_service.h"
#include "services/reward/in_process_client.h"

namespace chord::reward {
namespace {

chord::v1::ScoreRequest Batch(const std::vector<std::array<std::string, 6>>& items,
                              bool think_penalty) {
  chord::v1::ScoreRequest request;
  request.set_think_format_penalty(think_penalty);
  for (const auto& [id, verifier, prompt, response, reference, meta] : items) {
    chord::v1::ScoreItem* item = request.add_items();
    item->set_id(id);
    item->set_verifier(verifier);
    item->set_prompt(prompt);
    item->set_response(response);
    item->set_reference(reference);
    item->set_meta_json(meta);
  }
  return request;
}

chord::v1::ScoreRequest MixedBatch() {
  return Batch(
      {
          {"m1", "math_boxed", "", "\\boxed{\\dfrac{1}{2}}", "0.5", ""},
          {"m2", "math_boxed", "", "<think>a</think><think>\\boxed{2}", "3", ""},
          {"a1", "arithmetic", "", "so it is 12", "12", ""},
          {"c1", "countdown", "Using the numbers [1, 2, 3], create an equation that equals 7.",
           "<answer>1 + 2 * 3</answer>", "", ""},
          {"t1", "tool_call", "", "<tool_call>{\"name\": \"f\"}</tool_call>", "[]", ""},
      },
      true);
}

class RewardClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto scorer =
        RewardScorer::Create(RewardScorerOptions(), VerifierRegistry::CreateDefault(), nullptr);
    ASSERT_TRUE(scorer.ok());
    scorer_ = std::move(*scorer);
    service_ = std::make_unique<RewardGrpcService>(scorer_.get());
    rpc::ServerOptions options;
    options.host = "127.0.0.1";
    auto runner = rpc::ServerRunner::Start(options, {service_.get()});
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = std::move(*runner);
  }

  std::unique_ptr<RewardScorer> scorer_;
  std::unique_ptr<RewardGrpcService> service_;
  std::unique_ptr<rpc::ServerRunner> runner_;
};

TEST_F(RewardClientTest, GrpcAndInProcessClientsAgree) {
  auto grpc_client = GrpcRewardClient::Create(runner_->address());
  ASSERT_TRUE(grpc_client.ok());
  auto local_client = InProcessRewardClient::Create();
  ASSERT_TRUE(local_client.ok());
  auto remote = (*grpc_client)->Score(MixedBatch());
  auto local = (*local_client)->Score(MixedBatch());
  ASSERT_TRUE(remote.ok()) << remote.status();
  ASSERT_TRUE(local.ok()) << local.status();
  ASSERT_EQ(remote->results_size(), 5);
  ASSERT_EQ(local->results_size(), 5);
  std::vector<bool> expected_correct = {true, false, true, true, false};
  for (int i = 0; i < 5; ++i) {
    const chord::v1::ScoreResult& r = remote->results(i);
    const chord::v1::ScoreResult& l = local->results(i);
    EXPECT_EQ(r.id(), l.id());
    EXPECT_EQ(r.score(), l.score()) << r.reason();
    EXPECT_EQ(r.correct(), expected_correct[static_cast<size_t>(i)]) << r.reason();
    EXPECT_EQ(r.correct(), l.correct());
    EXPECT_EQ(r.reason(), l.reason());
    EXPECT_EQ(r.extracted(), l.extracted());
  }
  EXPECT_FLOAT_EQ(remote->results(1).score(), -0.1f);

  auto remote_verifiers = (*grpc_client)->ListVerifiers();
  auto local_verifiers = (*local_client)->ListVerifiers();
  ASSERT_TRUE(remote_verifiers.ok());
  ASSERT_TRUE(local_verifiers.ok());
  ASSERT_EQ(remote_verifiers->verifiers_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(remote_verifiers->verifiers(i).name(), local_verifiers->verifiers(i).name());
    EXPECT_EQ(remote_verifiers->verifiers(i).description(),
              local_verifiers->verifiers(i).description());
  }
}

TEST_F(RewardClientTest, ErrorsReadTheSameOverTheWire) {
  auto grpc_client = GrpcRewardClient::Create(runner_->address());
  ASSERT_TRUE(grpc_client.ok());
  InProcessRewardClient local_client(scorer_.get());
  chord::v1::ScoreRequest bad = Batch({{"x", "unknown", "", "", "", ""}}, false);
  absl::Status remote = (*grpc_client)->Score(bad).status();
  absl::Status local = local_client.Score(bad).status();
  EXPECT_EQ(remote.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(local.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(remote.message(), "Score: " + std::string(local.message()));
}

TEST(GrpcRewardClientTest, UnreachableServiceIsUnavailable) {
  EXPECT_EQ(GrpcRewardClient::Create("").status().code(), absl::StatusCode::kInvalidArgument);
  rpc::ClientOptions options;
  options.max_attempts = 2;
  options.initial_backoff = absl::Milliseconds(1);
  options.attempt_deadline = absl::Seconds(5);
  // Port 1 on loopback: nothing listens there.
  auto client = GrpcRewardClient::Create("127.0.0.1:1", options);
  ASSERT_TRUE(client.ok());
  absl::Status status =
      (*client)->Score(Batch({{"x", "math_boxed", "", "", "1", ""}}, false)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST(FakeRewardClientTest, ScoresByMatchOrTheGivenFunctionAndRefusesUnknownVerifiers) {
  FakeRewardClient fake;
  auto scores = fake.Score(Batch(
      {{"a", "arithmetic", "", " 12 ", "12", ""}, {"b", "math_boxed", "", "13", "12", ""}}, false));
  ASSERT_TRUE(scores.ok()) << scores.status();
  ASSERT_EQ(scores->results_size(), 2);
  EXPECT_EQ(scores->results(0).id(), "a");
  EXPECT_TRUE(scores->results(0).correct());
  EXPECT_EQ(scores->results(0).score(), 1.0f);
  EXPECT_FALSE(scores->results(1).correct());

  fake.SetScorer([](const chord::v1::ScoreItem& item) {
    chord::v1::ScoreResult result;
    result.set_score(static_cast<float>(item.response().size()));
    return result;
  });
  scores = fake.Score(Batch({{"c", "arithmetic", "", "four", "", ""}}, false));
  ASSERT_TRUE(scores.ok());
  EXPECT_EQ(scores->results(0).score(), 4.0f);

  absl::Status unknown = fake.Score(Batch({{"d", "countdown", "", "", "", ""}}, false)).status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.message(), "items[0].verifier: unknown verifier \"countdown\"");
  EXPECT_EQ(fake.requests().size(), 3u);

  fake.failures().FailNext("Score", absl::UnavailableError("reward down"));
  EXPECT_EQ(fake.Score(Batch({}, false)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(fake.Score(Batch({}, false)).ok());
  auto verifiers = fake.ListVerifiers();
  ASSERT_TRUE(verifiers.ok());
  ASSERT_EQ(verifiers->verifiers_size(), 2);
  EXPECT_EQ(verifiers->verifiers(0).name(), "arithmetic");
}

}  // namespace
}  // namespace chord::reward
