// `make experiments` end to end on its smoke profile (tools/experiments/smoke.env): the harness
// starts the real services with `chordctl up`, trains the base model and two arms for one seed
// with `chordctl submit`, scores the checkpoints with `chordctl eval`, and writes the table and
// the curves. The numbers are not checked against the paper (a few steps teach nothing); the
// test checks that every record the report needs was written and parsed.

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "tests/support/child_process.h"
#include "tests/support/png_image.h"

namespace chord {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(ExperimentsSmokeTest, HarnessWritesTheTableAndTheCurves) {
  testing::TempDir dir;
  // A copy of the page's frame, so that --doc is exercised without touching docs/.
  const std::string page = dir.File("page/experiments.md");
  fs::create_directories(dir.File("page"));
  ASSERT_TRUE(files::WriteFileAtomically(page,
                                         "# Page\n\n<!-- results of make experiments: begin -->\n"
                                         "<!-- results of make experiments: end -->\n\nAfter.\n")
                  .ok());
  const std::string build_dir =
      fs::path(testing::BinaryPath("chordctl")).parent_path().parent_path();
  std::string command =
      absl::StrCat("CHORD_EXPERIMENTS_PROFILE=smoke CHORD_EXPERIMENTS_DIR=", dir.File("run"),
                   " CHORD_EXPERIMENTS_DOC=", page, " ",
                   testing::SourcePath("tools/experiments/run-experiments.sh"), " ", build_dir,
                   " > ", dir.File("harness.log"), " 2>&1");
  testing::CommandResult result = testing::RunCommand(command, absl::Minutes(8));
  auto log = files::ReadFile(dir.File("harness.log"));
  ASSERT_EQ(result.exit_code, 0) << (log.ok() ? *log : result.output);

  // Every arm of the profile ran and left its records.
  for (const std::string arm : {"sft-then-rl", "chord-phi"}) {
    const std::string run = dir.File("run/runs/" + arm + "/seed-1");
    for (const char* file : {"done", "events.jsonl", "base-eval.jsonl", "base-final.json",
                             "target-final.json", "job.json"}) {
      EXPECT_TRUE(fs::exists(run + "/" + file)) << run << "/" << file;
    }
    // chordctl plot drew the job's own curves.
    EXPECT_TRUE(testing::ReadPngSummary(run + "/curves.png").ok()) << run;
  }

  // The report parsed every number: the JSON has both arms with values in [0, 1] and curves
  // over the steps (evaluations every 2 of 4 steps, checkpoints alike).
  auto text = files::ReadFile(dir.File("run/report/results.json"));
  ASSERT_TRUE(text.ok()) << text.status();
  json results = json::parse(*text);
  ASSERT_EQ(results["arms"].size(), 2u) << *text;
  for (const json& arm : results["arms"]) {
    ASSERT_EQ(arm["runs"].size(), 1u) << arm["name"];
    const json& run = arm["runs"][0];
    for (const char* key :
         {"target_final", "target_best", "base_final", "long_form_target", "long_form_base"}) {
      double v = run[key].get<double>();
      EXPECT_GE(v, 0) << arm["name"] << " " << key;
      EXPECT_LE(v, 1) << arm["name"] << " " << key;
    }
    std::vector<int64_t> target_steps, base_steps;
    for (const json& point : run["target_curve"]) target_steps.push_back(point[0]);
    for (const json& point : run["base_curve"]) base_steps.push_back(point[0]);
    EXPECT_EQ(target_steps, (std::vector<int64_t>{0, 2, 4})) << arm["name"];
    EXPECT_EQ(base_steps, (std::vector<int64_t>{0, 2, 4})) << arm["name"];
    EXPECT_GT(run["seconds"].get<double>(), 0);
  }
  EXPECT_EQ(results["arms"][0]["name"], "sft-then-rl");
  // The SFT stage of sft-then-rl wrote demonstrations: its answers are in the long form or not,
  // but the share is a number; the base model's start is recorded for the table.
  EXPECT_GE(results["base_model"]["base_accuracy"].get<double>(), 0);

  auto table = files::ReadFile(dir.File("run/report/results.md"));
  ASSERT_TRUE(table.ok());
  EXPECT_NE(table->find("| SFT then GRPO |"), std::string::npos) << *table;
  EXPECT_NE(table->find("| CHORD-phi |"), std::string::npos) << *table;
  absl::StatusOr<testing::PngSummary> png =
      testing::ReadPngSummary(dir.File("run/report/curves.png"));
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_GT(png->non_background_share, 0.02);

  // The page got the table and its picture; the text around the block is kept.
  auto updated = files::ReadFile(page);
  ASSERT_TRUE(updated.ok());
  EXPECT_NE(updated->find("| CHORD-phi |"), std::string::npos) << *updated;
  EXPECT_NE(updated->find("](experiments/curves.png)"), std::string::npos) << *updated;
  EXPECT_NE(updated->find("\nAfter.\n"), std::string::npos);
  EXPECT_TRUE(testing::ReadPngSummary(dir.File("page/experiments/curves.png")).ok());
  // The services are down again: the harness's trap ran `chordctl down`.
  EXPECT_FALSE(fs::exists(dir.File("run/state/cluster.json")));
}

}  // namespace
}  // namespace chord
