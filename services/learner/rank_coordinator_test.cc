// RankCoordinator heartbeats across two processes (Gloo on loopback): rank 1 is this binary
// started again in worker mode (CHORD_COORDINATOR_TEST_WORKER=follow) running RunFollower with a
// short group timeout, so a phase of rank 0 without commands longer than that timeout fails the
// follower unless HeartbeatWhile keeps its wait alive.

#include "services/learner/rank_coordinator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "gmock/gmock.h"
#include "tests/support/child_process.h"

namespace chord::learner {
namespace {

using ::testing::HasSubstr;

std::string g_self_path;
// Longer than a heartbeat period, shorter than the phases below.
constexpr absl::Duration kGroupTimeout = absl::Milliseconds(1500);

// Rank 1. Exit codes: 0 SHUTDOWN received, 3 the wait for a command timed out, 4 other failure.
int RunWorker() {
  auto options = dist::DistOptionsFromProcessEnv();
  if (!options.ok()) return 10;
  options->timeout = kGroupTimeout;
  auto group = dist::ProcessGroup::Create(*options);
  if (!group.ok()) return 11;
  auto rank = LearnerRank::Create(LearnerRankOptions(), group->get());
  if (!rank.ok()) return 12;
  absl::Status status = RunFollower(group->get(), rank->get());
  std::fprintf(stderr, "follower: %s\n", status.ToString().c_str());
  if (status.ok()) return 0;
  return status.code() == absl::StatusCode::kDeadlineExceeded ? 3 : 4;
}

class RankCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto port = testing::PickFreePort();
    ASSERT_TRUE(port.ok());
    log_ = dir_.File("worker.log");
    auto worker = testing::ChildProcess::Start({g_self_path}, log_,
                                               {{"CHORD_COORDINATOR_TEST_WORKER", "follow"},
                                                {"MASTER_ADDR", "127.0.0.1"},
                                                {"MASTER_PORT", std::to_string(*port)},
                                                {"RANK", "1"},
                                                {"WORLD_SIZE", "2"}});
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = std::move(*worker);
    dist::DistOptions options;
    options.master_port = *port;
    options.world_size = 2;
    options.rank = 0;
    options.timeout = absl::Seconds(30);  // rendezvous on a loaded machine
    auto group = dist::ProcessGroup::Create(options);
    ASSERT_TRUE(group.ok()) << group.status() << WorkerLog();
    group_ = std::move(*group);
    auto rank = LearnerRank::Create(LearnerRankOptions(), group_.get());
    ASSERT_TRUE(rank.ok());
    rank_ = std::move(*rank);
    coordinator_ = std::make_unique<RankCoordinator>(group_.get(), rank_.get());
  }

  std::string WorkerLog() const {
    auto text = files::ReadFile(log_);
    return text.ok() ? *text : std::string("(no worker log)");
  }

  testing::TempDir dir_;
  std::string log_;
  std::unique_ptr<testing::ChildProcess> worker_;
  std::unique_ptr<dist::ProcessGroup> group_;
  std::unique_ptr<LearnerRank> rank_;
  std::unique_ptr<RankCoordinator> coordinator_;
};

TEST_F(RankCoordinatorTest, HeartbeatsKeepTheFollowerWaitingThroughALongPhase) {
  int calls = 0;
  absl::Status status = coordinator_->HeartbeatWhile(
      absl::Milliseconds(200),
      [&calls] {
        ++calls;
        std::this_thread::sleep_for(std::chrono::seconds(4));  // > 2x the group timeout
        return absl::InternalError("the work's own error");
      },
      [] {});
  EXPECT_EQ(calls, 1);
  // The work's status comes back once it ends.
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("the work's own error"));
  ASSERT_TRUE(coordinator_->Shutdown().ok()) << WorkerLog();
  auto code = worker_->Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << WorkerLog();
}

// The control: the same phase without heartbeats fails the follower's wait.
TEST_F(RankCoordinatorTest, WithoutHeartbeatsTheFollowerTimesOut) {
  std::this_thread::sleep_for(std::chrono::seconds(4));
  auto code = worker_->Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 3) << WorkerLog();
  EXPECT_THAT(WorkerLog(), HasSubstr("DEADLINE_EXCEEDED"));
}

// A heartbeat that fails (the follower is gone) aborts the work and returns the group's error.
TEST_F(RankCoordinatorTest, AFailedHeartbeatAbortsTheWork) {
  worker_->Signal(SIGKILL);
  ASSERT_TRUE(worker_->Wait(absl::Seconds(30)).ok());
  std::atomic<bool> aborted{false};
  absl::Status status = coordinator_->HeartbeatWhile(
      absl::Milliseconds(100),
      [&aborted] {
        for (int i = 0; i < 600 && !aborted; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return aborted ? absl::CancelledError("aborted") : absl::OkStatus();
      },
      [&aborted] { aborted = true; });
  EXPECT_TRUE(aborted);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.code(), absl::StatusCode::kCancelled) << status;
}

}  // namespace
}  // namespace chord::learner

int main(int argc, char** argv) {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  chord::learner::g_self_path = n > 0 ? std::string(buf, static_cast<size_t>(n)) : argv[0];
  if (std::getenv("CHORD_COORDINATOR_TEST_WORKER") != nullptr) {
    return chord::learner::RunWorker();
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
