#include "tools/experiments/experiment_report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "tests/support/child_process.h"
#include "tests/support/png_image.h"

namespace chord::experiments {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

void Write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_TRUE(files::WriteFileAtomically(path, text).ok()) << path;
}

// A `chordctl eval --json` object with `long_form` of `total` example responses in the long form.
std::string EvalJson(double accuracy, int long_form, int total) {
  json examples = json::array();
  for (int i = 0; i < total; ++i) {
    examples.push_back({{"response", i < long_form ? "units 7+5=12 carry 1\ntens 4+8+1=13\n"
                                                   : "7+5=12\n4+8+1=13\n\\boxed{132}"}});
  }
  return json{{"accuracy", accuracy}, {"samples", 200}, {"examples", examples}}.dump() + "\n";
}

// The events `chordctl logs --json` prints, with the target task's evaluations at `evals`.
std::string Events(const std::vector<std::pair<int, double>>& evals) {
  std::string out =
      R"json({"type":"LOG","step":0,"message":"stage train starts at step 1 (4 steps)","metrics":{}})json"
      "\n";
  for (const auto& [step, accuracy] : evals) {
    if (step > 0) {
      absl::StrAppend(
          &out, json{{"type", "STEP"}, {"step", step}, {"metrics", {{"mu", 0.1}}}}.dump(), "\n");
    }
    absl::StrAppend(
        &out,
        json{{"type", "EVAL"}, {"step", step}, {"metrics", {{"eval_accuracy", accuracy}}}}.dump(),
        "\n");
  }
  return out;
}

// One finished run folder as the harness leaves it.
void WriteRun(const std::string& dir, const std::vector<std::pair<int, double>>& target,
              const std::vector<std::pair<int, double>>& base, double base_final,
              double target_final_style, double seconds) {
  Write(dir + "/events.jsonl", Events(target));
  std::string base_lines;
  for (const auto& [step, accuracy] : base) {
    absl::StrAppend(&base_lines, R"({"step":)", step, R"(,"eval":)",
                    json{{"accuracy", accuracy}}.dump(), "}\n");
  }
  Write(dir + "/base-eval.jsonl", base_lines);
  Write(dir + "/base-final.json", EvalJson(base_final, 0, 4));
  Write(dir + "/target-final.json",
        EvalJson(target.back().second, static_cast<int>(target_final_style * 4), 4));
  Write(dir + "/done", absl::StrCat("seconds: ", seconds, "\n"));
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Write(dir_.File("arms.txt"),
          "# comment\n"
          "sft|SFT only|algorithm.variant=sft\n"
          "\n"
          "grpo|GRPO only|algorithm.variant=grpo\n"
          "chord-phi|CHORD-phi|algorithm.variant=chord-phi algorithm.expert_data_ratio=0.2\n");
    Write(dir_.File("base/base-final.json"), EvalJson(0.9, 0, 4));
    Write(dir_.File("base/target-final.json"), EvalJson(0.2, 1, 4));
    WriteRun(dir_.File("runs/grpo/seed-1"), {{0, 0.2}, {2, 0.4}, {4, 0.5}}, {{2, 0.9}, {4, 0.85}},
             0.85, 0, 120);
    WriteRun(dir_.File("runs/grpo/seed-2"), {{0, 0.2}, {2, 0.8}, {4, 0.7}}, {{2, 0.8}, {4, 0.75}},
             0.75, 0.25, 180);
    WriteRun(dir_.File("runs/chord-phi/seed-1"), {{0, 0.2}, {2, 0.5}, {4, 0.9}},
             {{2, 0.9}, {4, 0.9}}, 0.9, 0.5, 60);
    // An unfinished run (no `done`): left out and counted.
    Write(dir_.File("runs/chord-phi/seed-2/events.jsonl"), Events({{0, 0.2}}));
    options_.runs_dir = dir_.File("runs");
    options_.base_dir = dir_.File("base");
    options_.arms_file = dir_.File("arms.txt");
    options_.out_dir = dir_.File("out");
  }

  testing::TempDir dir_;
  ReportOptions options_;
};

