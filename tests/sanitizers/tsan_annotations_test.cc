// The TSan build sees through the system Abseil's locks (tsan_absl_annotations.cc) without going
// blind: data shared through absl::Mutex, CondVar, Await and Notification gives no report, and
// races, also under two different mutexes, are still reported (exit code 66).

#include <gtest/gtest.h>

#include <string>

#include "common/files/file_io.h"
#include "tests/support/child_process.h"

namespace chord {
namespace {

struct HelperRun {
  int exit_code = -1;
  std::string output;
};

HelperRun RunHelper(const std::string& mode) {
  chord::testing::TempDir dir;
  const std::string log = dir.File("helper.log");
  auto child = chord::testing::ChildProcess::Start(
      {chord::testing::BinaryPath("chord-tsan-race-helper"), mode}, log);
  EXPECT_TRUE(child.ok()) << child.status();
  HelperRun run;
  if (!child.ok()) return run;
  absl::StatusOr<int> code = (*child)->Wait(absl::Seconds(120));
  EXPECT_TRUE(code.ok()) << code.status();
  run.exit_code = code.value_or(-1);
  run.output = files::ReadFile(log).value_or("");
  return run;
}

TEST(TsanAnnotationsTest, AbseilSynchronisationGivesNoReport) {
  const HelperRun run = RunHelper("guarded");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output.find("ThreadSanitizer"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("guarded: counter 4000, handed 42, payload 7"), std::string::npos)
      << run.output;
}

TEST(TsanAnnotationsTest, ARaceIsReported) {
  const HelperRun run = RunHelper("race");
  EXPECT_EQ(run.exit_code, 66) << run.output;
  EXPECT_NE(run.output.find("WARNING: ThreadSanitizer: data race"), std::string::npos)
      << run.output;
}

TEST(TsanAnnotationsTest, ARaceUnderTwoDifferentMutexesIsReported) {
  const HelperRun run = RunHelper("two_mutexes");
  EXPECT_EQ(run.exit_code, 66) << run.output;
  EXPECT_NE(run.output.find("WARNING: ThreadSanitizer: data race"), std::string::npos)
      << run.output;
}

}  // namespace
}  // namespace chord
