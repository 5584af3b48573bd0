// The gRPC adapter, in-process: a real ServerRunner on 127.0.0.1:0 serving RewardGrpcService over
// a real RewardScorer, called through the generated stub.

#include "services/reward/grpc_service.h"

#include <gtest/gtest.h>

#include <memory>

#include "absl/strings/match.h"
#include "common/rpc/channel.h"
#include "common/rpc/server_runner.h"

namespace chord::reward {
namespace {

class RewardGrpcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RewardScorerOptions options;
    options.workers = 2;
    options.max_batch = 4;
    auto scorer = RewardScorer::Create(options, VerifierRegistry::CreateDefault(), nullptr);
    ASSERT_TRUE(scorer.ok()) << scorer.status();
    scorer_ = std::move(*scorer);
    service_ = std::make_unique<RewardGrpcService>(scorer_.get());
    rpc::ServerOptions server_options;
    server_options.host = "127.0.0.1";
    auto runner = rpc::ServerRunner::Start(server_options, {service_.get()});
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = std::move(*runner);
    stub_ = v1::RewardService::NewStub(rpc::MakeChannel(runner_->address(), {}));
  }

  grpc::Status Score(const v1::ScoreRequest& request, v1::ScoreResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->Score(&context, request, response);
  }

  std::unique_ptr<RewardScorer> scorer_;
  std::unique_ptr<RewardGrpcService> service_;
  std::unique_ptr<rpc::ServerRunner> runner_;
  std::unique_ptr<v1::RewardService::Stub> stub_;
};

v1::ScoreItem Item(const std::string& id, const std::string& verifier, const std::string& response,
                   const std::string& reference) {
  v1::ScoreItem item;
  item.set_id(id);
  item.set_verifier(verifier);
  item.set_response(response);
  item.set_reference(reference);
  return item;
}

TEST_F(RewardGrpcServiceTest, ScoresABatch) {
  v1::ScoreRequest request;
  *request.add_items() = Item("a", "math_boxed", "<think>x</think>\\boxed{3/4}", "0.75");
  *request.add_items() = Item("b", "math_boxed", "no think close <think> \\boxed{1}", "2");
  request.set_think_format_penalty(true);
  v1::ScoreResponse response;
  grpc::Status status = Score(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 2);
  EXPECT_EQ(response.results(0).id(), "a");
  EXPECT_FLOAT_EQ(response.results(0).score(), 1.0f);
  EXPECT_TRUE(response.results(0).correct());
  EXPECT_EQ(response.results(0).extracted(), "3/4");
  EXPECT_EQ(response.results(1).id(), "b");
  EXPECT_FLOAT_EQ(response.results(1).score(), -0.1f);
  EXPECT_FALSE(response.results(1).correct());
  EXPECT_TRUE(absl::StrContains(response.results(1).reason(), "think format"))
      << response.results(1).reason();
}

TEST_F(RewardGrpcServiceTest, MalformedRequestsAreInvalidArgumentNamingTheField) {
  struct Case {
    v1::ScoreRequest request;
    std::string message_prefix;
  };
  std::vector<Case> cases(5);
  cases[0].message_prefix = "items: empty batch";
  for (int i = 0; i < 5; ++i) *cases[1].request.add_items() = Item("", "math_boxed", "", "1");
  cases[1].message_prefix = "items: 5 items exceed the limit of 4";
  *cases[2].request.add_items() = Item("", "math_boxed", "", "1");
  *cases[2].request.add_items() = Item("", "no_such", "", "1");
  cases[2].message_prefix = "items[1].verifier: unknown verifier \"no_such\" (known: arithmetic";
  *cases[3].request.add_items() = Item("", "", "", "1");
  cases[3].message_prefix = "items[0].verifier: empty";
  v1::ScoreItem countdown = Item("", "countdown", "", "");
  countdown.set_meta_json("\"numbers\"");
  *cases[4].request.add_items() = countdown;
  cases[4].message_prefix = "items[0].meta_json: not a JSON object";
  for (const Case& c : cases) {
    v1::ScoreResponse response;
    grpc::Status status = Score(c.request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.message_prefix;
    EXPECT_TRUE(absl::StartsWith(status.error_message(), c.message_prefix))
        << status.error_message();
  }
}

TEST_F(RewardGrpcServiceTest, ScoreIsIdempotent) {
  v1::ScoreRequest request;
  *request.add_items() = Item("a", "arithmetic", "#### 5", "5");
  v1::ScoreResponse first, second;
  ASSERT_TRUE(Score(request, &first).ok());
  ASSERT_TRUE(Score(request, &second).ok());
  EXPECT_EQ(first.SerializeAsString(), second.SerializeAsString());
}

TEST_F(RewardGrpcServiceTest, ListsVerifiers) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ListVerifiersResponse response;
  ASSERT_TRUE(stub_->ListVerifiers(&context, v1::ListVerifiersRequest(), &response).ok());
  ASSERT_EQ(response.verifiers_size(), 4);
  EXPECT_EQ(response.verifiers(0).name(), "arithmetic");
  EXPECT_EQ(response.verifiers(2).name(), "math_boxed");
  EXPECT_FALSE(response.verifiers(2).description().empty());
}

}  // namespace
}  // namespace chord::reward
