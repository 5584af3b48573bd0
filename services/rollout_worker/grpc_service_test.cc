// The RolloutService adapter on a real gRPC server (127.0.0.1, port 0) over a real core with the
// tiny preset model: field-naming errors on the wire, generation log-probs equal to
// ComputeLogprobs through the service, the in-process client answering like the service, status,
// and client cancellation / deadlines stopping the worker's generation.

#include "services/rollout_worker/grpc_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/model/tiny_preset.h"
#include "common/rpc/channel.h"
#include "common/rpc/server_runner.h"
#include "services/rollout_worker/grpc_client.h"
#include "services/rollout_worker/in_process_client.h"
#include "tests/support/child_process.h"

namespace chord::rollout_worker {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using chord::testing::WaitFor;

class RolloutServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new chord::testing::TempDir();
    ASSERT_TRUE(model::WriteTinyModel(dir_->path()).ok());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    RolloutWorkerOptions options;
    options.model_path = dir_->path();
    auto worker = RolloutWorker::Create(options, nullptr);
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = std::move(*worker);
    service_ = std::make_unique<RolloutGrpcService>(worker_.get());
    rpc::ServerOptions server_options;
    server_options.host = "127.0.0.1";
    server_options.shutdown_grace = absl::Seconds(1);
    auto runner = rpc::ServerRunner::Start(server_options, {service_.get()});
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = std::move(*runner);
    auto client = GrpcRolloutClient::Create(runner_->address());
    ASSERT_TRUE(client.ok());
    client_ = std::move(*client);
    stub_ = chord::v1::RolloutService::NewStub(rpc::MakeChannel(runner_->address(), {}));
  }

  void TearDown() override {
    if (runner_ != nullptr) runner_->Shutdown();
    if (worker_ != nullptr) worker_->Shutdown();
  }

  grpc::Status CallGenerate(const chord::v1::GenerateRequest& request,
                            chord::v1::GenerateResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub_->Generate(&context, request, response);
  }

  static chord::testing::TempDir* dir_;
  std::unique_ptr<RolloutWorker> worker_;
  std::unique_ptr<RolloutGrpcService> service_;
  std::unique_ptr<rpc::ServerRunner> runner_;
  std::unique_ptr<GrpcRolloutClient> client_;
  std::unique_ptr<chord::v1::RolloutService::Stub> stub_;
};

chord::testing::TempDir* RolloutServiceTest::dir_ = nullptr;

chord::v1::GenerateRequest MixedRequest() {
  chord::v1::GenerateRequest request;
  chord::v1::Prompt* text = request.add_prompts();
  text->set_id("text");
  text->set_text("12+7=");
  chord::v1::Prompt* chat = request.add_prompts();
  chat->set_id("chat");
  chord::v1::ChatMessage* system = chat->add_messages();
  system->set_role("system");
  system->set_content("Answer briefly.");
  chord::v1::ChatMessage* user = chat->add_messages();
  user->set_role("user");
  user->set_content("What is 3*4?");
  chord::v1::Prompt* ids = request.add_prompts();
  ids->set_id("ids");
  for (int id : {1, 5, 6, 7, 4}) ids->add_token_ids(id);
  request.set_samples_per_prompt(4);
  request.mutable_sampling()->set_max_new_tokens(24);
  request.mutable_sampling()->set_seed(99);
  return request;
}

