// ServerOptions::max_threads: the gRPC resource quota bounds the threads handling calls, and calls
// past it are answered RESOURCE_EXHAUSTED at once instead of piling up.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "chord/v1/reward.grpc.pb.h"
#include "common/rpc/channel.h"
#include "common/rpc/server_runner.h"

namespace chord::rpc {
namespace {

// A reward service whose Score holds its handler thread until released.
class HeldReward : public chord::v1::RewardService::Service {
 public:
  grpc::Status Score(grpc::ServerContext* /*context*/, const chord::v1::ScoreRequest* /*request*/,
                     chord::v1::ScoreResponse* /*response*/) override {
    int now = ++inside_;
    int seen = most_inside_.load();
    while (now > seen && !most_inside_.compare_exchange_weak(seen, now)) {
    }
    release_.WaitForNotification();
    --inside_;
    return grpc::Status::OK;
  }
  void Release() { release_.Notify(); }
  int inside() const { return inside_.load(); }
  int most_inside() const { return most_inside_.load(); }

 private:
  absl::Notification release_;
  std::atomic<int> inside_{0};
  std::atomic<int> most_inside_{0};
};

struct Answers {
  int ok = 0;
  int exhausted = 0;
  int other = 0;
};

// Sends `calls` concurrent Score calls to a server with `max_threads`; `while_held` runs while
// the handlers hold their threads, then they are released.
Answers Flood(int max_threads, int calls, HeldReward* service,
              const std::function<void(const std::atomic<int>& answered)>& while_held) {
  ServerOptions options;
  options.service_name = "quota-test";
  options.host = "127.0.0.1";
  options.max_threads = max_threads;
  auto runner = ServerRunner::Start(options, {service});
  EXPECT_TRUE(runner.ok()) << runner.status();
  if (!runner.ok()) return {};
  auto channel = MakeChannel((*runner)->address(), ClientOptions());
  EXPECT_TRUE(WaitForServing(channel, (*runner)->address(), absl::Seconds(10)).ok());
  auto stub = chord::v1::RewardService::NewStub(channel);
  std::vector<grpc::StatusCode> codes(calls, grpc::StatusCode::UNKNOWN);
  std::atomic<int> answered{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < calls; ++i) {
    callers.emplace_back([&, i] {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      chord::v1::ScoreResponse response;
      codes[i] = stub->Score(&context, chord::v1::ScoreRequest(), &response).error_code();
      ++answered;
    });
  }
  while_held(answered);
  service->Release();
  for (std::thread& caller : callers) caller.join();
  (*runner)->Shutdown();
  Answers answers;
  for (grpc::StatusCode code : codes) {
    if (code == grpc::StatusCode::OK) {
      ++answers.ok;
    } else if (code == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++answers.exhausted;
    } else {
      ++answers.other;
    }
  }
  return answers;
}

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  absl::Time end = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

TEST(ServerQuotaTest, CallsPastTheThreadQuotaAreResourceExhausted) {
  constexpr int kCalls = 32;
  HeldReward service;
  Answers answers = Flood(8, kCalls, &service, [&](const std::atomic<int>& answered) {
    // The calls that found no thread are answered while the others are still held.
    EXPECT_TRUE(
        WaitUntil([&] { return answered.load() + service.inside() >= kCalls; }, absl::Seconds(30)))
        << answered.load() << " answered, " << service.inside() << " held";
  });
  EXPECT_GT(answers.exhausted, 0);
  EXPECT_GT(answers.ok, 0);
  EXPECT_EQ(answers.other, 0);
  EXPECT_EQ(answers.ok + answers.exhausted, kCalls);
  EXPECT_LT(service.most_inside(), 8);
}

TEST(ServerQuotaTest, WithoutAQuotaEveryCallGetsAThread) {
  constexpr int kCalls = 32;
  HeldReward service;
  Answers answers = Flood(0, kCalls, &service, [&](const std::atomic<int>&) {
    EXPECT_TRUE(WaitUntil([&] { return service.inside() == kCalls; }, absl::Seconds(30)))
        << service.inside() << " held";
  });
  EXPECT_EQ(answers.ok, kCalls);
  EXPECT_EQ(service.most_inside(), kCalls);
}

}  // namespace
}  // namespace chord::rpc