TEST(SpreadTest, MeanSampleStdAndRange) {
  Spread s = SpreadOf({0.5, 0.7, 0.9});
  EXPECT_EQ(s.n, 3);
  EXPECT_DOUBLE_EQ(s.mean, 0.7);
  EXPECT_NEAR(s.std, 0.2, 1e-12);  // sqrt((0.04 + 0 + 0.04) / 2)
  EXPECT_DOUBLE_EQ(s.min, 0.5);
  EXPECT_DOUBLE_EQ(s.max, 0.9);
  Spread one = SpreadOf({0.25});
  EXPECT_EQ(one.std, 0);
  EXPECT_EQ(one.mean, 0.25);
  EXPECT_EQ(SpreadOf({}).n, 0);
}

TEST(SpreadTest, CurvesAreMergedByStep) {
  SpreadCurve c = SpreadOfCurves({{{0, 0.2}, {2, 0.4}}, {{0, 0.2}, {2, 0.8}, {3, 1.0}}});
  ASSERT_EQ(c.steps, (std::vector<int64_t>{0, 2, 3}));
  EXPECT_DOUBLE_EQ(c.values[1].mean, 0.6);
  EXPECT_DOUBLE_EQ(c.values[1].min, 0.4);
  EXPECT_DOUBLE_EQ(c.values[1].max, 0.8);
  EXPECT_EQ(c.values[2].n, 1);
}

TEST_F(ReportTest, TabulatesEveryFinishedRunAndDrawsTheCurves) {
  absl::StatusOr<ReportSummary> summary = WriteReport(options_);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->runs, 3);
  EXPECT_EQ(summary->unfinished, 1);

  auto text = files::ReadFile(dir_.File("out/results.json"));
  ASSERT_TRUE(text.ok());
  json results = json::parse(*text);
  EXPECT_EQ(results["seeds"], 2);
  ASSERT_EQ(results["arms"].size(), 2u) << "sft has no runs and is left out";
  const json& grpo = results["arms"][0];
  EXPECT_EQ(grpo["name"], "grpo");
  EXPECT_DOUBLE_EQ(grpo["target_final"]["mean"].get<double>(), 0.6);
  EXPECT_NEAR(grpo["target_final"]["std"].get<double>(), 0.141421356, 1e-8);
  EXPECT_DOUBLE_EQ(grpo["target_best"]["mean"].get<double>(), 0.65);  // best of 0.5 and 0.8
  EXPECT_DOUBLE_EQ(grpo["base_final"]["min"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(grpo["long_form_target"]["mean"].get<double>(), 0.125);
  EXPECT_DOUBLE_EQ(grpo["minutes"]["mean"].get<double>(), 2.5);
  // The base curve starts at the base model's accuracy on the base task.
  EXPECT_EQ(grpo["runs"][0]["base_curve"][0], json::array({0, 0.9}));
  EXPECT_EQ(results["arms"][1]["runs"].size(), 1u);
  EXPECT_DOUBLE_EQ(results["base_model"]["target_accuracy"].get<double>(), 0.2);

  auto md = files::ReadFile(dir_.File("out/results.md"));
  ASSERT_TRUE(md.ok());
  EXPECT_NE(md->find("| GRPO only | 60.0 ± 14.1 (50.0-70.0) | 65.0 ± 21.2 (50.0-80.0) | "
                     "80.0 ± 7.1 (75.0-85.0) | 12.5 / 0.0 | 2.5 |"),
            std::string::npos)
      << *md;
  EXPECT_NE(md->find("| CHORD-phi (1 seed) | 90.0 | 90.0 | 90.0 | 50.0 / 0.0 | 1.0 |"),
            std::string::npos)
      << *md;
  EXPECT_NE(md->find("| base model (start of every arm) | 20.0 | | 90.0 | 25.0 / 0.0 | |"),
            std::string::npos)
      << *md;
  EXPECT_NE(md->find("1 unfinished run folder(s) were left out."), std::string::npos);

  absl::StatusOr<testing::PngSummary> png = testing::ReadPngSummary(dir_.File("out/curves.png"));
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->width, 1400);
  EXPECT_EQ(png->height, 560);
  EXPECT_GT(png->distinct_colors, 10);
  EXPECT_GT(png->non_background_share, 0.02);
}

