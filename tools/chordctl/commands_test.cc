// The job, up/down, datasets and eval commands run in-process (RunChordctl with string streams):
// usage errors exit 2 with one line, missing files exit 3, a missing learner address says how to
// give one; `datasets make` and `eval` end to end on the tiny model. The job commands against a
// real learner are covered by tests/chordctl_jobs_test.cc.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "tools/chordctl/chordctl_app.h"
#include "tools/chordctl/datasets_command.h"

namespace chord::chordctl {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/chordctl_commands_XXXXXX";
    dir_ = mkdtemp(tmpl);
    // No address from the environment or a local cluster unless a test says so.
    unsetenv("CHORD_LEARNER_ADDRESS");
    unsetenv("CHORD_TOKEN");
    setenv("CHORD_STATE_DIR", (dir_ + "/no-cluster").c_str(), 1);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    unsetenv("CHORD_STATE_DIR");
  }

  CliRun Run(std::vector<std::string> args) {
    args.insert(args.begin(), "chordctl");
    std::vector<const char*> argv;
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    std::ostringstream out, err;
    std::istringstream in;
    CliContext context;
    context.out = &out;
    context.err = &err;
    context.in = &in;
    // `init-model` and `eval` run chord-model-tool of the build tree (as a child: the output
    // comes back through the string streams).
    const char* bin_dir = std::getenv("CHORD_BIN_DIR");
    context.model_tool =
        std::string(bin_dir != nullptr ? bin_dir : "build/bin") + "/chord-model-tool";
    CliRun run;
    run.code = RunChordctl(static_cast<int>(argv.size()), argv.data(), context);
    run.out = out.str();
    run.err = err.str();
    return run;
  }

  std::string dir_;
};

int Lines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

TEST_F(CommandsTest, UsageErrorsExitTwoWithOneLine) {
  const std::string spec = dir_ + "/job.yaml";
  std::ofstream(spec) << "name: x\n";
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"submit"},                                     // no file
           {"submit", spec, "--set", "steps"},             // malformed override
           {"get"},                                        // no id
           {"get", "a", "b"},                              // extra argument
           {"cancel"},                                     //
           {"watch"},                                      //
           {"logs"},                                       //
           {"list", "--state", "done"},                    // unknown state
           {"list", "--limit", "0"},                       //
           {"get", "j-1"},                                 // no learner address
           {"up", "--rollout-workers", "0"},               //
           {"up", "--learner-ranks", "x"},                 //
           {"up", "--grace", "-1"},                        //
           {"down", "--grace", "0"},                       //
           {"datasets"},                                   //
           {"datasets", "make"},                           //
           {"datasets", "make", "sudoku", "--out", dir_},  // unknown generator
           {"datasets", "make", "arithmetic"},             // no --out
           {"datasets", "make", "arithmetic", "--out", dir_ + "/d", "--digits", "5-2"},
           {"datasets", "make", "arithmetic", "--out", dir_ + "/d", "--ops", "/"},
           {"datasets", "make", "countdown", "--out", dir_ + "/d", "--numbers", "7"},
           {"eval", "--model", dir_},      // no --data
           {"eval", "--data", "x.jsonl"},  // no --model
           {"eval", "--model", dir_, "--data", "x", "--max-new-tokens", "0"},
       }) {
    CliRun run = Run(args);
    std::string joined = absl::StrJoin(args, " ");
    EXPECT_EQ(run.code, 2) << joined << "\n" << run.err;
    EXPECT_EQ(Lines(run.err), 1) << joined << "\n" << run.err;
    EXPECT_TRUE(absl::StartsWith(run.err, "chordctl: ")) << joined << "\n" << run.err;
    EXPECT_EQ(run.out, "") << joined;
  }
  CliRun run = Run({"get", "j-1"});
  EXPECT_EQ(run.err,
            "chordctl: error: no learner address: pass --address HOST:PORT, set "
            "CHORD_LEARNER_ADDRESS, or start a local cluster with `chordctl up`\n");
  run = Run({"list", "--state", "done"});
  EXPECT_EQ(run.err,
            "chordctl: error: unknown job state \"done\" (states: queued, running, succeeded, "
            "failed, cancelled)\n");
}

