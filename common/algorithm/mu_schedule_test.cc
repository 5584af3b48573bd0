#include "common/algorithm/mu_schedule.h"

#include <cmath>

#include "gtest/gtest.h"

namespace chord::algorithm {
namespace {

MuConfig Schedule(int64_t warmup, int64_t decay, double peak, double valley) {
  MuConfig c;
  c.mu_warmup_steps = warmup;
  c.mu_decay_steps = decay;
  c.mu_peak = peak;
  c.mu_valley = valley;
  return c;
}

// The worked values of chord-algorithm.md section 4.
TEST(MuScheduleTest, WorkedValuesWithWarmupAndDecay) {
  const MuConfig c = Schedule(200, 400, 0.5, 0.02);
  EXPECT_NEAR(ScheduledMu(c, 1), 0.0025, 1e-9);  // 0.5 * 1 / 200
  EXPECT_NEAR(ScheduledMu(c, 200), 0.5, 1e-9);   // cos(0) = 1: the peak
  EXPECT_NEAR(ScheduledMu(c, 400), 0.26, 1e-9);  // cos(pi / 2) = 0: 0.02 + 0.48 / 2
  EXPECT_NEAR(ScheduledMu(c, 600), 0.02, 1e-9);  // s >= W + D: the valley
  EXPECT_NEAR(ScheduledMu(c, 10000), 0.02, 1e-9);
}

TEST(MuScheduleTest, WorkedValuesWithoutWarmup) {
  const MuConfig c = Schedule(0, 200, 0.9, 0.05);
  // 0.05 + 0.85 * 0.5 * (1 + cos(pi / 200)) = 0.899947...: the spec's "~0.89995".
  EXPECT_NEAR(ScheduledMu(c, 1), 0.89995, 1e-5);
  EXPECT_NEAR(ScheduledMu(c, 1), 0.05 + 0.85 * 0.5 * (1 + std::cos(M_PI / 200)), 1e-12);
  EXPECT_NEAR(ScheduledMu(c, 100), 0.475, 1e-9);
  EXPECT_NEAR(ScheduledMu(c, 200), 0.05, 1e-9);
  EXPECT_NEAR(ScheduledMu(c, 201), 0.05, 1e-9);
}

TEST(MuScheduleTest, DefaultsAreAFixedTenth) {
  const MuConfig c;
  for (int64_t s : {1, 2, 50, 100000}) EXPECT_DOUBLE_EQ(ScheduledMu(c, s), 0.1);
}

TEST(MuScheduleTest, ZeroDecayJumpsToValleyAfterWarmup) {
  const MuConfig c = Schedule(10, 0, 0.6, 0.2);
  EXPECT_NEAR(ScheduledMu(c, 5), 0.3, 1e-12);
  EXPECT_NEAR(ScheduledMu(c, 9), 0.54, 1e-12);
  EXPECT_NEAR(ScheduledMu(c, 10), 0.2, 1e-12);
}

// The schedule's step for the job's step 60 of a stage that starts after 50 steps (an SFT warm-up
// of 50 steps, then CHORD): 60 on the job's count (the reference), 10 on the stage's.
TEST(MuScheduleTest, ScheduleStepOfTheJobOrOfTheStage) {
  EXPECT_EQ(MuScheduleStep(60, 50, MuStepCount::kJob), 60);
  EXPECT_EQ(MuScheduleStep(60, 50, MuStepCount::kStage), 10);
  EXPECT_EQ(MuScheduleStep(1, 0, MuStepCount::kJob), 1);
  EXPECT_EQ(MuScheduleStep(1, 0, MuStepCount::kStage), 1);
  // CHORD-mu (0, 200, 0.9, 0.05) after a 100-step warm-up: the stage's first step reads mu(101)
  // = 0.05 + 0.85 * 0.5 * (1 + cos(pi * 101 / 200)), just below the midpoint 0.475.
  const MuConfig c = Schedule(0, 200, 0.9, 0.05);
  EXPECT_NEAR(ScheduledMu(c, MuScheduleStep(101, 100, MuStepCount::kJob)),
              0.05 + 0.425 * (1 + std::cos(M_PI * 101 / 200)), 1e-15);
  EXPECT_NEAR(ScheduledMu(c, MuScheduleStep(101, 100, MuStepCount::kStage)), 0.89995, 1e-5);
}

TEST(MuScheduleTest, AdaptiveMuIsTauMinusRewardClamped) {
  EXPECT_NEAR(AdaptiveMu(0.5, 0.2), 0.3, 1e-12);
  EXPECT_EQ(AdaptiveMu(0.5, 0.7), 0.0);
  EXPECT_EQ(AdaptiveMu(0.5, -3.0), 1.0);

  MuConfig c;
  c.adaptive_mu = true;
  c.adaptive_mu_tau = 0.5;
  EXPECT_NEAR(StepMu(c, 7, 0.125), 0.375, 1e-12);
  EXPECT_NEAR(StepMu(c, 7, std::nullopt), 0.5, 1e-12);  // no on-policy rows
  c.adaptive_mu = false;
  EXPECT_NEAR(StepMu(c, 7, 0.125), 0.1, 1e-12);  // the schedule
}

}  // namespace
}  // namespace chord::algorithm
