// chordctl's command tree run in-process (RunChordctl with string streams), scoring with the
// reward library in-process. The binary against a running service is covered by
// tests/reward_integration_test.cc.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/files/file_io.h"
#include "tools/chordctl/chordctl_app.h"
#include "tools/chordctl/reward_command.h"

namespace chord::chordctl {
namespace {

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

CliRun Chordctl(std::vector<std::string> args, const std::string& stdin_text = "") {
  unsetenv("CHORD_REWARD_ADDRESS");  // in-process unless a test says otherwise
  args.insert(args.begin(), "chordctl");
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  std::ostringstream out, err;
  std::istringstream in(stdin_text);
  CliContext context;
  context.out = &out;
  context.err = &err;
  context.in = &in;
  CliRun run;
  run.code = RunChordctl(static_cast<int>(argv.size()), argv.data(), context);
  run.out = out.str();
  run.err = err.str();
  return run;
}

TEST(ChordctlRewardTest, ScoresInProcess) {
  CliRun run = Chordctl({"reward", "score", "--verifier", "math_boxed", "--response",
                         "so \\boxed{3/4}", "--reference", "0.75"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out,
            "score 1.0  correct  math_boxed: extracted \"3/4\" equals reference \"0.75\" (equal "
            "exact values)\n");
  EXPECT_EQ(run.err, "");

  run =
      Chordctl({"reward", "score", "--verifier=arithmetic", "--response=#### 5", "--reference=6"});
  EXPECT_EQ(run.code, 0);
  EXPECT_TRUE(absl::StartsWith(run.out, "score 0.0  wrong  arithmetic: ")) << run.out;
}

TEST(ChordctlRewardTest, ThinkPenaltyMetaAndJson) {
  CliRun run = Chordctl({"reward", "score", "--verifier", "countdown", "--response",
                         "<think>hmm<answer>3*5+7</answer>", "--meta",
                         R"({"numbers":[3,5,7],"target":22})", "--think-penalty", "--json"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(absl::StrContains(run.out, "\"correct\":true")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "\"score\":0.9")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "\"verifier\":\"countdown\"")) << run.out;
}

TEST(ChordctlRewardTest, ResponseFromStdinOrFile) {
  CliRun run = Chordctl(
      {"reward", "score", "--verifier", "math_boxed", "--response", "-", "--reference", "2"},
      "line one\n\\boxed{2}\n");
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.out, "score 1.0  correct")) << run.out;

  std::string path = ::testing::TempDir() + "/chordctl_response.txt";
  ASSERT_TRUE(files::WriteFileAtomically(path, "\\boxed{\\frac{1}{2}}").ok());
  run = Chordctl({"reward", "score", "--verifier", "math_boxed", "--response-file", path,
                  "--reference", "0.5"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.out, "score 1.0  correct")) << run.out;

  run = Chordctl({"reward", "score", "--verifier", "math_boxed", "--response-file",
                  path + ".missing", "--reference", "0.5"});
  EXPECT_EQ(run.code, 3);
  EXPECT_TRUE(absl::StartsWith(run.err, "chordctl: error: ")) << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
}

TEST(ChordctlRewardTest, UsageErrorsExitTwoWithOneLine) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"reward"},
           {"reward", "score", "--response", "x"},           // no --verifier
           {"reward", "score", "--verifier", "math_boxed"},  // no response
           {"reward", "score", "--verifier", "math_boxed", "--response", "x", "--response-file",
            "y"},                                                               // both
           {"reward", "score", "--verifier", "math_boxed", "--bogus"},          // unknown flag
           {"reward", "score", "--verifier", "nope", "--response", "x"},        // unknown verifier
           {"reward", "score", "--verifier", "math_boxed", "--response", "x"},  // empty reference
           {"--timeout", "-1", "reward", "verifiers"},
       }) {
    CliRun run = Chordctl(args);
    std::string joined;
    for (const std::string& arg : args) joined += arg + " ";
    EXPECT_EQ(run.code, 2) << joined << "\n" << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << joined << "\n" << run.err;
    EXPECT_TRUE(absl::StartsWith(run.err, "chordctl: ")) << run.err;
    EXPECT_EQ(run.out, "") << joined;
  }
  CliRun run = Chordctl({"reward", "score", "--verifier", "nope", "--response", "x"});
  EXPECT_EQ(run.err,
            "chordctl: error: items[0].verifier: unknown verifier \"nope\" (known: arithmetic, "
            "countdown, math_boxed, tool_call)\n");
}

TEST(ChordctlRewardTest, ListsVerifiersAndHelp) {
  CliRun run = Chordctl({"reward", "verifiers"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.out, "arithmetic  ")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "\nmath_boxed  ")) << run.out;
  EXPECT_EQ(std::count(run.out.begin(), run.out.end(), '\n'), 4) << run.out;

  run = Chordctl({"reward", "verifiers", "--json"});
  EXPECT_TRUE(absl::StartsWith(run.out, "[{\"description\":")) << run.out;

  run = Chordctl({"reward", "score", "--help"});
  EXPECT_EQ(run.code, 0);
  EXPECT_TRUE(absl::StrContains(run.out, "--think-penalty")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "CHORD_REWARD_ADDRESS")) << run.out;

  run = Chordctl({"--version"});
  EXPECT_EQ(run.code, 0);
  EXPECT_TRUE(absl::StartsWith(run.out, "chordctl ")) << run.out;
}

TEST(ChordctlRewardTest, UnreachableServiceIsARuntimeError) {
  CliRun run = Chordctl({"--timeout", "1", "reward", "verifiers", "--address", "127.0.0.1:1"});
  EXPECT_EQ(run.code, 1) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.err, "chordctl: error: ListVerifiers: ")) << run.err;
}

TEST(FormatScoreTest, AlwaysHasADecimal) {
  EXPECT_EQ(FormatScore(1.0), "1.0");
  EXPECT_EQ(FormatScore(0.0), "0.0");
  EXPECT_EQ(FormatScore(0.9f), "0.9");
  EXPECT_EQ(FormatScore(-0.1), "-0.1");
  EXPECT_EQ(FormatScore(0.25), "0.25");
}

}  // namespace
}  // namespace chord::chordctl
