// chord-reward end to end: the real binary on 127.0.0.1 port 0, called through the generated
// client; malformed requests; /metrics through promtool; SIGTERM; and chordctl as a process, both
// in-process and against the service.

#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "chord/v1/reward.grpc.pb.h"
#include "common/rpc/channel.h"
#include "tests/support/child_process.h"

namespace chord {
namespace {

using ::chord::testing::BinaryPath;
using ::chord::testing::RunCommand;

v1::ScoreItem Item(const std::string& id, const std::string& verifier, const std::string& response,
                   const std::string& reference, const std::string& meta_json = "") {
  v1::ScoreItem item;
  item.set_id(id);
  item.set_verifier(verifier);
  item.set_response(response);
  item.set_reference(reference);
  item.set_meta_json(meta_json);
  return item;
}

class RewardIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto service =
        chord::testing::StartService("chord-reward", {"--workers=2", "--max_batch=8"}, dir_.path());
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
    stub_ = v1::RewardService::NewStub(rpc::MakeChannel(service_.address(), {}));
  }

  grpc::Status Score(const v1::ScoreRequest& request, v1::ScoreResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->Score(&context, request, response);
  }

  chord::testing::TempDir dir_;
  chord::testing::ServiceProcess service_;
  std::unique_ptr<v1::RewardService::Stub> stub_;
};

TEST_F(RewardIntegrationTest, ScoresEveryVerifierThroughTheGeneratedClient) {
  v1::ScoreRequest request;
  request.set_think_format_penalty(true);
  *request.add_items() =
      Item("math", "math_boxed", "<think>3/4</think> \\boxed{\\dfrac{3}{4}}", "0.75");
  *request.add_items() = Item("arith", "arithmetic", "6 * 7 = 42", "42");
  *request.add_items() = Item("count", "countdown", "<answer>(3 + 5) * 2</answer>", "",
                              R"({"numbers": [2, 3, 5], "target": 16})");
  *request.add_items() =
      Item("tool", "tool_call", R"(<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>)",
           R"([{"name": "f", "arguments": {"a": 1.0}}])");
  *request.add_items() = Item("bad-think", "math_boxed", "<think><think>\\boxed{1}", "2");
  *request.add_items() =
      Item("garbage", "tool_call", std::string(10000, '{'), R"([{"name": "f", "arguments": {}}])");
  v1::ScoreResponse response;
  grpc::Status status = Score(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 6);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(response.results(i).correct()) << response.results(i).reason();
    EXPECT_FLOAT_EQ(response.results(i).score(), 1.0f) << response.results(i).id();
  }
  EXPECT_EQ(response.results(0).id(), "math");
  EXPECT_EQ(response.results(0).extracted(), "\\dfrac{3}{4}");
  EXPECT_FLOAT_EQ(response.results(4).score(), -0.1f);
  EXPECT_TRUE(absl::StrContains(response.results(4).reason(), "2 <think> tags"));
  EXPECT_FALSE(response.results(5).correct());
  EXPECT_FALSE(response.results(5).reason().empty());

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ListVerifiersResponse verifiers;
  ASSERT_TRUE(stub_->ListVerifiers(&context, v1::ListVerifiersRequest(), &verifiers).ok());
  EXPECT_EQ(verifiers.verifiers_size(), 4);
}

