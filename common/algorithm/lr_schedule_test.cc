#include "common/algorithm/lr_schedule.h"

#include <cmath>

#include "gtest/gtest.h"

namespace chord::algorithm {
namespace {

TEST(LrScheduleTest, ConstantByDefault) {
  OptimizerConfig c;
  c.lr = 1e-5;
  for (int64_t s : {1, 2, 100}) EXPECT_DOUBLE_EQ(LearningRateAt(c, s, 100), 1e-5);
}

TEST(LrScheduleTest, LinearWarmupThenConstant) {
  OptimizerConfig c;
  c.lr = 1e-3;
  c.lr_warmup_steps = 4;
  EXPECT_NEAR(LearningRateAt(c, 1, 10), 0.25e-3, 1e-15);
  EXPECT_NEAR(LearningRateAt(c, 3, 10), 0.75e-3, 1e-15);
  EXPECT_NEAR(LearningRateAt(c, 4, 10), 1e-3, 1e-15);
  EXPECT_NEAR(LearningRateAt(c, 10, 10), 1e-3, 1e-15);
}

TEST(LrScheduleTest, CosineFromPeakToFloorAtLastStep) {
  OptimizerConfig c;
  c.lr = 1.0;
  c.lr_warmup_steps = 2;
  c.lr_decay = LrDecay::kCosine;
  c.lr_min_ratio = 0.1;
  // W = 2, total 12: decay over 10 steps, lr(s) = 0.1 + 0.9 * 0.5 * (1 + cos(pi (s - 2) / 10)).
  EXPECT_NEAR(LearningRateAt(c, 1, 12), 0.5, 1e-12);
  EXPECT_NEAR(LearningRateAt(c, 2, 12), 1.0, 1e-12);
  EXPECT_NEAR(LearningRateAt(c, 7, 12), 0.55, 1e-12);  // halfway: 0.1 + 0.45
  EXPECT_NEAR(LearningRateAt(c, 4, 12), 0.1 + 0.45 * (1 + std::cos(M_PI * 0.2)), 1e-12);
  EXPECT_NEAR(LearningRateAt(c, 12, 12), 0.1, 1e-12);
  EXPECT_NEAR(LearningRateAt(c, 20, 12), 0.1, 1e-12);
}

}  // namespace
}  // namespace chord::algorithm
