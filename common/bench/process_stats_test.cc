#include "common/bench/process_stats.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <memory>

namespace chord::bench {
namespace {

constexpr int64_t kMb = 1 << 20;

TEST(ProcessStatsTest, MemoryFollowsAnAllocationTheProcessTouches) {
  const int64_t before = CurrentRssBytes();
  ASSERT_GT(before, 0);
  EXPECT_GE(PeakRssBytes(), before);
  {
    auto block = std::make_unique<char[]>(64 * kMb);
    std::memset(block.get(), 1, 64 * kMb);  // touched, so resident
    const int64_t during = CurrentRssBytes();
    EXPECT_GE(during - before, 60 * kMb) << before << " -> " << during;
    EXPECT_GE(PeakRssBytes(), during);
    volatile char sink = block[12345];
    (void)sink;
  }
  // After the block is freed and the peak reset, the peak is near the current size again.
  if (ResetPeakRss()) {
    EXPECT_LT(PeakRssBytes() - CurrentRssBytes(), 16 * kMb);
  }
}

TEST(ProcessStatsTest, ReadsAnotherProcessByPid) {
  // This process seen through its pid reads what the /proc/self readers read.
  const int pid = static_cast<int>(getpid());
  EXPECT_GT(RssBytesOf(pid), 0);
  EXPECT_GE(PeakRssBytesOf(pid), RssBytesOf(pid) - kMb);
  EXPECT_NEAR(static_cast<double>(RssBytesOf(pid)), static_cast<double>(CurrentRssBytes()),
              8.0 * kMb);
  EXPECT_EQ(RssBytesOf(-5), -1);
  EXPECT_EQ(PeakRssBytesOf(-5), -1);
}

TEST(ProcessStatsTest, CpuSecondsGrowWithWork) {
  const double start = CpuSeconds();
  volatile double x = 0;
  for (int i = 0; i < 20'000'000; ++i) x = x + i * 1e-9;
  EXPECT_GT(CpuSeconds(), start);
}

}  // namespace
}  // namespace chord::bench