TEST_F(RewardIntegrationTest, MalformedRequestsAreInvalidArgumentNamingTheField) {
  struct Case {
    v1::ScoreRequest request;
    std::string expected_prefix;
  };
  std::vector<Case> cases(5);
  cases[0].expected_prefix = "items: empty batch";
  *cases[1].request.add_items() = Item("", "math_boxed", "\\boxed{1}", "1");
  *cases[1].request.add_items() = Item("", "mathboxed", "\\boxed{1}", "1");
  cases[1].expected_prefix =
      "items[1].verifier: unknown verifier \"mathboxed\" (known: arithmetic, countdown, "
      "math_boxed, tool_call)";
  for (int i = 0; i < 9; ++i) *cases[2].request.add_items() = Item("", "math_boxed", "", "1");
  cases[2].expected_prefix = "items: 9 items exceed the limit of 8";
  *cases[3].request.add_items() = Item("", "countdown", "<answer>1+2</answer>", "", "[1, 2]");
  cases[3].expected_prefix = "items[0].meta_json: not a JSON object";
  *cases[4].request.add_items() = Item("", "arithmetic", "#### 3", "three");
  cases[4].expected_prefix = "items[0].reference: \"three\" is not an integer";
  for (const Case& c : cases) {
    v1::ScoreResponse response;
    grpc::Status status = Score(c.request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.expected_prefix;
    EXPECT_TRUE(absl::StartsWith(status.error_message(), c.expected_prefix))
        << status.error_message();
  }
}

TEST_F(RewardIntegrationTest, MetricsPassPromtoolAndCarryTheRewardFamilies) {
  v1::ScoreRequest request;
  *request.add_items() = Item("a", "math_boxed", "\\boxed{2}", "2");
  *request.add_items() = Item("b", "math_boxed", "\\boxed{3}", "2");
  v1::ScoreResponse response;
  ASSERT_TRUE(Score(request, &response).ok());
  auto text = chord::testing::HttpGet(service_.metrics_port, "/metrics");
  ASSERT_TRUE(text.ok()) << text.status();
  absl::Status promtool = chord::testing::PromtoolCheckMetrics(*text);
  EXPECT_TRUE(promtool.ok()) << promtool;
  for (const char* needle :
       {"chord_reward_scored_total{outcome=\"correct\",verifier=\"math_boxed\"} 1",
        "chord_reward_scored_total{outcome=\"wrong\",verifier=\"math_boxed\"} 1",
        "chord_reward_score_seconds_bucket{verifier=\"math_boxed\"",
        "chord_reward_batch_items_count", "chord_reward_pool_queue_depth",
        "process_cpu_seconds_total", "process_resident_memory_bytes",
        "chord_build_info{service=\"reward\"",
        "chord_rpc_server_handled_total{code=\"OK\",method=\"/chord.v1.RewardService/Score\"}"}) {
    EXPECT_TRUE(absl::StrContains(*text, needle)) << needle;
  }
}

// Items scored so far, from the service's chord_reward_scored_total series (-1: unreadable).
double ScoredTotal(int metrics_port) {
  auto text = chord::testing::HttpGet(metrics_port, "/metrics");
  if (!text.ok()) return -1;
  double total = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (!absl::StartsWith(line, "chord_reward_scored_total{")) continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) total += value;
  }
  return total;
}

