// Two-rank tests of the c10d process group over Gloo on loopback. Rank 0 runs inside the test;
// rank 1 is this same binary started again as a child process in worker mode
// (CHORD_DIST_TEST_WORKER=<scenario>), so the ranks are separate processes as in production.

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/dist/dist_options.h"
#include "common/dist/process_group.h"
#include "tests/support/child_process.h"

namespace chord::dist {
namespace {

std::string g_self_path;

DistOptions TwoRankOptions(int rank, int port, absl::Duration timeout) {
  DistOptions options;
  options.master_addr = "127.0.0.1";
  options.master_port = port;
  options.rank = rank;
  options.world_size = 2;
  options.timeout = timeout;
  return options;
}

// Worker side (rank 1). Returns the process exit code.
int RunWorker(const std::string& scenario) {
  auto options = DistOptionsFromProcessEnv();
  if (!options.ok()) return 10;
  options->timeout = absl::Seconds(20);
  auto group = ProcessGroup::Create(*options);
  if (!group.ok()) {
    std::fprintf(stderr, "worker: %s\n", group.status().ToString().c_str());
    return 11;
  }
  std::vector<at::Tensor> t{at::full({4}, static_cast<float>((*group)->rank() + 1))};
  if (!(*group)->AllReduceSum(t).ok()) return 12;
  if (scenario == "hang") {
    std::this_thread::sleep_for(std::chrono::seconds(60));
    return 0;
  }
  if (scenario == "die") _exit(0);
  // scenario "ops": the rest of the collective sequence rank 0 runs.
  std::vector<at::Tensor> b{at::zeros({3}, at::kDouble)};
  if (!(*group)->Broadcast(b, 0).ok()) return 13;
  if (b[0][2].item<double>() != 7.5) return 14;
  std::string bytes = "ignored on non-root";
  if (!(*group)->BroadcastBytes(&bytes, 0).ok()) return 15;
  if (bytes != std::string("step-3\0payload", 14)) return 16;
  std::string empty = "x";
  if (!(*group)->BroadcastBytes(&empty, 0).ok() || !empty.empty()) return 17;
  if (!(*group)->Barrier().ok()) return 18;
  return 0;
}

absl::StatusOr<std::unique_ptr<testing::ChildProcess>> StartWorker(const std::string& scenario,
                                                                   int port,
                                                                   const std::string& log) {
  return testing::ChildProcess::Start({g_self_path}, log,
                                      {{"CHORD_DIST_TEST_WORKER", scenario},
                                       {"MASTER_ADDR", "127.0.0.1"},
                                       {"MASTER_PORT", std::to_string(port)},
                                       {"RANK", "1"},
                                       {"WORLD_SIZE", "2"}});
}

TEST(DistOptionsTest, ReadsTorchrunEnvironment) {
  auto options = DistOptionsFromEnv(
      {{"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29501"}, {"RANK", "3"}, {"WORLD_SIZE", "4"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->master_addr, "10.0.0.1");
  EXPECT_EQ(options->master_port, 29501);
  EXPECT_EQ(options->rank, 3);
  EXPECT_EQ(options->world_size, 4);
  auto single = DistOptionsFromEnv({});
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->world_size, 1);
}

TEST(DistOptionsTest, RejectsBadValuesNamingTheVariable) {
  auto bad_rank = DistOptionsFromEnv({{"RANK", "2"}, {"WORLD_SIZE", "2"}});
  EXPECT_EQ(bad_rank.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_rank.status().message().find("RANK"), absl::string_view::npos);
  auto bad_port = DistOptionsFromEnv({{"MASTER_PORT", "http"}});
  EXPECT_NE(bad_port.status().message().find("MASTER_PORT"), absl::string_view::npos);
  auto bad_world = DistOptionsFromEnv({{"WORLD_SIZE", "0"}});
  EXPECT_EQ(bad_world.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseBackend("mpi").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProcessGroupTest, SingleRankIsANoOp) {
  DistOptions options;
  auto group = ProcessGroup::Create(options);
  ASSERT_TRUE(group.ok());
  std::vector<at::Tensor> t{at::ones({2})};
  ASSERT_TRUE((*group)->AllReduceSum(t).ok());
  EXPECT_EQ(t[0].sum().item<float>(), 2.0f);
  std::string bytes = "abc";
  ASSERT_TRUE((*group)->BroadcastBytes(&bytes, 0).ok());
  EXPECT_EQ(bytes, "abc");
}

TEST(ProcessGroupTest, SingleRankBackendRunsRealCollectives) {
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  DistOptions options;
  options.master_port = *port;
  options.single_rank_backend = true;
  options.timeout = absl::Seconds(20);
  auto group = ProcessGroup::Create(options);
  ASSERT_TRUE(group.ok()) << group.status();
  std::vector<at::Tensor> t{at::full({3}, 2.5f)};
  ASSERT_TRUE((*group)->AllReduceSum(t).ok());
  EXPECT_TRUE(at::equal(t[0], at::full({3}, 2.5f)));
  ASSERT_TRUE((*group)->Broadcast(t, 0).ok());
  ASSERT_TRUE((*group)->Barrier().ok());
  // The call reaches the backend (which checks the root) instead of returning at once.
  EXPECT_FALSE((*group)->Broadcast(t, /*root=*/1).ok());
}

#ifndef CHORD_WITH_CUDA
TEST(ProcessGroupTest, NcclWithoutCudaBuildIsRefused) {
  DistOptions options = TwoRankOptions(0, 1, absl::Seconds(1));
  options.backend = Backend::kNccl;
  auto group = ProcessGroup::Create(options);
  EXPECT_EQ(group.status().code(), absl::StatusCode::kFailedPrecondition);
}
#endif

TEST(ProcessGroupTest, TwoRanksAllReduceBroadcastAndBarrier) {
  testing::TempDir dir;
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  auto worker = StartWorker("ops", *port, dir.File("worker.log"));
  ASSERT_TRUE(worker.ok());
  auto group = ProcessGroup::Create(TwoRankOptions(0, *port, absl::Seconds(20)));
  ASSERT_TRUE(group.ok()) << group.status();
  std::vector<at::Tensor> t{at::full({4}, 1.0f)};
  ASSERT_TRUE((*group)->AllReduceSum(t).ok());
  EXPECT_TRUE(at::equal(t[0], at::full({4}, 3.0f)));
  std::vector<at::Tensor> b{at::full({3}, 7.5, at::kDouble)};
  ASSERT_TRUE((*group)->Broadcast(b, 0).ok());
  std::string bytes("step-3\0payload", 14);
  ASSERT_TRUE((*group)->BroadcastBytes(&bytes, 0).ok());
  std::string empty;
  ASSERT_TRUE((*group)->BroadcastBytes(&empty, 0).ok());
  ASSERT_TRUE((*group)->Barrier().ok());
  auto code = (*worker)->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << "worker failed; see its exit code in RunWorker";
}

TEST(ProcessGroupTest, HungPeerFailsWithinTimeout) {
  testing::TempDir dir;
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  auto worker = StartWorker("hang", *port, dir.File("worker.log"));
  ASSERT_TRUE(worker.ok());
  auto group = ProcessGroup::Create(TwoRankOptions(0, *port, absl::Seconds(3)));
  ASSERT_TRUE(group.ok()) << group.status();
  std::vector<at::Tensor> t{at::ones({4})};
  ASSERT_TRUE((*group)->AllReduceSum(t).ok());
  absl::Time start = absl::Now();
  absl::Status status = (*group)->AllReduceSum(t);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_NE(status.message().find("rank 0/2: all_reduce"), absl::string_view::npos) << status;
  // The bound is the configured timeout, not forever (generous margin for a loaded machine).
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
}

TEST(ProcessGroupTest, DeadPeerFailsTheCollective) {
  testing::TempDir dir;
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  auto worker = StartWorker("die", *port, dir.File("worker.log"));
  ASSERT_TRUE(worker.ok());
  auto group = ProcessGroup::Create(TwoRankOptions(0, *port, absl::Seconds(10)));
  ASSERT_TRUE(group.ok()) << group.status();
  std::vector<at::Tensor> t{at::ones({4})};
  ASSERT_TRUE((*group)->AllReduceSum(t).ok());
  ASSERT_TRUE((*worker)->Wait(absl::Seconds(10)).ok());
  absl::Status status = (*group)->AllReduceSum(t);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("all_reduce failed"), absl::string_view::npos) << status;
}

TEST(ProcessGroupTest, RendezvousWithoutPeersTimesOut) {
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  auto group = ProcessGroup::Create(TwoRankOptions(0, *port, absl::Seconds(2)));
  EXPECT_FALSE(group.ok());
  EXPECT_NE(group.status().message().find("rendezvous"), absl::string_view::npos) << group.status();
}

}  // namespace
}  // namespace chord::dist

int main(int argc, char** argv) {
  chord::dist::g_self_path = "/proc/self/exe";
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) chord::dist::g_self_path.assign(buf, static_cast<size_t>(n));
  if (const char* scenario = std::getenv("CHORD_DIST_TEST_WORKER")) {
    return chord::dist::RunWorker(scenario);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
