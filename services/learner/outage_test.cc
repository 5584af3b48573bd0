// OutageWaiter (outage.h): which errors are waited out, the backoff, the limit and the cancel.

#include "services/learner/outage.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "absl/time/clock.h"

namespace chord::learner {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Recorder {
  std::vector<std::string> lines;
  OutageOptions Options(absl::Duration limit) {
    OutageOptions options;
    options.limit = limit;
    options.first_backoff = absl::Milliseconds(10);
    options.max_backoff = absl::Milliseconds(40);
    options.log = [this](const std::string& line) { lines.push_back(line); };
    return options;
  }
};

// A call that fails with `error` its first `failures` times, then succeeds.
std::function<absl::Status()> FailingTimes(int failures, absl::Status error, int* calls) {
  return [=]() { return (*calls)++ < failures ? error : absl::OkStatus(); };
}

TEST(OutageTest, UnavailableAndDeadlineExceededAreOutagesOthersAreNot) {
  EXPECT_TRUE(IsOutage(absl::UnavailableError("down")));
  EXPECT_TRUE(IsOutage(absl::DeadlineExceededError("slow")));
  EXPECT_FALSE(IsOutage(absl::InvalidArgumentError("bad")));
  EXPECT_FALSE(IsOutage(absl::NotFoundError("dataset")));
  EXPECT_FALSE(IsOutage(absl::CancelledError("cancelled")));
  EXPECT_FALSE(IsOutage(absl::OkStatus()));
}

TEST(OutageTest, AnOutageIsWaitedOutWithOneLineAtItsStartAndItsEnd) {
  Recorder recorder;
  OutageWaiter waiter(recorder.Options(absl::Seconds(10)));
  int calls = 0;
  absl::Status status =
      waiter.Run("rollouts", FailingTimes(3, absl::UnavailableError("reward down"), &calls));
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(calls, 4);
  ASSERT_EQ(recorder.lines.size(), 2u);
  EXPECT_EQ(
      recorder.lines[0],
      "waiting for rollouts (up to 10s, services.outage_timeout_s): UNAVAILABLE: reward down");
  EXPECT_THAT(recorder.lines[1], StartsWith("rollouts is back after "));
  EXPECT_THAT(recorder.lines[1], HasSubstr("(4 attempts)"));
}

TEST(OutageTest, OtherErrorsAndSuccessReturnAtOnce) {
  Recorder recorder;
  OutageWaiter waiter(recorder.Options(absl::Seconds(10)));
  int calls = 0;
  EXPECT_EQ(
      waiter.Run("datasets", FailingTimes(5, absl::NotFoundError("no such file"), &calls)).code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(calls, 1);
  calls = 0;
  EXPECT_TRUE(waiter.Run("datasets", FailingTimes(0, absl::OkStatus(), &calls)).ok());
  EXPECT_EQ(calls, 1);
  // An outage that ends in another error: that error, after the wait.
  calls = 0;
  auto then_invalid = [&calls]() {
    return calls++ == 0 ? absl::UnavailableError("down") : absl::InvalidArgumentError("bad");
  };
  EXPECT_EQ(waiter.Run("datasets", then_invalid).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(recorder.lines.size(), 2u);  // the start and the end of that one outage
}

TEST(OutageTest, TheLimitEndsTheWaitWithTheLastErrorAnnotated) {
  Recorder recorder;
  OutageWaiter waiter(recorder.Options(absl::Milliseconds(200)));
  int calls = 0;
  const absl::Time start = absl::Now();
  absl::Status status =
      waiter.Run("evaluation", FailingTimes(1000, absl::UnavailableError("gone"), &calls));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()), StartsWith("gone (gave up after waiting "));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("for evaluation, services.outage_timeout_s = 0.2)"));
  EXPECT_GE(took, absl::Milliseconds(200));
  EXPECT_LT(took, absl::Seconds(5));
  EXPECT_GT(calls, 2);  // backoff 10, 20, 40, 40, ... ms
  EXPECT_LT(calls, 15);
}

TEST(OutageTest, AZeroLimitDoesNotWait) {
  Recorder recorder;
  OutageWaiter waiter(recorder.Options(absl::ZeroDuration()));
  int calls = 0;
  EXPECT_EQ(waiter.Run("rollouts", FailingTimes(1, absl::UnavailableError("down"), &calls)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(recorder.lines.empty());
}

TEST(OutageTest, ACancelOrAStopEndsTheWait) {
  Recorder recorder;
  OutageOptions options = recorder.Options(absl::Minutes(10));
  std::atomic<bool> cancelled{false};
  options.cancelled = [&cancelled] { return cancelled.load(); };
  OutageWaiter waiter(options);
  int calls = 0;
  auto cancel_on_third = [&]() {
    if (++calls == 3) cancelled = true;
    return absl::UnavailableError("down");
  };
  absl::Status status = waiter.Run("rollouts", cancel_on_third);
  EXPECT_THAT(std::string(status.message()), HasSubstr("(cancelled while waiting"));
  EXPECT_EQ(calls, 3);

  cancelled = false;
  calls = 0;
  absl::Status stopped =
      waiter.Run("rollouts", FailingTimes(1000, absl::UnavailableError("down"), &calls),
                 [&calls] { return calls >= 2; });
  EXPECT_THAT(std::string(stopped.message()), HasSubstr("(cancelled while waiting"));
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace chord::learner