TEST_F(RolloutServiceTest, MalformedRequestsAreInvalidArgumentNamingTheField) {
  struct Case {
    chord::v1::GenerateRequest request;
    std::string prefix;
  };
  std::vector<Case> cases;
  {
    Case c;
    c.request.add_prompts()->set_text("a");
    chord::v1::Prompt* both = c.request.add_prompts();
    both->set_text("b");
    both->add_token_ids(5);
    c.prefix =
        "prompts[1]: exactly one of token_ids, text, messages must be set (got token_ids and text)";
    cases.push_back(c);
  }
  {
    Case c;
    c.request.add_prompts()->set_id("empty");
    c.prefix = "prompts[0]: exactly one of token_ids, text, messages must be set (got none)";
    cases.push_back(c);
  }
  {
    Case c;
    c.request.add_prompts()->set_text("a");
    c.request.mutable_sampling()->set_top_p(1.5f);
    c.prefix = "sampling.top_p: 1.5 must be in (0, 1]";
    cases.push_back(c);
  }
  {
    Case c;
    c.request.add_prompts()->set_text("a");
    c.request.set_samples_per_prompt(-1);
    c.prefix = "samples_per_prompt: -1 must be >= 0";
    cases.push_back(c);
  }
  {
    Case c;
    c.request.add_prompts()->set_text("a");
    c.request.mutable_sampling()->add_stop_token_ids(1000);
    c.prefix = "sampling.stop_token_ids[0]: 1000 is outside the vocabulary [0, 100)";
    cases.push_back(c);
  }
  {
    Case c;
    chord::v1::ChatMessage* m = c.request.add_prompts()->add_messages();
    m->set_role("us\ner");
    c.prefix = "prompts[0].messages[0].role";
    cases.push_back(c);
  }
  for (const Case& c : cases) {
    chord::v1::GenerateResponse response;
    grpc::Status status = CallGenerate(c.request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.prefix;
    EXPECT_THAT(status.error_message(), StartsWith(c.prefix));
  }

  chord::v1::ComputeLogprobsRequest scored;
  chord::v1::ScoredSequence* seq = scored.add_sequences();
  for (int id : {5, 6, 7}) seq->add_token_ids(id);
  seq->set_start(0);
  grpc::ClientContext context;
  chord::v1::ComputeLogprobsResponse response;
  grpc::Status status = stub_->ComputeLogprobs(&context, scored, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("sequences[0].start: 0 must be in [1, 3]"));

  // The client reports the same error (prefixed with the RPC's name).
  auto via_client = client_->Generate(cases[0].request, {});
  EXPECT_EQ(via_client.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(via_client.status().message()), HasSubstr(cases[0].prefix));
}

// Generation reports log_softmax(logits / T)[token]: exactly what ComputeLogprobs returns for the
// same sequences at the same temperature (temperature 1 for greedy).
TEST_F(RolloutServiceTest, GenerationLogprobsEqualComputeLogprobsThroughTheService) {
  struct Setting {
    bool set;
    float temperature;
    float score_temperature;
  };
  for (const Setting& setting :
       {Setting{false, 0.0f, 0.0f}, Setting{true, 0.7f, 0.7f}, Setting{true, 0.0f, 1.0f}}) {
    chord::v1::GenerateRequest request = MixedRequest();
    request.mutable_sampling()->set_has_temperature(setting.set);
    request.mutable_sampling()->set_temperature(setting.temperature);
    auto generated = client_->Generate(request, {});
    ASSERT_TRUE(generated.ok()) << generated.status();
    ASSERT_EQ(generated->completions_size(), 12);

    chord::v1::ComputeLogprobsRequest scored;
    scored.set_temperature(setting.score_temperature);
    for (const chord::v1::Completion& c : generated->completions()) {
      chord::v1::ScoredSequence* seq = scored.add_sequences();
      seq->mutable_token_ids()->Add(c.prompt_token_ids().begin(), c.prompt_token_ids().end());
      seq->mutable_token_ids()->Add(c.token_ids().begin(), c.token_ids().end());
      seq->set_start(c.prompt_token_ids_size());
    }
    auto logprobs = client_->ComputeLogprobs(scored, {});
    ASSERT_TRUE(logprobs.ok()) << logprobs.status();
    EXPECT_EQ(logprobs->weight_version(), generated->weight_version());
    ASSERT_EQ(logprobs->results_size(), 12);
    int compared = 0;
    for (int i = 0; i < 12; ++i) {
      const chord::v1::Completion& c = generated->completions(i);
      const chord::v1::SequenceLogprobs& r = logprobs->results(i);
      ASSERT_EQ(r.logprobs_size(), c.logprobs_size()) << i;
      for (int t = 0; t < c.logprobs_size(); ++t) {
        EXPECT_NEAR(r.logprobs(t), c.logprobs(t), 1e-4)
            << "temperature " << setting.temperature << " completion " << i << " token " << t;
        ++compared;
      }
    }
    EXPECT_GT(compared, 12);
  }
}

TEST_F(RolloutServiceTest, InProcessClientAnswersLikeTheService) {
  InProcessRolloutClient in_process{
      std::shared_ptr<RolloutWorker>(worker_.get(), [](RolloutWorker*) {})};
  chord::v1::GenerateRequest request = MixedRequest();
  auto remote = client_->Generate(request, {});
  auto local = in_process.Generate(request, {});
  ASSERT_TRUE(remote.ok() && local.ok());
  EXPECT_EQ(remote->SerializeAsString(), local->SerializeAsString());
  chord::v1::GenerateRequest bad;
  bad.add_prompts();
  EXPECT_THAT(std::string(in_process.Generate(bad, {}).status().message()),
              StartsWith("prompts[0]: exactly one of"));
  auto status = in_process.GetStatus({});
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->model_path(), dir_->path());
}