TEST_F(CommandsTest, MissingFilesExitThree) {
  CliRun run = Run({"submit", dir_ + "/missing.yaml", "--address", "127.0.0.1:1"});
  EXPECT_EQ(run.code, 3) << run.err;
  EXPECT_EQ(run.err, "chordctl: error: " + dir_ + "/missing.yaml: no such job spec file\n");

  run = Run({"eval", "--model", dir_ + "/no-model", "--data", dir_ + "/no-data.jsonl"});
  EXPECT_EQ(run.code, 3) << run.err;
  EXPECT_EQ(Lines(run.err), 1) << run.err;

  run = Run({"up", "--state-dir", dir_ + "/state", "--bin-dir", dir_ + "/no-bin"});
  EXPECT_EQ(run.code, 3) << run.err;
  EXPECT_TRUE(absl::StartsWith(
      run.err, "chordctl: error: " + dir_ + "/no-bin/chord-expert-buffer: not found"))
      << run.err;
}

// `convert` prints the Chord spec of a Trinity-RFT config with the unmapped keys as comments;
// `submit --from-trinity` converts before submitting and reports the unmapped keys on stderr.
TEST_F(CommandsTest, TrinityConfigsConvert) {
  const char* root = std::getenv("CHORD_SOURCE_DIR");
  ASSERT_NE(root, nullptr);
  const std::string example = std::string(root) + "/tests/data/trinity/mix_chord.yaml";
  CliRun run = Run({"convert", example, "--steps", "500"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_TRUE(absl::StartsWith(run.out, "# Chord job spec converted from " + example +
                                            " (Trinity-RFT mix_chord) by chordctl convert.\n"))
      << run.out;
  EXPECT_NE(run.out.find("\nsteps: 500\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("  variant: chord-phi\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("# Not mapped ("), std::string::npos) << run.out;

  run = Run({"convert", dir_ + "/missing.yaml"});
  EXPECT_EQ(run.code, 3);
  EXPECT_EQ(run.err,
            "chordctl: error: " + dir_ + "/missing.yaml: no such Trinity-RFT config file\n");
  const std::string ppo = dir_ + "/ppo.yaml";
  std::ofstream(ppo) << "algorithm: {algorithm_type: ppo}\n";
  run = Run({"convert", ppo});
  EXPECT_EQ(run.code, 2);
  EXPECT_EQ(Lines(run.err), 1) << run.err;
  EXPECT_NE(run.err.find("algorithm.algorithm_type: \"ppo\" is not supported"), std::string::npos);

  // Converted, then refused for want of a learner address (after the report).
  run = Run({"submit", "--from-trinity", example, "--set", "steps=500"});
  EXPECT_EQ(run.code, 2) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.err,
                               "chordctl: " + example + ": converted from Trinity-RFT mix_chord; "))
      << run.err;
  EXPECT_NE(run.err.find(": not mapped: project: "), std::string::npos) << run.err;
  EXPECT_TRUE(absl::EndsWith(run.err,
                             "chordctl: error: no learner address: pass --address HOST:PORT, set "
                             "CHORD_LEARNER_ADDRESS, or start a local cluster with `chordctl "
                             "up`\n"))
      << run.err;
}

TEST_F(CommandsTest, UnreachableLearnerIsARuntimeError) {
  CliRun run = Run({"--timeout", "1", "get", "j-1", "--address", "127.0.0.1:1"});
  EXPECT_EQ(run.code, 1) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.err, "chordctl: error: Get: ")) << run.err;

  // The address also comes from the environment, and from the local cluster's record.
  setenv("CHORD_LEARNER_ADDRESS", "127.0.0.1:1", 1);
  run = Run({"--timeout", "1", "list"});
  EXPECT_EQ(run.code, 1) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.err, "chordctl: error: List: ")) << run.err;
  unsetenv("CHORD_LEARNER_ADDRESS");
}

