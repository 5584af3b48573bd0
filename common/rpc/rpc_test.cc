#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>

#include "absl/synchronization/notification.h"
#include "chord/v1/reward.grpc.pb.h"
#include "common/files/file_io.h"
#include "common/metrics/metrics.h"
#include "common/rpc/channel.h"
#include "common/rpc/grpc_status.h"
#include "common/rpc/server_runner.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "prometheus/text_serializer.h"

namespace chord::rpc {
namespace {

TEST(GrpcStatusTest, RoundTripKeepsCodeAndMessage) {
  absl::Status in = absl::InvalidArgumentError("items[3].verifier: unknown \"foo\"");
  grpc::Status wire = ToGrpcStatus(in);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(wire.error_message(), in.message());
  EXPECT_EQ(FromGrpcStatus(wire), in);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
}

TEST(CallWithRetryTest, RetriesOnlyUnavailable) {
  ClientOptions options;
  options.max_attempts = 4;
  options.initial_backoff = absl::Milliseconds(1);
  int calls = 0;
  absl::Status status = CallWithRetry(options, "Op", [&](grpc::ClientContext*) {
    ++calls;
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "down");
  });
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "Op: down");

  calls = 0;
  status = CallWithRetry(options, "Op", [&](grpc::ClientContext*) {
    ++calls;
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad");
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);

  calls = 0;
  status = CallWithRetry(options, "Op", [&](grpc::ClientContext*) {
    return ++calls < 3 ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "x") : grpc::Status::OK;
  });
  EXPECT_EQ(calls, 3);
  EXPECT_TRUE(status.ok());
}

TEST(CallWithRetryTest, EveryAttemptHasADeadline) {
  ClientOptions options;
  options.attempt_deadline = absl::Seconds(2);
  options.max_attempts = 1;
  absl::Status status = CallWithRetry(options, "Op", [&](grpc::ClientContext* ctx) {
    auto remaining = ctx->deadline() - std::chrono::system_clock::now();
    EXPECT_GT(remaining, std::chrono::milliseconds(1500));
    EXPECT_LE(remaining, std::chrono::milliseconds(2000));
    return grpc::Status::OK;
  });
  EXPECT_TRUE(status.ok());
}

class ServerRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/chord_rpc_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(ServerRunnerTest, ServesHealthWritesPortFileAndRecordsRpcMetrics) {
  prometheus::Registry registry;
  metrics::RpcMetrics rpc_metrics(registry);
  ServerOptions options;
  options.service_name = "test";
  options.host = "127.0.0.1";
  options.port = 0;
  options.port_file = dir_ + "/port";
  options.rpc_metrics = &rpc_metrics;
  EXPECT_EQ(ServerRunner::Start(options, {}).status().code(), absl::StatusCode::kInvalidArgument);
  // Any sync service will do: its methods answer UNIMPLEMENTED.
  chord::v1::RewardService::Service service;
  auto runner = ServerRunner::Start(options, {&service});
  ASSERT_TRUE(runner.ok()) << runner.status();
  int port = (*runner)->port();
  EXPECT_GT(port, 0);
  EXPECT_EQ(*files::ReadFile(options.port_file), std::to_string(port) + "\n");

  auto channel = MakeChannel((*runner)->address(), ClientOptions());
  ASSERT_TRUE(WaitForServing(channel, (*runner)->address(), absl::Seconds(10)).ok());

  std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  EXPECT_NE(
      text.find(
          "chord_rpc_server_handled_total{code=\"OK\",method=\"/grpc.health.v1.Health/Check\"}"),
      std::string::npos)
      << text;

  // A second server on the same port fails with a clear error.
  ServerOptions clash = options;
  clash.port = port;
  clash.port_file.clear();
  auto second = ServerRunner::Start(clash, {&service});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);

  (*runner)->Shutdown();
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status after = stub->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &response);
  EXPECT_FALSE(after.ok());
}

TEST(WaitForServingTest, TimesOutNamingTarget) {
  auto channel = MakeChannel("127.0.0.1:1", ClientOptions());
  absl::Status status = WaitForServing(channel, "127.0.0.1:1", absl::Milliseconds(300));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(status.message().find("127.0.0.1:1"), absl::string_view::npos);
}

// The watcher runs its callback for a signal, and its destructor ends its thread when no signal
// came (no thread is left waiting past the objects the callback touches). In a process of its own
// (a death test): the other tests' gRPC threads do not block the signal.
void WatchTwice() {
  BlockTerminationSignals();
  {
    TerminationWatcher watcher([](int) { std::_Exit(2); });
  }  // no signal: the destructor returns, the callback is not run
  std::atomic<int> got{0};
  absl::Notification called;
  {
    TerminationWatcher watcher([&](int sig) {
      got = sig;
      called.Notify();
    });
    if (kill(getpid(), SIGTERM) != 0) std::_Exit(3);
    if (!called.WaitForNotificationWithTimeout(absl::Seconds(10))) std::_Exit(4);
  }
  std::_Exit(got.load() == SIGTERM ? 0 : 5);
}

TEST(TerminationWatcherDeathTest, CallsBackOnASignalAndStopsWithoutOne) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(WatchTwice(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace chord::rpc
