#include "tools/chordctl/training_plot.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "tests/support/child_process.h"
#include "tests/support/png_image.h"

namespace chord::chordctl {
namespace {

chord::v1::JobEvent Step(int64_t step, std::map<std::string, double> metrics) {
  chord::v1::JobEvent event;
  event.set_job_id("j1");
  event.set_type(chord::v1::JOB_EVENT_STEP);
  event.set_step(step);
  event.set_total_steps(6);
  for (const auto& [k, v] : metrics) (*event.mutable_metrics())[k] = v;
  return event;
}

chord::v1::JobEvent Eval(int64_t step, double accuracy) {
  chord::v1::JobEvent event = Step(step, {{"eval_accuracy", accuracy}, {"eval_samples", 8}});
  event.set_type(chord::v1::JOB_EVENT_EVAL);
  return event;
}

chord::v1::JobEvent Log(const std::string& message) {
  chord::v1::JobEvent event;
  event.set_job_id("j1");
  event.set_type(chord::v1::JOB_EVENT_LOG);
  event.set_message(message);
  return event;
}

// A job of 6 steps: 2 SFT warm-up steps (no reward), then 4 CHORD steps; it was resumed from a
// checkpoint at step 4, so step 5 appears twice.
std::vector<chord::v1::JobEvent> ResumedJob() {
  std::vector<chord::v1::JobEvent> events = {
      Eval(0, 0.0),
      Log("stage sft-warmup starts at step 1 (2 steps, plain SFT)"),
      Step(1, {{"loss", 2.0}, {"pg_loss", 0}, {"sft_loss", 2.0}, {"mu", 1.0}}),
      Step(2, {{"loss", 1.5}, {"pg_loss", 0}, {"sft_loss", 1.5}, {"mu", 1.0}}),
      Log("stage train starts at step 3 (4 steps)"),
      Step(
          3,
          {{"loss", 0.9}, {"pg_loss", 0.1}, {"sft_loss", 1.2}, {"mu", 0.1}, {"reward_mean", 0.25}}),
      Step(4,
           {{"loss", 0.8}, {"pg_loss", 0.1}, {"sft_loss", 1.1}, {"mu", 0.1}, {"reward_mean", 0.5}}),
      Eval(4, 0.25),
      Step(5,
           {{"loss", 0.7}, {"pg_loss", 0.1}, {"sft_loss", 1.0}, {"mu", 0.1}, {"reward_mean", 0.1}}),
      Log("learner restarted: resuming from the last checkpoint"),
      Step(
          5,
          {{"loss", 0.6}, {"pg_loss", 0.1}, {"sft_loss", 0.9}, {"mu", 0.1}, {"reward_mean", 0.75}}),
      Step(6, {{"loss", 0.5},
               {"pg_loss", 0.1},
               {"sft_loss", 0.8},
               {"mu", 0.1},
               {"reward_mean", 0.625}}),
      Eval(6, 0.5),
  };
  return events;
}

using Points = std::vector<std::pair<int64_t, double>>;

TEST(TrainingPlotTest, CurvesFromEventsKeepTheLatestValueOfEachStep) {
  TrainingCurves curves = CurvesFromEvents(ResumedJob());
  EXPECT_EQ(curves.job_id, "j1");
  EXPECT_EQ(curves.total_steps, 6);
  EXPECT_EQ(curves.reward, (Points{{3, 0.25}, {4, 0.5}, {5, 0.75}, {6, 0.625}}));
  EXPECT_EQ(curves.eval_accuracy, (Points{{0, 0.0}, {4, 0.25}, {6, 0.5}}));
  EXPECT_EQ(curves.mu, (Points{{1, 1.0}, {2, 1.0}, {3, 0.1}, {4, 0.1}, {5, 0.1}, {6, 0.1}}));
  EXPECT_EQ(curves.loss.size(), 6u);
  EXPECT_EQ(curves.loss[4], (std::pair<int64_t, double>{5, 0.6}));
  EXPECT_EQ(curves.sft_loss.size(), 6u);
  EXPECT_EQ(curves.pg_loss.size(), 6u);
  ASSERT_EQ(curves.stages.size(), 2u);
  EXPECT_EQ(curves.stages[0], (std::pair<int64_t, std::string>{1, "sft-warmup"}));
  EXPECT_EQ(curves.stages[1], (std::pair<int64_t, std::string>{3, "train"}));
}

TEST(TrainingPlotTest, ScriptDrawsFourPanelsWithStageBoundaries) {
  TrainingCurves curves = CurvesFromEvents(ResumedJob());
  curves.title = "tiny \"job\"";
  PlotOptions options;
  options.width = 800;
  options.height = 600;
  std::string script = GnuplotScript(curves, "/tmp/x.png", options);
  EXPECT_TRUE(absl::StrContains(script, "set terminal pngcairo size 800,600")) << script;
  EXPECT_TRUE(absl::StrContains(script, "set output \"/tmp/x.png\"")) << script;
  EXPECT_TRUE(
      absl::StrContains(script, "set multiplot layout 2,2 title \"Chord job tiny \\\"job\\\"\""))
      << script;
  EXPECT_TRUE(absl::StrContains(script, "set xrange [0:6]")) << script;
  // The boundary between the stages is a line at step 2.5; the first stage has only its label.
  EXPECT_TRUE(absl::StrContains(script, "set arrow 2 from 2.5, graph 0 to 2.5, graph 1 nohead"))
      << script;
  EXPECT_FALSE(absl::StrContains(script, "set arrow 1 ")) << script;
  EXPECT_TRUE(absl::StrContains(script, "set label 1 \"sft-warmup\" at 0.5, graph 0.97")) << script;
  EXPECT_TRUE(absl::StrContains(script, "$reward << EOD\n3 0.25\n4 0.5\n5 0.75\n6 0.625\nEOD\n"))
      << script;
  for (const char* title :
       {"Training reward", "Held-out accuracy", "mu (weight of the SFT term)", "Loss"}) {
    EXPECT_TRUE(absl::StrContains(script, absl::StrCat("set title \"", title, "\""))) << title;
  }
}

TEST(TrainingPlotTest, GnuplotDrawsAPictureOfTheRequestedSize) {
  testing::TempDir dir;
  const std::string png = dir.File("curves.png");
  PlotOptions options;
  options.width = 640;
  options.height = 480;
  absl::Status drawn = RunGnuplot("/usr/bin/gnuplot",
                                  GnuplotScript(CurvesFromEvents(ResumedJob()), png, options), png);
  ASSERT_TRUE(drawn.ok()) << drawn;
  absl::StatusOr<testing::PngSummary> image = testing::ReadPngSummary(png);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 640);
  EXPECT_EQ(image->height, 480);
  // Axes, grid, five curves and text in several colours on a white background.
  EXPECT_GT(image->distinct_colors, 20);
  EXPECT_GT(image->non_background_share, 0.01);
  EXPECT_LT(image->non_background_share, 0.8);
}

TEST(TrainingPlotTest, AJobWithoutStepsStillDrawsAndSaysSo) {
  testing::TempDir dir;
  const std::string png = dir.File("empty.png");
  TrainingCurves curves = CurvesFromEvents({Log("state RUNNING")});
  std::string script = GnuplotScript(curves, png, PlotOptions());
  EXPECT_TRUE(absl::StrContains(script, "no values in the job's events")) << script;
  ASSERT_TRUE(RunGnuplot("/usr/bin/gnuplot", script, png).ok());
  absl::StatusOr<testing::PngSummary> image = testing::ReadPngSummary(png);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 1200);
  EXPECT_EQ(image->height, 900);
}

TEST(TrainingPlotTest, GnuplotErrorsAreReported) {
  testing::TempDir dir;
  const std::string png = dir.File("x.png");
  absl::Status missing = RunGnuplot(dir.File("no-gnuplot"), "plot x\n", png);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_TRUE(absl::StrContains(missing.message(), "gnuplot-nox")) << missing;
  absl::Status bad =
      RunGnuplot("/usr/bin/gnuplot", "set output \"" + png + "\"\nplot $nothing\n", png);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInternal) << bad;
  EXPECT_TRUE(absl::StrContains(bad.message(), "gnuplot failed")) << bad;
}

TEST(TrainingPlotTest, ReadPngSummaryRejectsOtherFiles) {
  testing::TempDir dir;
  std::string path = dir.File("not.png");
  FILE* f = fopen(path.c_str(), "w");
  fputs("not a picture", f);
  fclose(f);
  EXPECT_EQ(testing::ReadPngSummary(path).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(testing::ReadPngSummary(dir.File("absent.png")).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace chord::chordctl