TEST_F(RolloutServiceTest, GetStatusReportsModelVersionAndLoad) {
  auto before = client_->GetStatus({});
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->model_path(), dir_->path());
  EXPECT_EQ(before->weight_version(), 0);
  EXPECT_EQ(before->weight_source(), "");
  EXPECT_EQ(before->queue_depth(), 0);
  EXPECT_EQ(before->queue_capacity(), 64);
  auto generated = client_->Generate(MixedRequest(), {});
  ASSERT_TRUE(generated.ok());
  auto after = client_->GetStatus({});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->generated_tokens_total(),
            before->generated_tokens_total() + generated->generated_tokens());
}

chord::v1::GenerateRequest LongRequest() {
  chord::v1::GenerateRequest request;
  request.add_prompts()->set_text("1+");
  request.mutable_sampling()->set_max_new_tokens(40000);
  request.mutable_sampling()->set_has_temperature(true);
  request.mutable_sampling()->set_temperature(0);
  // Greedy decoding of the tiny preset (seed 1) from "1+" emits no stop token in its first 3000
  // tokens (about 4 s on one core), far more than are generated before the cancellation or the
  // deadline arrives; all 40000 would take over a minute.
  return request;
}

TEST_F(RolloutServiceTest, CancellingTheCallStopsTheWorkersGeneration) {
  CallCanceller canceller;
  absl::StatusOr<chord::v1::GenerateResponse> result;
  std::thread caller([&] {
    CallOptions options;
    options.canceller = &canceller;
    options.timeout = absl::Minutes(10);
    result = client_->Generate(LongRequest(), options);
  });
  ASSERT_TRUE(WaitFor([&] { return worker_->Status().queue_depth == 1; }));
  canceller.Cancel();
  caller.join();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled) << result.status();
  // The worker gives the request's place back once its generation stopped (40000 greedy steps
  // would take far longer than the wait).
  EXPECT_TRUE(WaitFor([&] { return worker_->Status().queue_depth == 0; }, absl::Seconds(20)));
  // Later calls with a cancelled canceller fail at once.
  CallOptions options;
  options.canceller = &canceller;
  EXPECT_EQ(client_->GetStatus(options).status().code(), absl::StatusCode::kCancelled);
}

TEST_F(RolloutServiceTest, TheDeadlineStopsTheWorkersGeneration) {
  CallOptions options;
  options.timeout = absl::Milliseconds(300);
  auto result = client_->Generate(LongRequest(), options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  EXPECT_TRUE(WaitFor([&] { return worker_->Status().queue_depth == 0; }, absl::Seconds(20)));
}

}  // namespace
}  // namespace chord::rollout_worker