TEST_F(CommandsTest, DownWithoutAClusterIsANoOp) {
  CliRun run = Run({"down", "--state-dir", dir_});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "no local cluster recorded in " + dir_ + " (nothing to stop)\n");
}

TEST_F(CommandsTest, DigitRanges) {
  EXPECT_EQ(*ParseDigitRange("3"), std::make_pair(3, 3));
  EXPECT_EQ(*ParseDigitRange("2-4"), std::make_pair(2, 4));
  for (const char* bad : {"", "0", "4-2", "1-10", "a-b", "2-"}) {
    EXPECT_FALSE(ParseDigitRange(bad).ok()) << bad;
  }
}

TEST_F(CommandsTest, DatasetsMakeThenEvalTheTinyModel) {
  const std::string data = dir_ + "/data";
  CliRun run = Run({"datasets", "make", "arithmetic", "--out", data, "--tasks", "20", "--expert",
                    "10", "--eval", "6", "--digits", "2", "--ops", "+-", "--seed", "3"});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.out, "wrote the arithmetic dataset\n")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "  tasks   20     " + data + "/tasks.jsonl\n")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "  eval    6      " + data + "/eval.jsonl (held out"))
      << run.out;

  run = Run({"datasets", "make", "countdown", "--out", dir_ + "/cd", "--tasks", "5", "--expert",
             "5", "--eval", "3", "--json"});
  ASSERT_EQ(run.code, 0) << run.err;
  nlohmann::json made = nlohmann::json::parse(run.out);
  EXPECT_EQ(made["num_eval"], 3);
  EXPECT_TRUE(fs::exists(made["expert"].get<std::string>()));

  const std::string model = dir_ + "/model";
  run = Run({"init-model", "--out", model});
  ASSERT_EQ(run.code, 0) << run.err;

  run = Run({"eval", "--model", model, "--data", data + "/eval.jsonl", "--max-samples", "4",
             "--max-new-tokens", "6", "--examples", "2", "--batch-size", "3"});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.out, "accuracy ")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "/4)  mean reward ")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "\nexamples:\n")) << run.out;
  EXPECT_EQ(Lines(run.out), 6) << run.out;  // report, model, data, "examples:", 2 examples
  EXPECT_EQ(run.err, "evaluating: 3/4 problems\n");

  run = Run({"eval", "--model", model, "--data", data + "/eval.jsonl", "--max-new-tokens", "4",
             "--json"});
  ASSERT_EQ(run.code, 0) << run.err;
  nlohmann::json report = nlohmann::json::parse(run.out);
  EXPECT_EQ(report["samples"], 6);
  EXPECT_LE(report["mean_response_tokens"].get<double>(), 4.0);
  EXPECT_EQ(report["examples"].size(), 3u);

  // A verifier that does not exist is refused before any generation.
  run = Run({"eval", "--model", model, "--data", data + "/eval.jsonl", "--verifier", "nope",
             "--max-new-tokens", "2"});
  EXPECT_EQ(run.code, 0) << "tasks name their verifier (arithmetic): --verifier is unused";
  std::ofstream(dir_ + "/plain.jsonl") << "{\"prompt\": \"1+1=?\", \"answer\": \"2\"}\n";
  run = Run({"eval", "--model", model, "--data", dir_ + "/plain.jsonl", "--verifier", "nope"});
  EXPECT_EQ(run.code, 2) << run.err;
  EXPECT_TRUE(absl::StartsWith(run.err, "chordctl: error: --verifier: unknown verifier \"nope\""))
      << run.err;
  std::ofstream(dir_ + "/bad.jsonl") << "{\"prompt\": \"1+1=?\"}\n";
  run = Run({"eval", "--model", model, "--data", dir_ + "/bad.jsonl"});
  EXPECT_EQ(run.code, 2) << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, "bad.jsonl:1: answer")) << run.err;
}

}  // namespace
}  // namespace chord::chordctl