TEST_F(ReportTest, ReplacesOnlyTheResultsBlockOfThePage) {
  const std::string before = "# Experiments\n\nProse before.\n\n";
  const std::string after = "\n\nProse after.\n";
  Write(dir_.File("docs/experiments.md"),
        absl::StrCat(before, kDocBegin, "\nold table\n", kDocEnd, after));
  options_.doc_file = dir_.File("docs/experiments.md");
  options_.doc_images_dir = dir_.File("docs/experiments");
  Write(dir_.File("info.txt"), "profile: full\nload at start: 0.10 0.20 0.30\n");
  options_.run_info_file = dir_.File("info.txt");
  ASSERT_TRUE(WriteReport(options_).ok());
  auto page = files::ReadFile(options_.doc_file);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->substr(0, before.size()), before);
  EXPECT_EQ(page->substr(page->size() - after.size() - strlen(kDocEnd)),
            absl::StrCat(kDocEnd, after));
  EXPECT_EQ(page->find("old table"), std::string::npos);
  EXPECT_NE(page->find("](experiments/curves.png)"), std::string::npos) << *page;
  EXPECT_NE(page->find("load at start: 0.10 0.20 0.30"), std::string::npos);
  EXPECT_TRUE(testing::ReadPngSummary(dir_.File("docs/experiments/curves.png")).ok());
  // Twice gives the same page: the block is found again and replaced.
  std::string first = *page;
  ASSERT_TRUE(WriteReport(options_).ok());
  EXPECT_EQ(*files::ReadFile(options_.doc_file), first);
}

TEST_F(ReportTest, APageWithoutTheBlockIsLeftUntouched) {
  Write(dir_.File("page.md"), "# no markers\n");
  options_.doc_file = dir_.File("page.md");
  absl::Status status = WriteReport(options_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("page.md"), absl::string_view::npos);
  EXPECT_EQ(*files::ReadFile(dir_.File("page.md")), "# no markers\n");
}

TEST_F(ReportTest, BadRecordsNameTheFileAndLine) {
  Write(dir_.File("runs/grpo/seed-1/events.jsonl"),
        absl::StrCat(Events({{0, 0.2}}), "{not json\n"));
  absl::Status status = WriteReport(options_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("runs/grpo/seed-1/events.jsonl:3: not JSON"),
            absl::string_view::npos)
      << status;

  Write(dir_.File("runs/grpo/seed-1/events.jsonl"), Events({{0, 0.2}}));
  Write(dir_.File("runs/grpo/seed-1/base-eval.jsonl"), "{\"step\":2,\"eval\":{}}\n");
  status = WriteReport(options_).status();
  EXPECT_NE(status.message().find("base-eval.jsonl:1: accuracy: missing or not a number"),
            absl::string_view::npos)
      << status;
}

TEST_F(ReportTest, NoFinishedRunIsAnError) {
  fs::remove_all(dir_.File("runs"));
  fs::create_directories(dir_.File("runs"));
  EXPECT_EQ(WriteReport(options_).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ArmsTest, MalformedLinesNameTheFileAndLine) {
  testing::TempDir dir;
  Write(dir.File("arms.txt"), "a|A|x=1\nb only two|fields\n");
  absl::Status status = ReadArms(dir.File("arms.txt")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("arms.txt:2: expected NAME|LABEL|OVERRIDES"),
            absl::string_view::npos)
      << status;
  Write(dir.File("arms.txt"), "a|A|x=1\na|again|\n");
  status = ReadArms(dir.File("arms.txt")).status();
  EXPECT_NE(status.message().find("arms.txt:2: arm \"a\" given twice"), absl::string_view::npos)
      << status;
  auto arms = ReadArms(testing::SourcePath("tools/experiments/arms.txt"));
  ASSERT_TRUE(arms.ok()) << arms.status();
  ASSERT_EQ(arms->size(), 7u);
  EXPECT_EQ((*arms)[4].name, "chord-phi");
  EXPECT_EQ(ReadArms(dir.File("missing.txt")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace chord::experiments