// A client that gives up stops the server's work on its batch: once the service has taken the
// batch (validated it; chord_reward_batch_items_count is 1) the client cancels, and the service
// scores far fewer items than were sent, settles, and serves the next call.
TEST(RewardCancellationTest, ACancelledCallStopsTheBatch) {
  chord::testing::TempDir dir;
  auto service = chord::testing::StartService("chord-reward", {"--workers=1"}, dir.path());
  ASSERT_TRUE(service.ok()) << service.status();
  auto stub = v1::RewardService::NewStub(rpc::MakeChannel(service->address(), {}));
  constexpr int kItems = 65536;
  v1::ScoreRequest request;
  // ~900-byte responses, so that the batch keeps the one worker busy well past the cancellation.
  const std::string reasoning(800, 'x');
  for (int i = 0; i < kItems; ++i) {
    *request.add_items() =
        Item(absl::StrCat(i), "math_boxed",
             absl::StrCat(reasoning, " so \\frac{", i, "}{7} + \\frac{1}{3} = \\boxed{\\frac{",
                          3 * i + 7, "}{21}}"),
             absl::StrCat("\\frac{", 3 * i + 7, "}{21}"));
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  grpc::Status status;
  std::thread caller([&] {
    v1::ScoreResponse response;
    status = stub->Score(&context, request, &response);
  });
  auto taken = [&] {
    auto text = chord::testing::HttpGet(service->metrics_port, "/metrics");
    return text.ok() && absl::StrContains(*text, "chord_reward_batch_items_count 1");
  };
  bool started = chord::testing::WaitFor(taken, absl::Seconds(100));
  context.TryCancel();
  caller.join();
  ASSERT_TRUE(started) << "the service never took the batch";
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED) << status.error_message();

  // The count settles (the batch is abandoned) well below the batch size.
  double settled = -1;
  EXPECT_TRUE(chord::testing::WaitFor(
      [&] {
        double before = ScoredTotal(service->metrics_port);
        absl::SleepFor(absl::Milliseconds(300));
        double after = ScoredTotal(service->metrics_port);
        settled = after;
        return before >= 0 && before == after;
      },
      absl::Seconds(60)));
  EXPECT_LT(settled, kItems / 2) << "the server kept scoring the abandoned batch";
  ::testing::Test::RecordProperty("scored_before_the_cancellation_stopped_it",
                                  absl::StrCat(settled));

  v1::ScoreRequest small;
  *small.add_items() = Item("a", "arithmetic", "#### 4", "4");
  grpc::ClientContext again;
  again.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ScoreResponse response;
  ASSERT_TRUE(stub->Score(&again, small, &response).ok());
  EXPECT_TRUE(response.results(0).correct());
}

TEST_F(RewardIntegrationTest, SigtermExitsZero) {
  service_.process->Signal(SIGTERM);
  auto code = service_.process->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
}

TEST_F(RewardIntegrationTest, ChordctlScoresInProcessAndThroughTheService) {
  std::string chordctl = BinaryPath("chordctl");
  std::string score =
      " reward score --verifier math_boxed --response 'so \\boxed{3/4}' "
      "--reference 0.75";
  std::string expected =
      "score 1.0  correct  math_boxed: extracted \"3/4\" equals reference \"0.75\" (equal exact "
      "values)\n";

  auto in_process = RunCommand("env -u CHORD_REWARD_ADDRESS " + chordctl + score);
  EXPECT_EQ(in_process.exit_code, 0) << in_process.output;
  EXPECT_EQ(in_process.output, expected);

  auto remote = RunCommand(chordctl + score + " --address " + service_.address());
  EXPECT_EQ(remote.exit_code, 0) << remote.output;
  EXPECT_EQ(remote.output, expected);

  auto from_env = RunCommand("CHORD_REWARD_ADDRESS=" + service_.address() + " " + chordctl +
                             " reward verifiers");
  EXPECT_EQ(from_env.exit_code, 0) << from_env.output;
  EXPECT_TRUE(absl::StrContains(from_env.output, "tool_call")) << from_env.output;

  auto stdin_response = RunCommand("printf '#### 12' | " + chordctl +
                                   " reward score --verifier arithmetic --response - "
                                   "--reference 12 --address " +
                                   service_.address());
  EXPECT_EQ(stdin_response.exit_code, 0) << stdin_response.output;
  EXPECT_TRUE(absl::StartsWith(stdin_response.output, "score 1.0  correct  arithmetic: "))
      << stdin_response.output;

  auto usage = RunCommand(chordctl + " reward score --response x");
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
  EXPECT_TRUE(absl::StartsWith(usage.output, "chordctl: usage error: ")) << usage.output;

  auto rejected = RunCommand(chordctl + " reward score --verifier nope --response x --address " +
                             service_.address());
  EXPECT_EQ(rejected.exit_code, 2) << rejected.output;
  EXPECT_EQ(rejected.output,
            "chordctl: error: Score: items[0].verifier: unknown verifier \"nope\" (known: "
            "arithmetic, countdown, math_boxed, tool_call)\n");
}

}  // namespace
}  // namespace chord
