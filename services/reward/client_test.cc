// GrpcRewardClient against an in-process server, and InProcessRewardClient (the fake for other
// services' tests) over a real core: both must give the same answers.

#include "services/reward/client.h"

#include <gtest/gtest.h>

#include "common/rpc/server_runner.h"
#include "services/reward/grpc_service.h"

namespace chord::reward {
namespace {

std::vector<RewardItem> MixedBatch() {
  return {
      {"m1", "math_boxed", "", "\\boxed{\\dfrac{1}{2}}", "0.5", ""},
      {"m2", "math_boxed", "", "<think>a</think><think>\\boxed{2}", "3", ""},
      {"a1", "arithmetic", "", "so it is 12", "12", ""},
      {"c1", "countdown", "Using the numbers [1, 2, 3], create an equation that equals 7.",
       "<answer>1 + 2 * 3</answer>", "", ""},
      {"t1", "tool_call", "", "<tool_call>{\"name\": \"f\"}</tool_call>", "[]", ""},
  };
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
  auto remote = (*grpc_client)->Score(MixedBatch(), true);
  auto local = (*local_client)->Score(MixedBatch(), true);
  ASSERT_TRUE(remote.ok()) << remote.status();
  ASSERT_TRUE(local.ok()) << local.status();
  ASSERT_EQ(remote->size(), 5u);
  ASSERT_EQ(local->size(), 5u);
  std::vector<bool> expected_correct = {true, false, true, true, false};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ((*remote)[i].id, (*local)[i].id);
    EXPECT_EQ((*remote)[i].score, (*local)[i].score) << (*remote)[i].reason;
    EXPECT_EQ((*remote)[i].correct, expected_correct[i]) << (*remote)[i].reason;
    EXPECT_EQ((*remote)[i].correct, (*local)[i].correct);
    EXPECT_EQ((*remote)[i].reason, (*local)[i].reason);
    EXPECT_EQ((*remote)[i].extracted, (*local)[i].extracted);
  }
  EXPECT_FLOAT_EQ((*remote)[1].score, -0.1f);

  auto remote_verifiers = (*grpc_client)->ListVerifiers();
  auto local_verifiers = (*local_client)->ListVerifiers();
  ASSERT_TRUE(remote_verifiers.ok());
  ASSERT_TRUE(local_verifiers.ok());
  ASSERT_EQ(remote_verifiers->size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*remote_verifiers)[i].name, (*local_verifiers)[i].name);
    EXPECT_EQ((*remote_verifiers)[i].description, (*local_verifiers)[i].description);
  }
}

TEST_F(RewardClientTest, ErrorsReadTheSameOverTheWire) {
  auto grpc_client = GrpcRewardClient::Create(runner_->address());
  ASSERT_TRUE(grpc_client.ok());
  InProcessRewardClient local_client(scorer_.get());
  std::vector<RewardItem> bad = {{"x", "unknown", "", "", "", ""}};
  absl::Status remote = (*grpc_client)->Score(bad, false).status();
  absl::Status local = local_client.Score(bad, false).status();
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
  absl::Status status = (*client)->Score({{"x", "math_boxed", "", "", "1", ""}}, false).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

}  // namespace
}  // namespace chord::reward
