// PreferPassiveOpenMp re-executes the process with OMP_WAIT_POLICY=PASSIVE when it is unset, keeps
// the arguments, and leaves a policy the user set alone. The test runs this binary again in probe
// mode (first argument --probe) through `env`, which can unset variables.

#include "common/service/openmp_policy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/support/child_process.h"

namespace chord::service {
namespace {

std::string g_self;

TEST(OpenMpPolicyTest, UnsetPolicyBecomesPassiveWithTheSameArguments) {
  testing::CommandResult run = testing::RunCommand(
      "env -u OMP_WAIT_POLICY -u CHORD_OMP_WAIT_POLICY_SET " + g_self + " --probe one 'two words'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output, "policy=PASSIVE set_by_chord=1 args=one|two words|\n");
}

TEST(OpenMpPolicyTest, APolicyTheUserSetIsKept) {
  testing::CommandResult run = testing::RunCommand(
      "env -u CHORD_OMP_WAIT_POLICY_SET OMP_WAIT_POLICY=ACTIVE " + g_self + " --probe x");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output, "policy=ACTIVE set_by_chord=0 args=x|\n");
}

int Probe(int argc, char** argv) {
  PreferPassiveOpenMp(argc, argv);
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  std::string args;
  for (int i = 2; i < argc; ++i) args += std::string(argv[i]) + "|";
  std::printf("policy=%s set_by_chord=%d args=%s\n", policy == nullptr ? "(unset)" : policy,
              OpenMpPolicyWasSetByChord() ? 1 : 0, args.c_str());
  return 0;
}

}  // namespace
}  // namespace chord::service

int main(int argc, char** argv) {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  chord::service::g_self = n > 0 ? std::string(buf, static_cast<size_t>(n)) : argv[0];
  if (argc > 1 && std::strcmp(argv[1], "--probe") == 0) return chord::service::Probe(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
