#include "common/algorithm/collective.h"

#include <ATen/ATen.h>

#include <thread>

#include "gtest/gtest.h"

namespace chord::algorithm {
namespace {

TEST(LocalCollectiveTest, IsAWorldOfOne) {
  LocalCollective local;
  EXPECT_EQ(local.rank(), 0);
  EXPECT_EQ(local.world_size(), 1);
  std::vector<at::Tensor> t{at::ones({3})};
  ASSERT_TRUE(local.AllReduceSum(t).ok());
  EXPECT_TRUE(at::equal(t[0], at::ones({3})));
}

TEST(InProcessCollectiveTest, SumsOverThreadsForSeveralRounds) {
  constexpr int kWorld = 3;
  constexpr int kRounds = 20;
  absl::StatusOr<std::unique_ptr<InProcessCollectiveGroup>> group =
      InProcessCollectiveGroup::Create(kWorld);
  ASSERT_TRUE(group.ok());
  std::vector<std::vector<double>> seen(kWorld);
  std::vector<absl::Status> statuses(kWorld);
  std::vector<std::thread> threads;
  for (int r = 0; r < kWorld; ++r) {
    threads.emplace_back([&, r] {
      Collective& c = (*group)->member(r);
      for (int round = 0; round < kRounds; ++round) {
        std::vector<at::Tensor> t{at::full({2}, 1.0 + r + 10.0 * round, at::kDouble),
                                  at::full({1}, static_cast<double>(r), at::kDouble)};
        absl::Status s = c.AllReduceSum(t);
        if (!s.ok()) {
          statuses[r] = s;
          return;
        }
        seen[r].push_back(t[0][1].item<double>());
        seen[r].push_back(t[1][0].item<double>());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int r = 0; r < kWorld; ++r) {
    ASSERT_TRUE(statuses[r].ok()) << statuses[r];
    ASSERT_EQ(seen[r].size(), 2u * kRounds);
    for (int round = 0; round < kRounds; ++round) {
      // sum over r of (1 + r + 10 round) = 3 + 3 + 30 round; sum of ranks = 3.
      EXPECT_EQ(seen[r][2 * round], 6.0 + 30.0 * round);
      EXPECT_EQ(seen[r][2 * round + 1], 3.0);
    }
  }
}

TEST(InProcessCollectiveTest, ShapeMismatchBreaksTheGroup) {
  absl::StatusOr<std::unique_ptr<InProcessCollectiveGroup>> group =
      InProcessCollectiveGroup::Create(2);
  ASSERT_TRUE(group.ok());
  absl::Status s0, s1;
  std::thread peer([&] {
    std::vector<at::Tensor> t{at::ones({3})};
    s1 = (*group)->member(1).AllReduceSum(t);
  });
  std::vector<at::Tensor> t{at::ones({2})};
  s0 = (*group)->member(0).AllReduceSum(t);
  peer.join();
  EXPECT_EQ(s0.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s1.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*group)->member(0).AllReduceSum(t).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(InProcessCollectiveTest, MissingPeerTimesOut) {
  absl::StatusOr<std::unique_ptr<InProcessCollectiveGroup>> group =
      InProcessCollectiveGroup::Create(2, absl::Milliseconds(50));
  ASSERT_TRUE(group.ok());
  std::vector<at::Tensor> t{at::ones({2})};
  EXPECT_EQ((*group)->member(0).AllReduceSum(t).code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(InProcessCollectiveTest, RejectsBadArguments) {
  EXPECT_EQ(InProcessCollectiveGroup::Create(0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InProcessCollectiveGroup::Create(2, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chord::algorithm
